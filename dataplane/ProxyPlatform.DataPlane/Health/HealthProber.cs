using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.DataPlane.Hosting;
using ProxyPlatform.DataPlane.Clusters;
using ProxyPlatform.Resources;

namespace ProxyPlatform.DataPlane.Health;

/// <summary>
/// Probes the enabled backends of every cluster with a health check in the configuration this worker
/// serves. Each backend has its own loop, started at a random offset within the interval so that a
/// cluster's probes spread over it rather than leave together. The set of loops follows the
/// configuration: a new backend or cluster starts probing, a removed, disabled or re-addressed one
/// stops, and a changed health check restarts its backends' loops, without restarting the worker.
/// A cluster with <c>tls</c> settings is probed under them (its CA, server name, client certificate),
/// each of its backends on a connection pool of its own, as its requests are.
/// </summary>
public sealed class HealthProber(ConfigApplier applier, HealthViews views, BackendConnector connector, ILogger<HealthProber> logger) : BackgroundService
{
    private static readonly TimeSpan FollowPeriod = TimeSpan.FromMilliseconds(200);
    private readonly Dictionary<(ResourceKey Cluster, string Backend), (BackendProbe Probe, CancellationTokenSource Stop)> _loops = [];
    private HttpMessageInvoker _client = null!;

    private static SocketsHttpHandler Handler() => new()
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        ActivityHeadersPropagator = null,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
    };

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Off the start-up path: the listeners open without waiting for the probes to be set up.
        await Task.Yield();
        var handler = Handler();
        // The forwarder's connector: probes bind where requests bind and address only what requests may.
        handler.ConnectCallback = connector.ConnectAsync;
        using var client = _client = new HttpMessageInvoker(handler, disposeHandler: true);
        ConfigSnapshot? followed = null;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var current = applier.Current;
                if (current is not null && !ReferenceEquals(current, followed))
                {
                    Follow(current, stoppingToken);
                    followed = current;
                }
                await Task.Delay(FollowPeriod, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            foreach (var (_, stop) in _loops.Values)
                stop.Cancel();
        }
    }

    private void Follow(ConfigSnapshot snapshot, CancellationToken stoppingToken)
    {
        var wanted = new Dictionary<(ResourceKey, string), (string Address, HealthCheckSpec Spec, BackendTlsSpec? Tls)>();
        foreach (var (id, cluster) in snapshot.Clusters)
        {
            if (cluster.Spec.Spec?.HealthCheck is not { } check || !StatusRanges.TryParse(check.ExpectedStatus, out _))
                continue;
            foreach (var (backendId, backend) in cluster.Spec.Backends)
            {
                if (backend.Enabled && backend.Weight > 0)
                    wanted[(id, backendId)] = (backend.Address, check, cluster.Spec.Spec?.Tls);
            }
        }
        foreach (var (key, (probe, stop)) in _loops.ToList())
        {
            if (wanted.TryGetValue(key, out var target) && target.Address == probe.Address && target.Spec == probe.Spec && target.Tls == probe.Tls)
                continue;
            stop.Cancel();
            _loops.Remove(key);
            views.Remove(probe);
        }
        foreach (var (key, (address, spec, tls)) in wanted)
        {
            if (_loops.ContainsKey(key))
                continue;
            var probe = new BackendProbe(key.Item1, key.Item2, address, spec) { Tls = tls };
            var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            _loops[key] = (probe, stop);
            views.Add(probe);
            _ = ProbeLoopAsync(probe, stop.Token);
        }
        views.Clusters(snapshot.Clusters.Keys);
    }

    private async Task ProbeLoopAsync(BackendProbe probe, CancellationToken stop)
    {
        var interval = TimeSpan.FromSeconds(probe.Spec.IntervalSeconds);
        // Under the cluster's TLS settings, the probe has connections of its own; else it shares the prober's.
        using var own = probe.Tls is { } tls ? new HttpMessageInvoker(WithTls(Handler(), tls, probe.Cluster.Tenant), disposeHandler: true) : null;
        var client = own ?? _client;
        try
        {
            await Task.Delay(interval * Random.Shared.NextDouble(), stop);
            using var timer = new PeriodicTimer(interval);
            do
            {
                var (passed, latencyMs, reason) = await ProbeAsync(probe, client, stop);
                if (probe.Record(passed, latencyMs, reason))
                {
                    logger.LogInformation("Backend {Backend} of cluster {Cluster} is {State} for this worker ({Reason})",
                        probe.Backend, probe.Cluster, passed ? "passing" : "failing", reason ?? "probe passed");
                    views.Changed(probe.Cluster);
                }
            }
            while (await timer.WaitForNextTickAsync(stop));
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private SocketsHttpHandler WithTls(SocketsHttpHandler handler, BackendTlsSpec tls, string tenant)
    {
        handler.ConnectCallback = new BackendTls(tls, tenant, connector).ConnectAsync;
        return handler;
    }

    private static async Task<(bool Passed, double LatencyMs, string? Reason)> ProbeAsync(BackendProbe probe, HttpMessageInvoker client, CancellationToken stop)
    {
        var started = Stopwatch.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(TimeSpan.FromSeconds(probe.Spec.TimeoutSeconds));
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, probe.Target);
            request.Headers.UserAgent.ParseAdd("proxyplatform-health/1");
            using var response = await client.SendAsync(request, timeout.Token);
            await response.Content.CopyToAsync(Stream.Null, timeout.Token);
            var latency = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var status = (int)response.StatusCode;
            return probe.Expected.Contains(status) ? (true, latency, null) : (false, latency, $"status {status}");
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            return (false, Stopwatch.GetElapsedTime(started).TotalMilliseconds, "time-out");
        }
        catch (HttpRequestException ex) when (Find<System.Security.Authentication.AuthenticationException>(ex) is { } tls)
        {
            return (false, Stopwatch.GetElapsedTime(started).TotalMilliseconds, $"TLS failure: {tls.Message}");
        }
        catch (HttpRequestException ex)
        {
            var reason = ex.HttpRequestError == HttpRequestError.ConnectionError || ex.InnerException is SocketException
                ? "connect failure"
                : "transport failure";
            return (false, Stopwatch.GetElapsedTime(started).TotalMilliseconds, reason);
        }
        catch (IOException)
        {
            return (false, Stopwatch.GetElapsedTime(started).TotalMilliseconds, "transport failure");
        }
    }

    private static T? Find<T>(Exception? exception) where T : Exception
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is T found)
                return found;
        }
        return null;
    }
}
