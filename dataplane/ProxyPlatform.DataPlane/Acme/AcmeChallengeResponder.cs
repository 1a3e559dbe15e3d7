using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Configuration;

namespace ProxyPlatform.DataPlane.Acme;

/// <summary>
/// Answers ACME HTTP-01 challenges (RFC 8555 §8.3) on the proxy listener:
/// <c>GET /.well-known/acme-challenge/{token}</c> for a host with a challenge in progress is answered with
/// its key authorization, from the applied configuration (<see cref="ConfigSnapshot.AcmeChallenges"/>).
/// Any other request, including one for a token this worker does not hold, goes on to the routes, so a
/// tenant that answers its own challenges behind the platform still can.
/// </summary>
public static class AcmeChallengeResponder
{
    public const string PathPrefix = "/.well-known/acme-challenge/";

    public static IApplicationBuilder UseAcmeChallenges(this IApplicationBuilder app)
    {
        var applier = app.ApplicationServices.GetRequiredService<ConfigApplier>();
        return app.Use(async (context, next) =>
        {
            if (Find(applier.Current, context.Request) is { } keyAuthorization)
            {
                context.Response.StatusCode = StatusCodes.Status200OK;
                context.Response.ContentType = "text/plain";
                context.Response.Headers.CacheControl = "no-store";
                await context.Response.WriteAsync(keyAuthorization, context.RequestAborted);
                return;
            }
            await next(context);
        });
    }

    /// <summary>The key authorization that answers the request, or null when it is not a challenge this configuration holds.</summary>
    public static string? Find(ConfigSnapshot? snapshot, HttpRequest request)
    {
        if (snapshot is null || snapshot.AcmeChallenges.Count == 0 || !HttpMethods.IsGet(request.Method)
            || request.Path.Value is not { } path || !path.StartsWith(PathPrefix, StringComparison.Ordinal))
            return null;
        var token = path[PathPrefix.Length..];
        var host = HostNames.Normalize(request.Host.Host);
        foreach (var (_, challenges) in snapshot.AcmeChallenges)
        {
            foreach (var challenge in challenges.Spec.Challenges)
            {
                if (challenge.Token == token && challenge.Host == host)
                    return challenge.KeyAuthorization;
            }
        }
        return null;
    }
}
