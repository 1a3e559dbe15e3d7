using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace ProxyPlatform.Testing.Chaos;

/// <summary>
/// Steady admin writes during a chaos scenario: each write adds a route of its own
/// (<c>PUT /v1/tenants/{tenant}/routes/w-N</c>, path <c>/w/N/</c>) through the silos in turn, at a
/// paced rate. Every acknowledgement (a 2xx with its revision) is recorded; <see cref="VerifyAsync"/>
/// then requires each acknowledged route in the tenant's configuration and served by every worker.
/// Every other answer is counted by kind: a 503 problem+json (nothing was acknowledged, as the
/// platform promises while a node or the database is down) apart from any other 5xx, a node that
/// refused the connection, and a request left unanswered past <see cref="Timeout"/>.
/// </summary>
public sealed class AdminWrites : IAsyncDisposable
{
    /// <summary>
    /// How long a write may take before it counts as hung: the control plane answers within its grain
    /// call time-out (10 s) even when the database is gone, and this leaves room for a busy machine.
    /// </summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(25);

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop = new();
    private readonly Platform _platform;
    private readonly string _tenant;
    private readonly string _cluster;
    private readonly HttpClient[] _clients;
    private readonly ConcurrentDictionary<string, long> _acknowledged = new();
    private readonly ConcurrentQueue<string> _unexpected = new();
    private readonly SemaphoreSlim _inFlight;
    private readonly List<Task> _writes = [];
    private Task? _loop;
    private int _next;
    private long _unavailable;
    private long _serverErrors;
    private long _otherAnswers;
    private long _refused;
    private long _hung;
    // Ticks of the clock at the latest acknowledgement; -1 before the first. Written by many writes at once.
    private long _lastAcknowledgement = -1;

