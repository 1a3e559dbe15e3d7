using ProxyPlatform.Http;

namespace ProxyPlatform.ControlPlane.Hosting;

/// <summary>The control plane's settings, read from DESIGN.md's configuration keys.</summary>
public sealed record ControlPlaneOptions
{
    public required string PostgresConnectionString { get; init; }
    /// <summary>The REST admin listener (<c>Admin:Url</c>); port 0 lets the operating system choose, and the ready line says which.</summary>
    public Uri AdminUrl { get; init; } = new("http://127.0.0.1:5100");
    /// <summary>The gRPC listener (<c>Grpc:Url</c>); port 0 as for <see cref="AdminUrl"/>.</summary>
    public Uri GrpcUrl { get; init; } = new("http://127.0.0.1:5101");
    public string ClusterId { get; init; } = "proxyplatform";
    public string ServiceId { get; init; } = "proxyplatform";
    public int SiloPort { get; init; } = 11111;
    public int GatewayPort { get; init; } = 30000;
    /// <summary>The address other silos reach this one at; <c>hostname</c> resolves the machine's name.</summary>
    public string AdvertisedIP { get; init; } = "127.0.0.1";
    /// <summary>
    /// A worker heartbeats every 10 s (by default); one silent for this long is shown as
    /// disconnected even if its stream looks open (<c>DataPlanes:SilenceSeconds</c>, default 30).
    /// </summary>
    public TimeSpan WorkerSilence { get; init; } = TimeSpan.FromSeconds(30);
    public string? OperatorKey { get; init; }
    public string? DataPlaneToken { get; init; }

    public static ControlPlaneOptions From(IConfiguration configuration)
    {
        var connectionString = configuration.GetConnectionString("Postgres");
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new InvalidOperationException(
                "ConnectionStrings:Postgres is required (e.g. --ConnectionStrings:Postgres=\"Host=127.0.0.1;Port=5432;Username=postgres;Database=proxyplatform\").");
        var defaults = new ControlPlaneOptions { PostgresConnectionString = connectionString };
        return defaults with
        {
            AdminUrl = ListenerAddress.Parse(configuration, "Admin:Url", defaults.AdminUrl, https: true),
            GrpcUrl = ListenerAddress.Parse(configuration, "Grpc:Url", defaults.GrpcUrl, https: true),
            ClusterId = configuration["Orleans:ClusterId"] ?? defaults.ClusterId,
            ServiceId = configuration["Orleans:ServiceId"] ?? defaults.ServiceId,
            SiloPort = configuration.GetValue("Orleans:SiloPort", defaults.SiloPort),
            GatewayPort = configuration.GetValue("Orleans:GatewayPort", defaults.GatewayPort),
            AdvertisedIP = configuration["Orleans:AdvertisedIP"] ?? defaults.AdvertisedIP,
            WorkerSilence = TimeSpan.FromSeconds(configuration.GetValue("DataPlanes:SilenceSeconds", defaults.WorkerSilence.TotalSeconds)),
            OperatorKey = Blank(configuration["Auth:OperatorKey"]),
            DataPlaneToken = Blank(configuration["Auth:DataPlaneToken"]),
        };
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
