using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.DataPlane.Routing;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>
/// Keeps a request body so that a retry can send it again: read whole before the first attempt
/// (in memory up to 64 KiB, in a temporary file beyond), and rewound before each further one.
/// Only bodies whose length is known and within the cluster's <c>retry.maxBufferedBodyBytes</c> are kept.
/// </summary>
public static class BodyReplay
{
    private const int InMemoryBytes = 64 * 1024;

    /// <summary>True when the request has a body: a Content-Length above 0, or a body the server expects (chunked).</summary>
    public static bool HasBody(HttpContext context)
    {
        var request = context.Request;
        if (request.ContentLength is { } length)
            return length > 0;
        return context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? false;
    }

    /// <summary>
    /// Reads the body into a buffer and rewinds it. When it cannot be read whole the answer is
    /// written here (413 past the route's limit, 400 for a body that ended early) and the result is false.
    /// </summary>
    public static async Task<bool> TryBufferAsync(HttpContext context, CompiledRoute route, ClusterRuntime cluster, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var length = request.ContentLength ?? 0;
        request.EnableBuffering(bufferThreshold: (int)Math.Min(length, InMemoryBytes), bufferLimit: length);
        try
        {
            await request.Body.DrainAsync(cancellationToken);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await Problem.BodyTooLarge(route.MaxRequestBodyBytes ?? length).WriteAsync(context, route);
            return false;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or BadHttpRequestException)
        {
            if (!context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted)
                await Problem.UnreadableBody.WriteAsync(context, route, cluster);
            return false;
        }
        request.Body.Position = 0;
        return true;
    }

    /// <summary>Rewinds a kept body for the next attempt; a body that was not kept cannot be, and is left alone.</summary>
    public static void Rewind(HttpRequest request)
    {
        if (request.Body.CanSeek)
            request.Body.Position = 0;
    }
}
