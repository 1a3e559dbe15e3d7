using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Net.Http.Headers;

namespace ProxyPlatform.ControlPlane.WebConsole;

/// <summary>
/// The web console (<c>/ui</c>): a static single-page app embedded in this assembly (WebConsole/web and the
/// npm packages the build copies next to it), served on the admin listener without credentials. The
/// page holds no data: it asks the same <c>/v1</c> API for everything with the key the user typed in,
/// so the key's rights are the console's rights.
/// <para>
/// Assets live under <c>/ui/assets/{hash}/</c>, where the hash covers every embedded file: they are
/// cached for a year (immutable), and a new build is a new address. The page itself, <c>/ui</c>, is
/// never cached and names the current hash.
/// </para>
/// </summary>
public sealed class ConsoleAssets
{
    public const string Prefix = "/ui";

    /// <summary>
    /// Scripts and styles from this origin only, nothing inline, no frames, no plugins; the API is
    /// reached on the same origin. Chart.js draws on canvas and sets element styles through the
    /// CSSOM, which style-src does not restrict.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private readonly FrozenDictionary<string, Asset> _assets;
    private readonly byte[] _index;

    public string Hash { get; }

    private sealed record Asset(byte[] Content, string ContentType, string ETag);

    public ConsoleAssets()
    {
        var assembly = typeof(ConsoleAssets).Assembly;
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith("ui/", StringComparison.Ordinal))
                continue;
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            files[name["ui/".Length..].Replace('\\', '/')] = copy.ToArray();
        }
        if (!files.ContainsKey("index.html"))
            throw new InvalidOperationException("The console's index.html is not embedded in the control plane: the build did not include WebConsole/web.");

        using (var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            foreach (var (path, content) in files)
            {
                sha.AppendData(Encoding.UTF8.GetBytes(path));
                sha.AppendData(SHA256.HashData(content));
            }
            Hash = Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
        }
        var assetsBase = $"{Prefix}/assets/{Hash}";
        _index = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(files["index.html"]).Replace("__ASSETS__", assetsBase, StringComparison.Ordinal));
        _assets = files.Where(f => f.Key != "index.html").ToFrozenDictionary(
            f => f.Key,
            f => new Asset(f.Value, ContentTypeOf(f.Key), $"\"{Convert.ToHexStringLower(SHA256.HashData(f.Value))[..16]}\""),
            StringComparer.Ordinal);
    }

    public static string ContentTypeOf(string path) => Path.GetExtension(path) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" or ".mjs" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        ".ico" => "image/x-icon",
        ".json" => "application/json",
        _ => "text/plain; charset=utf-8",
    };

    private static void Harden(HttpResponse response)
    {
        var headers = response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
    }

    /// <summary>The page: not cached, so a new build's assets are picked up on the next load.</summary>
    public IResult Index(HttpContext context)
    {
        Harden(context.Response);
        context.Response.Headers.CacheControl = "no-cache, no-store";
        return Results.Bytes(_index, "text/html; charset=utf-8");
    }

    /// <summary>An asset of this build (immutable for a year); of another build, or unknown: 404.</summary>
    public IResult Get(HttpContext context, string hash, string path)
    {
        Harden(context.Response);
        if (!string.Equals(hash, Hash, StringComparison.Ordinal) || !_assets.TryGetValue(path, out var asset))
        {
            context.Response.Headers.CacheControl = "no-store";
            return Results.Text("Not found", "text/plain", statusCode: StatusCodes.Status404NotFound);
        }
        context.Response.Headers.CacheControl = "public, max-age=31536000, immutable";
        context.Response.Headers.ETag = asset.ETag;
        if (context.Request.Headers.IfNoneMatch.ToString() == asset.ETag)
            return Results.StatusCode(StatusCodes.Status304NotModified);
        return Results.Bytes(asset.Content, asset.ContentType);
    }
}

public static class ConsoleEndpoints
{
    /// <summary>
    /// <c>/ui</c> and its assets, anonymous (the only anonymous paths of the admin listener besides
    /// the OpenAPI document): they hold no data and no secret.
    /// </summary>
    public static RouteGroupBuilder MapConsole(this IEndpointRouteBuilder app)
    {
        var assets = app.ServiceProvider.GetRequiredService<ConsoleAssets>();
        var ui = app.MapGroup(ConsoleAssets.Prefix).AllowAnonymous();
        ui.MapGet("", assets.Index);
        ui.MapGet("/assets/{hash}/{**path}", (HttpContext c, string hash, string path) => assets.Get(c, hash, path));
        return ui;
    }
}
