using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ProxyPlatform.ControlPlane.Tests.Scaling;

/// <summary>One answer of the recorded API server: what it expects next, and the body it answers (a file of RecordedApiServer/).</summary>
public sealed record RecordedAnswer(string Method, string Path, int Status, string File);

/// <summary>A request the provider made, as the server received it.</summary>
public sealed record RecordedRequest(string Method, string PathAndQuery, string? ContentType, string Body);

/// <summary>
/// A loopback HTTP server that replays recorded Kubernetes API server answers in order and records each
/// request. A request that is not the one expected next is answered 500 and recorded, so the test's
/// assertions on <see cref="Requests"/> name it.
/// </summary>
public sealed class RecordedApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<RecordedAnswer> _answers;

    private RecordedApiServer(WebApplication app, IEnumerable<RecordedAnswer> answers)
    {
        _app = app;
        _answers = new ConcurrentQueue<RecordedAnswer>(answers);
    }

    public string Url { get; private set; } = "";

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    /// <summary>Answers not asked for yet.</summary>
    public int Unused => _answers.Count;

    public static async Task<RecordedApiServer> StartAsync(params RecordedAnswer[] answers)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var server = new RecordedApiServer(app, answers);
        app.Run(server.AnswerAsync);
        await app.StartAsync();
        server.Url = app.Urls.Single();
        return server;
    }

    private async Task AnswerAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var request = new RecordedRequest(context.Request.Method, context.Request.Path + context.Request.QueryString, context.Request.ContentType, body);
        Requests.Enqueue(request);
        if (!_answers.TryDequeue(out var answer) || answer.Method != request.Method || answer.Path != context.Request.Path)
        {
            context.Response.StatusCode = 500;
            await context.Response.WriteAsync($"unexpected {request.Method} {request.PathAndQuery}; expected {answer}");
            return;
        }
        context.Response.StatusCode = answer.Status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Scaling", "RecordedApiServer", answer.File)));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
