using ProxyPlatform.Ctl.Http;
using ProxyPlatform.Ctl.Login;

namespace ProxyPlatform.Ctl;

/// <summary>One run of ppctl: its console, its login file, and the client it makes when a command first needs one.</summary>
public sealed class Session(CtlConsole console) : IDisposable
{
    private HttpClient? _http;

    public CtlConsole Console => console;
    public TextWriter Out => console.Out;
    public TextWriter Error => console.Error;
    public LoginFile LoginFile { get; } = new(console);

    /// <summary>The admin API, reached as <c>PPCTL_URL</c>/<c>PPCTL_KEY</c> or the login file say.</summary>
    public ControlPlaneClient Client()
    {
        _http ??= ControlPlaneClient.HttpClientFor(LoginFile.Resolve());
        return new ControlPlaneClient(_http);
    }

    public void Dispose() => _http?.Dispose();
}
