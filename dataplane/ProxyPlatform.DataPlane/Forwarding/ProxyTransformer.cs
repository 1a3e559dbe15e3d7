using System.Collections.Frozen;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using ProxyPlatform.DataPlane.Metrics;
using ProxyPlatform.DataPlane.Pipeline;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyPlatform.DataPlane.Forwarding;

/// <summary>
/// How a request and its response cross the worker: hop-by-hop headers (and every header a
/// <c>Connection</c> header names) stay behind in both directions, <c>X-Forwarded-*</c>, <c>Via</c>
/// and the hop count are the worker's own, and the response loses <c>Server</c>,
/// <c>X-Powered-By</c> and the configured headers. A response whose status the cluster retries is
/// not passed on, so that the request can go to another backend.
/// </summary>
public sealed class ProxyTransformer(ProxyOptions options) : HttpTransformer
{
    /// <summary>Hop-by-hop headers (RFC 9110 §7.6.1) and the other headers that only describe one connection.</summary>
    private static readonly FrozenSet<string> HopByHop = new[]
    {
        HeaderNames.Connection, HeaderNames.KeepAlive, HeaderNames.ProxyConnection, HeaderNames.ProxyAuthenticate,
        HeaderNames.ProxyAuthorization, "Proxy-Authentication-Info", "Proxy-Features", "Proxy-Instruction",
        HeaderNames.TE, HeaderNames.Trailer, HeaderNames.TransferEncoding, HeaderNames.Upgrade, "HTTP2-Settings",
        "Close", "ALPN", "Security-Scheme", HeaderNames.AltSvc,
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>Request headers the worker writes itself, so a client's copies are never passed on as they are.</summary>
    private static readonly FrozenSet<string> Owned = new[]
    {
        HeaderNames.Host, ForwardedHeaders.For, ForwardedHeaders.Proto, ForwardedHeaders.Host, ForwardedHeaders.RealIp,
        HeaderNames.Via, LoopDetection.HopsHeader,
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private readonly FrozenSet<string> _strippedResponseHeaders = options.StripResponseHeaders.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    public override ValueTask TransformRequestAsync(HttpContext context, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        var exchange = context.Features.Get<ProxyExchange>()!;
        var request = context.Request;
        var named = ConnectionTokens(request.Headers.Connection);
        foreach (var (name, values) in request.Headers)
        {
            if (name.StartsWith(':') || HopByHop.Contains(name) || Owned.Contains(name) || (named is not null && named.Contains(name, StringComparer.OrdinalIgnoreCase)))
                continue;
            AddHeader(proxyRequest, name, values);
        }

        // gRPC over HTTP/2 needs "TE: trailers", the one TE value HTTP/2 allows.
        if (request.Protocol == "HTTP/2" && request.Headers.TE.ToString().Contains("trailers", StringComparison.OrdinalIgnoreCase))
            proxyRequest.Headers.TryAddWithoutValidation(HeaderNames.TE, "trailers");
        // A body framed both ways is a smuggling attempt's shape: Transfer-Encoding wins and Content-Length goes (RFC 9112 §6.3).
        if (request.Headers.ContainsKey(HeaderNames.TransferEncoding) && request.Headers.ContainsKey(HeaderNames.ContentLength))
            proxyRequest.Content?.Headers.Remove(HeaderNames.ContentLength);

        var forwarded = exchange.Forwarded;
        proxyRequest.Headers.TryAddWithoutValidation(ForwardedHeaders.For, forwarded.For);
        proxyRequest.Headers.TryAddWithoutValidation(ForwardedHeaders.Proto, forwarded.Proto);
        if (forwarded.Host is not null)
            proxyRequest.Headers.TryAddWithoutValidation(ForwardedHeaders.Host, forwarded.Host);
        proxyRequest.Headers.TryAddWithoutValidation(ForwardedHeaders.RealIp, forwarded.RealIp);
        LoopDetection.Mark(request, proxyRequest, options.InstanceName);

        // Off by default: the backend gets its own host name, as nginx and Kong send it.
        if (exchange.Route.PreserveHost && request.Host.HasValue)
            proxyRequest.Headers.Host = request.Host.Value;
        proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, exchange.Route.BackendPath(request.Path), request.QueryString);
        return default;
    }

    public override ValueTask<bool> TransformResponseAsync(HttpContext context, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        if (proxyResponse is null)
            return new ValueTask<bool>(false);
        var exchange = context.Features.Get<ProxyExchange>()!;
        exchange.ResponseHeadersReceived();
        var status = (int)proxyResponse.StatusCode;
        exchange.BackendStatus = status;
        if (exchange.MayRetryOnStatus && exchange.Cluster.Retry.RetriesStatus(status))
        {
            // Nothing of this answer has reached the client: drop it and try another backend.
            exchange.RetryStatus = status;
            return new ValueTask<bool>(false);
        }

        // An answer passed on without a Content-Length (chunked, SSE) is counted as it is written.
        if (context.Response.Body is not CountingStream && status != StatusCodes.Status101SwitchingProtocols
            && proxyResponse.Content?.Headers.NonValidated.Contains(HeaderNames.ContentLength) != true)
            context.Response.Body = new CountingStream(context.Response.Body);

        var headers = context.Response.Headers;
        var named = proxyResponse.Headers.NonValidated.TryGetValues(HeaderNames.Connection, out var connection)
            ? ConnectionTokens(new StringValues([.. connection]))
            : null;
        CopyResponseHeaders(proxyResponse.Headers, headers, named);
        if (proxyResponse.Content is not null)
            CopyResponseHeaders(proxyResponse.Content.Headers, headers, named);
        if (proxyResponse.Content is not null
            && proxyResponse.Headers.NonValidated.Contains(HeaderNames.TransferEncoding)
            && proxyResponse.Content.Headers.NonValidated.Contains(HeaderNames.ContentLength))
            headers.Remove(HeaderNames.ContentLength);
        if (status is 204 or 205 or (>= 100 and < 200) && headers.ContentLength == 0)
            headers.Remove(HeaderNames.ContentLength);

        // The route's HSTS replaces the backend's, over https only (RFC 6797 §7.2).
        if (exchange.Route.Hsts is { } hsts && context.Request.IsHttps)
            headers.StrictTransportSecurity = hsts;
        if (exchange.Cluster.Affinity is { } affinity && exchange.Backend is { } backend)
            affinity.WriteKey(headers, backend, exchange.AffinityKey);
        return new ValueTask<bool>(true);
    }

    public override ValueTask TransformResponseTrailersAsync(HttpContext context, HttpResponseMessage proxyResponse, CancellationToken cancellationToken)
    {
        var trailers = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseTrailersFeature>()?.Trailers;
        if (trailers is not null && !trailers.IsReadOnly)
            CopyResponseHeaders(proxyResponse.TrailingHeaders, trailers, named: null);
        return default;
    }

    private void CopyResponseHeaders(HttpHeaders source, IHeaderDictionary destination, string[]? named)
    {
        foreach (var (name, values) in source.NonValidated)
        {
            if (HopByHop.Contains(name) || _strippedResponseHeaders.Contains(name) || (named is not null && named.Contains(name, StringComparer.OrdinalIgnoreCase)))
                continue;
            var value = values.Count == 1 ? new StringValues(values.ToString()) : new StringValues([.. values]);
            var current = destination[name];
            destination[name] = current.Count == 0 ? value : StringValues.Concat(current, value);
        }
    }

    private static void AddHeader(HttpRequestMessage request, string name, StringValues values)
    {
        if (values.Count == 1)
        {
            var value = values.ToString();
            if (!request.Headers.TryAddWithoutValidation(name, value))
                request.Content?.Headers.TryAddWithoutValidation(name, value);
            return;
        }
        if (!request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            request.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
    }

    /// <summary>The header names a <c>Connection</c> header lists (other than its own options), or null when there are none.</summary>
    private static string[]? ConnectionTokens(StringValues connection)
    {
        if (connection.Count == 0)
            return null;
        List<string>? names = null;
        foreach (var value in connection)
        {
            foreach (var token in (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (token.Equals("keep-alive", StringComparison.OrdinalIgnoreCase) || token.Equals("close", StringComparison.OrdinalIgnoreCase))
                    continue;
                (names ??= []).Add(token);
            }
        }
        return names?.ToArray();
    }
}