    private AdminWrites(Platform platform, string tenant, string cluster, int maxInFlight)
    {
        _platform = platform;
        _tenant = tenant;
        _cluster = cluster;
        _inFlight = new SemaphoreSlim(maxInFlight);
        _clients = platform.Silos.Select(silo =>
        {
            var client = new HttpClient { BaseAddress = new Uri(silo.AdminUrl), Timeout = Timeout };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.OperatorKey);
            return client;
        }).ToArray();
    }

    /// <summary>Writes sent so far.</summary>
    public int Sent => Volatile.Read(ref _next);

    /// <summary>Writes acknowledged (2xx with a revision).</summary>
    public int Acknowledged => _acknowledged.Count;

    /// <summary>503 problem+json answers: nothing acknowledged, retry.</summary>
    public long Unavailable => Interlocked.Read(ref _unavailable);

    /// <summary>5xx answers other than a 503 problem+json (e.g. a 500): never expected.</summary>
    public long ServerErrors => Interlocked.Read(ref _serverErrors);

    /// <summary>Answers that were neither 2xx nor 5xx (a 4xx): never expected, the writes are valid.</summary>
    public long OtherAnswers => Interlocked.Read(ref _otherAnswers);

    /// <summary>Writes whose connection was refused or broken: a node that is down.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Writes left unanswered past <see cref="Timeout"/>: never expected.</summary>
    public long Hung => Interlocked.Read(ref _hung);

    /// <summary>The first unexpected answers (5xx other than 503 problem+json, 4xx, hangs), described.</summary>
    public IReadOnlyCollection<string> Unexpected => _unexpected.ToArray();

    /// <summary>The highest revision acknowledged so far (0 when none).</summary>
    public long HighestRevision => _acknowledged.IsEmpty ? 0 : _acknowledged.Values.Max();

    /// <summary>Time since the writes started: the clock of <see cref="LastAcknowledgement"/>.</summary>
    public TimeSpan Now => _clock.Elapsed;

    /// <summary>When the latest acknowledgement arrived, on <see cref="Now"/>'s clock.</summary>
    public TimeSpan? LastAcknowledgement => Interlocked.Read(ref _lastAcknowledgement) is var ticks and >= 0 ? TimeSpan.FromTicks(ticks) : null;

    /// <summary>The host name a chaos tenant claims (<see cref="CreateTenantAsync"/>).</summary>
    public static string HostOf(string tenant) => $"{tenant}.chaos.test";

    /// <summary>
    /// Creates <paramref name="tenant"/> claiming <see cref="HostOf"/> with a cluster <c>web</c> of the given backends
    /// (<paramref name="clusterSpec"/> its settings, round robin when null); returns the revision of the last write.
    /// </summary>
    public static async Task<long> CreateTenantAsync(Platform platform, string tenant, IEnumerable<(string Name, string Address)> backends, object? clusterSpec = null)
    {
        await platform.PutOkAsync($"/v1/tenants/{tenant}", new { displayName = tenant, hostnames = new[] { HostOf(tenant) } });
        var revision = await platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web", clusterSpec ?? new { loadBalancing = "RoundRobin" });
        foreach (var (name, address) in backends)
            revision = await platform.PutOkAsync($"/v1/tenants/{tenant}/clusters/web/backends/{name}", new { address });
        return revision;
    }

    /// <summary>Starts writing routes of <paramref name="tenant"/> to its cluster <paramref name="cluster"/> at <paramref name="writesPerSecond"/>.</summary>
    public static AdminWrites Start(Platform platform, string tenant, string cluster, int writesPerSecond, int maxInFlight = 32)
    {
        var writes = new AdminWrites(platform, tenant, cluster, maxInFlight);
        writes._loop = Task.Run(() => writes.LoopAsync(TimeSpan.FromSeconds(1.0 / writesPerSecond)));
        return writes;
    }

    private async Task LoopAsync(TimeSpan interval)
    {
        var token = _stop.Token;
        var due = _clock.Elapsed;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await _inFlight.WaitAsync(token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var n = Interlocked.Increment(ref _next);
            var write = Task.Run(async () =>
            {
                try
                {
                    await WriteAsync(n);
                }
                finally
                {
                    _inFlight.Release();
                }
            });
            lock (_writes)
                _writes.Add(write);
            due += interval;
            var rest = due - _clock.Elapsed;
            try
            {
                if (rest > TimeSpan.Zero)
                    await Task.Delay(rest, token);
                else if (rest < -TimeSpan.FromSeconds(1))
                    due = _clock.Elapsed; // fallen behind (writes were slow): no burst to catch up
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task WriteAsync(int n)
    {
        var id = $"w-{n}";
        var client = _clients[n % _clients.Length];
        var body = JsonSerializer.Serialize(new { match = new { pathPrefix = $"/w/{n}/" }, cluster = _cluster });
        try
        {
            using var response = await client.PutAsync($"/v1/tenants/{_tenant}/routes/{id}", new StringContent(body, Encoding.UTF8, "application/json"));
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode && response.Headers.TryGetValues("X-Config-Revision", out var values))
            {
                _acknowledged[id] = long.Parse(values.Single(), System.Globalization.CultureInfo.InvariantCulture);
                var now = _clock.Elapsed.Ticks;
                long seen;
                while ((seen = Interlocked.Read(ref _lastAcknowledgement)) < now && Interlocked.CompareExchange(ref _lastAcknowledgement, now, seen) != seen)
                {
                }
                return;
            }
            var text = await response.Content.ReadAsStringAsync();
            var problem = response.Content.Headers.ContentType?.MediaType == "application/problem+json";
            if (status == 503 && problem)
                Interlocked.Increment(ref _unavailable);
            else if (status >= 500)
                Record(ref _serverErrors, $"PUT {id}: {status} {text}");
            else
                Record(ref _otherAnswers, $"PUT {id}: {status} {text}");
        }
        catch (TaskCanceledException)
        {
            Record(ref _hung, $"PUT {id}: no answer within {Timeout.TotalSeconds:0} s");
        }
        catch (HttpRequestException)
        {
            Interlocked.Increment(ref _refused);
        }
    }

    private void Record(ref long counter, string description)
    {
        Interlocked.Increment(ref counter);
        if (_unexpected.Count < 20)
            _unexpected.Enqueue($"{_clock.Elapsed.TotalSeconds:0.0} s {description}");
    }

    /// <summary>Stops writing and waits for the writes in flight to be answered.</summary>
    public async Task StopAsync()
    {
        if (!_stop.IsCancellationRequested)
            await _stop.CancelAsync();
        if (_loop is not null)
            await _loop;
        Task[] writes;
        lock (_writes)
            writes = [.. _writes];
        await Task.WhenAll(writes);
    }

    /// <summary>
    /// Counts the acknowledged writes that were lost: absent from the tenant's configuration as read
    /// from a silo that answers, or not served by a worker once it has applied the highest acknowledged
    /// revision (a GET of the route's path through it must reach a backend). Call after <see cref="StopAsync"/>.
    /// </summary>
    public async Task<LostWrites> VerifyAsync(IReadOnlyList<Worker> workers, TimeSpan patience)
    {
        var configured = new HashSet<string>();
        var attempt = 0;
        string? after = null;
        do
        {
            var page = await Eventually.Succeeds(async () =>
            {
                // Whichever silo is still up: the scenario may have killed any of them.
                var admin = _clients[attempt++ % _clients.Length];
                var url = $"/v1/tenants/{_tenant}/routes?limit=1000" + (after is null ? "" : $"&after={Uri.EscapeDataString(after)}");
                using var response = await admin.GetAsync(url);
                response.EnsureSuccessStatusCode();
                return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            }, patience);
            using (page)
            {
                foreach (var item in page.RootElement.GetProperty("items").EnumerateArray())
                    configured.Add(item.GetProperty("id").GetString()!);
                after = page.RootElement.TryGetProperty("next", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
            }
        } while (after is not null);

        var missing = _acknowledged.Keys.Where(id => !configured.Contains(id)).Order().ToList();
        var highest = HighestRevision;
        var notServed = new ConcurrentBag<string>();
        foreach (var worker in workers)
        {
            await worker.WaitForRevisionAsync(highest, patience);
            using var client = new HttpClient { BaseAddress = new Uri(worker.ProxyUrl), Timeout = TimeSpan.FromSeconds(30) };
            await Parallel.ForEachAsync(_acknowledged.Keys, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (id, token) =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"/w/{id[2..]}/probe");
                request.Headers.Host = HostOf(_tenant);
                using var response = await client.SendAsync(request, token);
                if (response.StatusCode != HttpStatusCode.OK)
                    notServed.Add($"{worker.Id}:{id}:{(int)response.StatusCode}");
            });
        }
        return new LostWrites(missing, [.. notServed.Order()]);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        foreach (var client in _clients)
            client.Dispose();
        _stop.Dispose();
        _inFlight.Dispose();
    }
}

/// <summary>Acknowledged writes that did not survive: absent from the configuration, or not served by a worker (<c>worker:route:status</c>).</summary>
public sealed record LostWrites(IReadOnlyList<string> Missing, IReadOnlyList<string> NotServed)
{
    /// <summary>Acknowledged writes lost anywhere (a write missing from the configuration counts once).</summary>
    public int Count => Missing.Count + NotServed.Select(n => n.Split(':')[1]).Distinct().Count(id => !Missing.Contains(id));
}
