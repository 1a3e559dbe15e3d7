using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;

namespace ProxyPlatform.Http;

/// <summary>
/// Where one of a process's Kestrel listeners answers. It is configured from an <c>http://</c> or
/// <c>https://</c> URL naming an IP address, <c>localhost</c> or <c>0.0.0.0</c> (any address) and a
/// port, which may be 0: the operating system then picks a free port when the server starts, Kestrel
/// writes the endpoint it bound back into the listener's <see cref="ListenOptions"/>, and this reads it
/// from there. An <c>https://</c> listener takes its certificate from Kestrel's standard configuration
/// (<c>Kestrel:Certificates:Default</c>). One rule for the control plane's and the workers' listeners.
/// </summary>
public sealed class ListenerAddress(Uri configured)
{
    /// <summary>The listener URL under <paramref name="key"/>, or <paramref name="fallback"/> when it is not set.</summary>
    /// <param name="https">Whether the listener may be an <c>https://</c> one.</param>
    /// <exception cref="InvalidOperationException">The value is not a listener URL; the message says what is expected.</exception>
    public static Uri Parse(IConfiguration configuration, string key, Uri fallback, bool https = false)
    {
        var value = configuration[key]?.Trim();
        if (string.IsNullOrEmpty(value))
            return fallback;
        var schemes = https ? "an http:// or https://" : "an http://";
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && !(https && uri.Scheme == Uri.UriSchemeHttps))
            || uri.Port < 0 || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
            throw new InvalidOperationException($"{key} must be {schemes} URL with a host and a port (0: any free port), e.g. {fallback}; got '{value}'.");
        if (uri.Host != "localhost" && uri.HostNameType is not (UriHostNameType.IPv4 or UriHostNameType.IPv6))
            throw new InvalidOperationException($"{key} must name an IP address, localhost or 0.0.0.0 (any address); got '{value}'.");
        return uri;
    }

    /// <summary>True when the listener is reachable from this machine only.</summary>
    public static bool IsLoopback(Uri url) =>
        url.Host == "localhost" || IPAddress.TryParse(url.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address);

    private ListenOptions? _listen;

    /// <summary>The URL from configuration (its port may be 0).</summary>
    public Uri Configured { get; } = configured;

    /// <summary>The port connections arrive on: the bound one once the server has started, the configured one before.</summary>
    public int Port => _listen?.IPEndPoint is { Port: > 0 } bound ? bound.Port : Configured.Port;

    /// <summary>The configured URL with the bound port, without a trailing slash (<c>http://127.0.0.1:41234</c>).</summary>
    public string Url => $"{Configured.Scheme}://{Configured.Host}:{Port}";

    /// <summary>
    /// Binds this listener in <paramref name="kestrel"/> for <paramref name="protocols"/>, with TLS when its
    /// URL is https: set up by <paramref name="useHttps"/> when given (the worker's per-SNI certificates),
    /// else from Kestrel's configuration.
    /// </summary>
    public void Listen(KestrelServerOptions kestrel, HttpProtocols protocols, Action<ListenOptions>? useHttps = null)
    {
        var url = Configured;
        Action<ListenOptions> configure = listen =>
        {
            listen.Protocols = protocols;
            if (url.Scheme == Uri.UriSchemeHttps)
            {
                if (useHttps is null)
                    listen.UseHttps();
                else
                    useHttps(listen);
            }
            _listen = listen;
        };
        switch (url.Host)
        {
            // Kestrel binds localhost on IPv4 and IPv6 with one port, which it cannot choose by itself.
            case "localhost" when url.Port == 0:
                kestrel.Listen(IPAddress.Loopback, 0, configure);
                break;
            case "localhost":
                kestrel.ListenLocalhost(url.Port, configure);
                break;
            case "0.0.0.0":
                kestrel.ListenAnyIP(url.Port, configure);
                break;
            default:
                kestrel.Listen(IPAddress.Parse(url.Host.Trim('[', ']')), url.Port, configure);
                break;
        }
    }

    public override string ToString() => Url;
}
