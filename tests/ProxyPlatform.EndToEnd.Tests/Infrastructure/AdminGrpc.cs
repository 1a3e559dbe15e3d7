using Grpc.Core;
using Grpc.Net.Client;
using ProxyPlatform.Testing;

namespace ProxyPlatform.EndToEnd.Tests.Infrastructure;

/// <summary>Channels to a silo's gRPC admin API that present a key in the <c>authorization</c> metadata of every call.</summary>
public static class AdminGrpc
{
    /// <summary>A channel presenting <paramref name="key"/> (the platform's operator key when null; nothing when empty).</summary>
    public static GrpcChannel Channel(Platform platform, string? key = null, int silo = 0)
    {
        key ??= platform.OperatorKey;
        var options = new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler() };
        if (key.Length > 0)
        {
            // Over cleartext (loopback) gRPC sends call credentials only when told it may.
            options.Credentials = ChannelCredentials.Create(ChannelCredentials.Insecure,
                CallCredentials.FromInterceptor((_, metadata) =>
                {
                    metadata.Add("authorization", $"Bearer {key}");
                    return Task.CompletedTask;
                }));
            options.UnsafeUseInsecureChannelCallCredentials = true;
        }
        return GrpcChannel.ForAddress(platform.Silos[silo].GrpcUrl, options);
    }
}
