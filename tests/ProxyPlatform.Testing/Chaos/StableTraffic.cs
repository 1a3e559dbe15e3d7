using System.Collections.Concurrent;
using System.Diagnostics;

namespace ProxyPlatform.Testing.Chaos;

/// <summary>
/// Steady client load on a route that no one changes, through each of a set of workers, at a paced
/// rate; every answer that is not a 200 (or no answer at all) is a failed request, kept with the
/// moment it happened, so a chaos scenario can count the failures before and after an event.
/// A worker can be taken out of the rotation while it is deliberately down (<see cref="Pause"/>).
/// </summary>
public sealed class StableTraffic : IAsyncDisposable
{
    private const int MaxKeptFailures = 20;

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, HttpClient> _clients = new();
    private readonly ConcurrentDictionary<Worker, bool> _paused = new();
    private readonly ConcurrentQueue<TimeSpan> _failureTimes = new();
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly List<Task> _loops = [];
    private long _sent;
    private long _failed;

    private StableTraffic()
    {
    }

    /// <summary>Requests sent so far (answered or not).</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Requests that were not answered 200.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>The first failures, described (status and body, or the exception).</summary>
    public IReadOnlyCollection<string> FirstFailures => _failures.ToArray();

    /// <summary>Time since the load started: the clock of <see cref="FailedAfter"/>.</summary>
    public TimeSpan Now => _clock.Elapsed;

    /// <summary>When the last failure happened (on <see cref="Now"/>'s clock), or null when none did.</summary>
    public TimeSpan? LastFailure => _failureTimes.IsEmpty ? null : _failureTimes.Max();

    /// <param name="requestsPerSecond">The total rate, shared evenly by the workers.</param>
    /// <param name="loopsPerWorker">Requests in flight per worker at most.</param>
    public static StableTraffic Start(IReadOnlyList<Worker> workers, string host, string path, int requestsPerSecond, int loopsPerWorker = 4)
    {
        var traffic = new StableTraffic();
        var interval = TimeSpan.FromSeconds((double)workers.Count * loopsPerWorker / requestsPerSecond);
        foreach (var worker in workers)
            for (var i = 0; i < loopsPerWorker; i++)
                traffic._loops.Add(Task.Run(() => traffic.LoopAsync(worker, host, path, interval)));
        return traffic;
    }

    /// <summary>Failures that happened after <paramref name="moment"/> (on <see cref="Now"/>'s clock).</summary>
    public long FailedAfter(TimeSpan moment) => _failureTimes.Count(t => t > moment);

    /// <summary>Sends nothing more through <paramref name="worker"/> until <see cref="Resume"/>; requests in flight finish.</summary>
    public void Pause(Worker worker) => _paused[worker] = true;

    public void Resume(Worker worker) => _paused.TryRemove(worker, out _);

    /// <summary>Waits until at least <paramref name="requests"/> requests have been sent in all.</summary>
    public Task WaitForMoreAsync(long requests) =>
        Eventually.Async(() => Sent >= requests, TimeSpan.FromMinutes(2), () => $"only {Sent} of {requests} requests sent");

    private async Task LoopAsync(Worker worker, string host, string path, TimeSpan interval)
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            var started = _clock.Elapsed;
            if (!_paused.ContainsKey(worker))
                await SendAsync(worker, host, path, token);
            var rest = interval - (_clock.Elapsed - started);
            try
            {
                if (rest > TimeSpan.Zero)
                    await Task.Delay(rest, token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task SendAsync(Worker worker, string host, string path, CancellationToken token)
    {
        string proxyUrl;
        try
        {
            proxyUrl = worker.ProxyUrl;
        }
        catch (InvalidOperationException)
        {
            return;
        }
        var client = _clients.GetOrAdd(proxyUrl, url => new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(5) })
        {
            BaseAddress = new Uri(url),
            Timeout = TimeSpan.FromSeconds(30),
        });
        Interlocked.Increment(ref _sent);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Host = host;
            using var response = await client.SendAsync(request, token);
            if ((int)response.StatusCode != 200)
                Fail($"{worker.Id}: {(int)response.StatusCode} {Truncate(await response.Content.ReadAsStringAsync(token))}");
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            Interlocked.Decrement(ref _sent);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            Fail($"{worker.Id}: {e.GetType().Name}: {e.Message}");
        }
    }

    private void Fail(string description)
    {
        Interlocked.Increment(ref _failed);
        _failureTimes.Enqueue(_clock.Elapsed);
        if (_failures.Count < MaxKeptFailures)
            _failures.Enqueue($"{_clock.Elapsed.TotalSeconds:0.0} s {description}");
    }

    private static string Truncate(string text) => text.Length <= 300 ? text : text[..300] + "...";

    /// <summary>Stops the load and waits for the requests in flight.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
            await _stop.CancelAsync();
        await Task.WhenAll(_loops);
        foreach (var client in _clients.Values)
            client.Dispose();
        _stop.Dispose();
    }
}
