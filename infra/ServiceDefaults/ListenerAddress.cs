using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace ProxyPlatform.Http;

/// <summary>
/// Where one of a process's Kestrel listeners answers. It is configured from an <c>http://</c> URL
/// whose port may be 0, in which case the operating system picks a free port when the server starts;
/// Kestrel writes the endpoint it bound back into the listener's <see cref="ListenOptions"/>, and this
/// reads it from there. One rule for the control plane's and the workers' listeners.
/// </summary>
public sealed class ListenerAddress(Uri configured)
{
    private ListenOptions? _listen;

    /// <summary>The URL from configuration (its port may be 0).</summary>
    public Uri Configured { get; } = configured;

    /// <summary>The port connections arrive on: the bound one once the server has started, the configured one before.</summary>
    public int Port => _listen?.IPEndPoint is { Port: > 0 } bound ? bound.Port : Configured.Port;

    /// <summary>The configured URL with the bound port, without a trailing slash (<c>http://127.0.0.1:41234</c>).</summary>
    public string Url => $"{Configured.Scheme}://{Configured.Host}:{Port}";

    /// <summary>Called from Kestrel's configuration of this listener, so the bound endpoint can be read back.</summary>
    public void Attach(ListenOptions listen) => _listen = listen;

    public override string ToString() => Url;
}
