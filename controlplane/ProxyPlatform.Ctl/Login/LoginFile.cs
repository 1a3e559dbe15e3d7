using System.Text.Json;
using System.Text.Json.Serialization;

namespace ProxyPlatform.Ctl.Login;

/// <summary>Where ppctl finds the control plane and the key to present.</summary>
public sealed record Connection
{
    public required Uri Url { get; init; }
    public required string Key { get; init; }
}

/// <summary>
/// The per-user file <c>ppctl login</c> writes: <c>$XDG_CONFIG_HOME/ppctl/config.json</c>, else
/// <c>~/.config/ppctl/config.json</c>. It holds a secret, so the file is created with mode 0600 and its
/// folders with 0700, and it is replaced whole (written beside it, then renamed), never rewritten in place.
/// </summary>
public sealed class LoginFile(CtlConsole console)
{
    private const UnixFileMode OwnerFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public string Path
    {
        get
        {
            var configHome = console.Variable("XDG_CONFIG_HOME");
            if (string.IsNullOrEmpty(configHome))
            {
                var home = console.Variable("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
                configHome = System.IO.Path.Combine(home, ".config");
            }
            return System.IO.Path.Combine(configHome, "ppctl", "config.json");
        }
    }

    /// <summary>
    /// The connection to use: <c>PPCTL_URL</c> and <c>PPCTL_KEY</c> when set (each overrides the file's
    /// value on its own), else the file's.
    /// </summary>
    public Connection Resolve()
    {
        var saved = Read();
        var url = console.Variable("PPCTL_URL") is { Length: > 0 } u ? u : saved?.Url;
        var key = console.Variable("PPCTL_KEY") is { Length: > 0 } k ? k : saved?.Key;
        if (url is null || key is null)
            throw new CommandFailedException($"no control plane to talk to: run 'ppctl login --url URL --key KEY', or set PPCTL_URL and PPCTL_KEY (looked for {Path}).");
        try
        {
            return new Connection { Url = ParseUrl(url, "PPCTL_URL"), Key = key };
        }
        catch (UsageException ex)
        {
            throw new CommandFailedException(ex.Message);
        }
    }

    public static Uri ParseUrl(string text, string what)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            throw new UsageException($"{what}: '{text}' is not an http:// or https:// URL.");
        return url;
    }

    public void Write(Connection connection)
    {
        var path = Path;
        var folder = System.IO.Path.GetDirectoryName(path)!;
        if (OperatingSystem.IsWindows())
            Directory.CreateDirectory(folder);
        else
            Directory.CreateDirectory(folder, OwnerFolder);

        var temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = OwnerFile;
        try
        {
            using (var stream = new FileStream(temporary, options))
                JsonSerializer.Serialize(stream, new Saved { Url = connection.Url.ToString(), Key = connection.Key }, Json);
            // The umask may have taken bits away; it cannot have added any, but say exactly what is meant.
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(temporary, OwnerFile);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private Saved? Read()
    {
        var path = Path;
        if (!File.Exists(path))
            return null;
        try
        {
            return JsonSerializer.Deserialize<Saved>(File.ReadAllText(path), Json);
        }
        catch (JsonException ex)
        {
            throw new CommandFailedException($"{path} is not a file ppctl login wrote ({ex.Message}); run ppctl login again.");
        }
    }

    private sealed record Saved
    {
        [JsonPropertyName("url")]
        public string? Url { get; init; }
        [JsonPropertyName("key")]
        public string? Key { get; init; }
    }
}
