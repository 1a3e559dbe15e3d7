using ProxyPlatform.Resources;
using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Configuration;
using ProxyPlatform.Protos.DataPlane;

namespace ProxyPlatform.DataPlane.Health;

/// <summary>
/// This worker's view of one backend from its active probes: Unknown until the first probe, Passing
/// after a pass (after <c>healthyThreshold</c> passes in a row once it was Failing), Failing after
/// <c>unhealthyThreshold</c> failures in a row.
/// </summary>
public sealed class BackendProbe(ResourceKey cluster, string backend, string address, HealthCheckSpec spec)
{
    private readonly Lock _gate = new();
    private ProbeState _state;
    private int _passes, _failures;
    private DateTimeOffset _since = DateTimeOffset.UtcNow;
    private double _latencyMs;
    private string _reason = "";

    public ResourceKey Cluster { get; } = cluster;
    public string Backend { get; } = backend;
    public string Address { get; } = address;
    public HealthCheckSpec Spec { get; } = spec;
    /// <summary>The cluster's TLS settings, which the probe connects under; null: .NET's defaults.</summary>
    public BackendTlsSpec? Tls { get; init; }
    public Uri Target { get; } = new(address.TrimEnd('/') + spec.Path);
    public StatusRanges Expected { get; } = StatusRanges.TryParse(spec.ExpectedStatus, out var ranges) ? ranges : throw new ArgumentException($"expectedStatus '{spec.ExpectedStatus}' is not valid.", nameof(spec));

    /// <summary>Counts a probe's outcome; true when it changed the view.</summary>
    public bool Record(bool passed, double latencyMs, string? reason)
    {
        lock (_gate)
        {
            _latencyMs = latencyMs;
            _reason = reason ?? "";
            var before = _state;
            if (passed)
            {
                _failures = 0;
                _passes++;
                if (_state == ProbeState.Unknown || (_state == ProbeState.Failing && _passes >= Spec.HealthyThreshold))
                    _state = ProbeState.Passing;
            }
            else
            {
                _passes = 0;
                _failures++;
                if (_state != ProbeState.Failing && _failures >= Spec.UnhealthyThreshold)
                    _state = ProbeState.Failing;
            }
            if (_state == before)
                return false;
            _since = DateTimeOffset.UtcNow;
            return true;
        }
    }

    public BackendHealthView View()
    {
        lock (_gate)
        {
            return new BackendHealthView
            {
                Backend = Backend,
                State = _state,
                SinceUnixMs = _since.ToUnixTimeMilliseconds(),
                LatencyMs = _latencyMs,
                Reason = _reason,
            };
        }
    }
}
