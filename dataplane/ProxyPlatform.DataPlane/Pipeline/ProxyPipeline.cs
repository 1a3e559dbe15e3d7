using Microsoft.AspNetCore.Http.Timeouts;
using ProxyPlatform.DataPlane.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyPlatform.DataPlane.Pipeline;

/// <summary>The proxy listener's endpoints: YARP's routes, and a problem+json answer where they do not reach.</summary>
public static class ProxyPipeline
{
    public static IEndpointRouteBuilder MapProxy(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapReverseProxy(proxy =>
        {
            proxy.Use(WriteForwarderProblemAsync);
            proxy.UseSessionAffinity();
            proxy.UseLoadBalancing();
            proxy.UsePassiveHealthChecks();
        });

        // Fallbacks have the last order, so any YARP route that matches wins over this one.
        var applier = endpoints.ServiceProvider.GetRequiredService<ConfigApplier>();
        endpoints.MapFallback("{**path}", context => applier.Current is null
            ? NoConfigurationAsync(context)
            : Problems.WriteAsync(context, StatusCodes.Status404NotFound, "no-route", "No route matches this request",
                $"No route of this worker matches {context.Request.Method} {context.Request.Host}{context.Request.Path}."));
        return endpoints;
    }

    private static Task NoConfigurationAsync(HttpContext context)
    {
        context.Response.Headers.RetryAfter = "1";
        return Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "no-configuration", "No configuration yet",
            "This worker has not received a configuration from the control plane yet; retry shortly.");
    }

    /// <summary>YARP reports a failed forward by a status code alone; give it a body that says what failed.</summary>
    private static async Task WriteForwarderProblemAsync(HttpContext context, Func<Task> next)
    {
        await next();
        if (context.Features.Get<IForwarderErrorFeature>() is not { } failure || context.Response.HasStarted)
            return;
        // A route's time-out cancels the request's token, which YARP reports as a cancelled request
        // (400); to the client it is the backend that did not answer in time.
        var timedOut = context.Features.Get<IHttpRequestTimeoutFeature>()?.RequestTimeoutToken.IsCancellationRequested == true;
        if (context.RequestAborted.IsCancellationRequested && !timedOut)
            return;

        // Client-facing text names no cluster or backend: the request ID ties it to the worker's log.
        var status = timedOut ? StatusCodes.Status504GatewayTimeout : context.Response.StatusCode;
        if (status < 400)
            return;
        var (type, title, detail) = failure.Error switch
        {
            _ when timedOut || failure.Error == ForwarderError.RequestTimedOut => ("backend-timeout", "The backend did not answer in time",
                "The backend did not answer before the route's or the cluster's time-out."),
            ForwarderError.NoAvailableDestinations => ("no-backend", "No backend is available",
                "The route's cluster has no enabled, healthy backend to send this request to."),
            ForwarderError.Request or ForwarderError.RequestCreation or ForwarderError.ResponseHeaders => ("backend-unreachable", "The backend could not be reached",
                "The request could not be forwarded to the backend, or the backend gave no valid answer."),
            _ when status < 500 => ("bad-request", "The request could not be forwarded",
                $"The request could not be forwarded ({failure.Error})."),
            _ => ("backend-error", "The backend failed", $"Forwarding to the backend failed ({failure.Error})."),
        };
        await Problems.WriteAsync(context, status, type, title, detail);
    }
}
