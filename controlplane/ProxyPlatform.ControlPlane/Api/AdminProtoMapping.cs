using Google.Protobuf.Collections;
using ProxyPlatform.Configuration;
using AdminPb = ProxyPlatform.Protos.Admin;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>
/// The one mapping between the gRPC admin messages and the configuration model. Absent proto
/// fields take the model's defaults, exactly as absent JSON fields do over REST.
/// </summary>
public static class AdminProtoMapping
{
    public static TenantSpec? ToModel(this AdminPb.TenantSpec? pb) => pb is null ? null : new TenantSpec
    {
        DisplayName = pb.DisplayName.Length == 0 ? null : pb.DisplayName,
        Hostnames = [.. pb.Hostnames],
        Pool = pb.Pool.Length == 0 ? Pools.Default : pb.Pool,
        Quotas = pb.Quotas is not { } q ? null : new TenantQuotas
        {
            MaxRoutes = q.HasMaxRoutes ? q.MaxRoutes : null,
            MaxClusters = q.HasMaxClusters ? q.MaxClusters : null,
            MaxBackends = q.HasMaxBackends ? q.MaxBackends : null,
            MaxHostnames = q.HasMaxHostnames ? q.MaxHostnames : null,
            MaxRequestBodyBytes = q.HasMaxRequestBodyBytes ? q.MaxRequestBodyBytes : null,
        },
    };

    public static AdminPb.TenantSpec ToProto(this TenantSpec spec)
    {
        var pb = new AdminPb.TenantSpec { DisplayName = spec.DisplayName ?? "", Pool = spec.Pool };
        pb.Hostnames.AddRange(spec.Hostnames);
        if (spec.Quotas is { } q)
        {
            pb.Quotas = new AdminPb.TenantQuotas();
            if (q.MaxRoutes is { } routes)
                pb.Quotas.MaxRoutes = routes;
            if (q.MaxClusters is { } clusters)
                pb.Quotas.MaxClusters = clusters;
            if (q.MaxBackends is { } backends)
                pb.Quotas.MaxBackends = backends;
            if (q.MaxHostnames is { } hostnames)
                pb.Quotas.MaxHostnames = hostnames;
            if (q.MaxRequestBodyBytes is { } body)
                pb.Quotas.MaxRequestBodyBytes = body;
        }
        return pb;
    }

    public static PoolSpec? ToModel(this AdminPb.PoolSpec? pb) => pb is null ? null : new PoolSpec
    {
        Limits = pb.Limits is not { } l ? null : new PoolLimits
        {
            MaxRequestBodyBytes = l.HasMaxRequestBodyBytes ? l.MaxRequestBodyBytes : null,
            AllowedBackendNetworks = l.AllowedBackendNetworks is { } networks ? [.. networks.Cidrs] : null,
        },
        Replicas = pb.HasReplicas ? pb.Replicas : null,
        Autoscale = pb.Autoscale is not { } a ? null : new AutoscaleSpec
        {
            MinReplicas = a.MinReplicas,
            MaxReplicas = a.MaxReplicas,
            TargetRequestsPerSecondPerReplica = a.TargetRequestsPerSecondPerReplica,
        },
    };

    public static AdminPb.PoolSpec ToProto(this PoolSpec spec)
    {
        var pb = new AdminPb.PoolSpec();
        if (spec.Limits is { } l)
        {
            pb.Limits = new AdminPb.PoolLimits();
            if (l.MaxRequestBodyBytes is { } body)
                pb.Limits.MaxRequestBodyBytes = body;
            if (l.AllowedBackendNetworks is { } networks)
                pb.Limits.AllowedBackendNetworks = new AdminPb.Networks { Cidrs = { networks } };
        }
        if (spec.Replicas is { } replicas)
            pb.Replicas = replicas;
        if (spec.Autoscale is { } a)
            pb.Autoscale = new AdminPb.PoolAutoscale { MinReplicas = a.MinReplicas, MaxReplicas = a.MaxReplicas, TargetRequestsPerSecondPerReplica = a.TargetRequestsPerSecondPerReplica };
        return pb;
    }

    public static AdminPb.PoolReply ToReply(this PoolResource p) => new() { Pool = p.Pool, Spec = p.Spec.ToProto(), Meta = Meta(p.Revision) };

    public static AdminPb.PoolReply ToReply(this PoolView view)
    {
        var reply = view.Resource.ToReply();
        reply.Workers.AddRange(view.Replicas.Workers.Select(w => new AdminPb.PoolWorker
        {
            Id = w.Id, Connected = w.Connected, AppliedRevision = w.AppliedRevision, Node = w.Node ?? "",
            ProxyUrl = w.ProxyUrl ?? "", OpsUrl = w.OpsUrl ?? "", State = w.State, LagRevisions = w.LagRevisions,
        }));
        reply.Provider = view.Replicas.Provider;
        reply.ReadyReplicas = view.Replicas.Ready;
        reply.Drift = view.Replicas.Drift;
        return reply;
    }

    public static AdminPb.TenantReply ToReply(this TenantView view)
    {
        var reply = view.Resource.ToReply();
        foreach (var use in view.Usage)
        {
            var pb = new AdminPb.QuotaUse { Quota = use.Quota };
            if (use.Limit is { } limit)
                pb.Limit = limit;
            if (use.Use is { } used)
                pb.Use = used;
            reply.Usage.Add(pb);
        }
        reply.Conflicts.AddRange(view.Conflicts);
        return reply;
    }

    public static ClusterSpec? ToModel(this AdminPb.ClusterSpec? pb)
    {
        if (pb is null)
            return null;
        var defaults = new ClusterSpec();
        return new ClusterSpec
        {
            LoadBalancing = pb.LoadBalancing.Length == 0 ? defaults.LoadBalancing : pb.LoadBalancing,
            HealthCheck = pb.HealthCheck is not { } hc ? null : new HealthCheckSpec
            {
                Path = hc.Path.Length == 0 ? new HealthCheckSpec().Path : hc.Path,
                IntervalSeconds = hc.HasIntervalSeconds ? hc.IntervalSeconds : new HealthCheckSpec().IntervalSeconds,
                TimeoutSeconds = hc.HasTimeoutSeconds ? hc.TimeoutSeconds : new HealthCheckSpec().TimeoutSeconds,
                HealthyThreshold = hc.HasHealthyThreshold ? hc.HealthyThreshold : new HealthCheckSpec().HealthyThreshold,
                UnhealthyThreshold = hc.HasUnhealthyThreshold ? hc.UnhealthyThreshold : new HealthCheckSpec().UnhealthyThreshold,
                ExpectedStatus = hc.ExpectedStatus.Length == 0 ? new HealthCheckSpec().ExpectedStatus : hc.ExpectedStatus,
                Panic = hc.Panic,
            },
            Retry = pb.Retry is not { } r ? null : new RetrySpec
            {
                MaxAttempts = r.HasMaxAttempts ? r.MaxAttempts : new RetrySpec().MaxAttempts,
                RetryOn = r.RetryOn.Count == 0 ? new RetrySpec().RetryOn : [.. r.RetryOn],
                MaxBufferedBodyBytes = r.HasMaxBufferedBodyBytes ? r.MaxBufferedBodyBytes : new RetrySpec().MaxBufferedBodyBytes,
            },
            CircuitBreaker = pb.CircuitBreaker is not { } cb ? null : new CircuitBreakerSpec
            {
                ConsecutiveFailures = cb.HasConsecutiveFailures ? cb.ConsecutiveFailures : new CircuitBreakerSpec().ConsecutiveFailures,
                OpenSeconds = cb.HasOpenSeconds ? cb.OpenSeconds : new CircuitBreakerSpec().OpenSeconds,
            },
            Timeouts = pb.Timeouts is not { } t ? null : new TimeoutsSpec
            {
                ConnectSeconds = t.HasConnectSeconds ? t.ConnectSeconds : null,
                ResponseHeadersSeconds = t.HasResponseHeadersSeconds ? t.ResponseHeadersSeconds : null,
                IdleSeconds = t.HasIdleSeconds ? t.IdleSeconds : null,
            },
            SessionAffinity = pb.SessionAffinity is not { } a ? null : new SessionAffinitySpec
            {
                Mode = a.Mode.Length == 0 ? new SessionAffinitySpec().Mode : a.Mode,
                Name = a.Name.Length == 0 ? new SessionAffinitySpec().Name : a.Name,
            },
            Connections = pb.Connections is not { } c ? null : new ConnectionsSpec
            {
                MaxPerBackend = c.HasMaxPerBackend ? c.MaxPerBackend : null,
                IdleSeconds = c.HasIdleSeconds ? c.IdleSeconds : new ConnectionsSpec().IdleSeconds,
            },
            Tls = pb.Tls is not { } tls ? null : new BackendTlsSpec
            {
                CaPem = tls.CaPem.Length == 0 ? null : tls.CaPem,
                ServerName = tls.ServerName.Length == 0 ? null : tls.ServerName,
                InsecureSkipVerify = tls.InsecureSkipVerify,
                ClientCertificate = tls.ClientCertificate.Length == 0 ? null : tls.ClientCertificate,
            },
        };
    }

    public static AdminPb.ClusterSpec ToProto(this ClusterSpec spec)
    {
        var pb = new AdminPb.ClusterSpec { LoadBalancing = spec.LoadBalancing };
        if (spec.HealthCheck is { } hc)
        {
            pb.HealthCheck = new AdminPb.HealthCheck
            {
                Path = hc.Path, IntervalSeconds = hc.IntervalSeconds, TimeoutSeconds = hc.TimeoutSeconds,
                HealthyThreshold = hc.HealthyThreshold, UnhealthyThreshold = hc.UnhealthyThreshold,
                ExpectedStatus = hc.ExpectedStatus, Panic = hc.Panic,
            };
        }
        if (spec.Retry is { } r)
        {
            pb.Retry = new AdminPb.RetryPolicy { MaxAttempts = r.MaxAttempts, MaxBufferedBodyBytes = r.MaxBufferedBodyBytes };
            pb.Retry.RetryOn.AddRange(r.RetryOn);
        }
        if (spec.CircuitBreaker is { } cb)
            pb.CircuitBreaker = new AdminPb.CircuitBreaker { ConsecutiveFailures = cb.ConsecutiveFailures, OpenSeconds = cb.OpenSeconds };
        if (spec.Timeouts is { } t)
        {
            pb.Timeouts = new AdminPb.Timeouts();
            if (t.ConnectSeconds is { } connect)
                pb.Timeouts.ConnectSeconds = connect;
            if (t.ResponseHeadersSeconds is { } headers)
                pb.Timeouts.ResponseHeadersSeconds = headers;
            if (t.IdleSeconds is { } idle)
                pb.Timeouts.IdleSeconds = idle;
        }
        if (spec.SessionAffinity is { } affinity)
            pb.SessionAffinity = new AdminPb.SessionAffinity { Mode = affinity.Mode, Name = affinity.Name };
        if (spec.Connections is { } connections)
        {
            pb.Connections = new AdminPb.Connections { IdleSeconds = connections.IdleSeconds };
            if (connections.MaxPerBackend is { } max)
                pb.Connections.MaxPerBackend = max;
        }
        if (spec.Tls is { } tls)
            pb.Tls = new AdminPb.BackendTls { CaPem = tls.CaPem ?? "", ServerName = tls.ServerName ?? "", InsecureSkipVerify = tls.InsecureSkipVerify, ClientCertificate = tls.ClientCertificate ?? "" };
        return pb;
    }

    public static BackendSpec? ToModel(this AdminPb.BackendSpec? pb) => pb is null ? null : new BackendSpec
    {
        Address = pb.Address,
        Weight = pb.HasWeight ? pb.Weight : new BackendSpec().Weight,
        Enabled = !pb.HasEnabled || pb.Enabled,
    };

    public static AdminPb.BackendSpec ToProto(this BackendSpec spec) =>
        new() { Address = spec.Address, Weight = spec.Weight, Enabled = spec.Enabled };

    public static RouteSpec? ToModel(this AdminPb.RouteSpec? pb) => pb is null ? null : new RouteSpec
    {
        Match = pb.Match is not { } m ? new RouteMatchSpec() : new RouteMatchSpec
        {
            Hosts = [.. m.Hosts],
            PathPrefix = m.PathPrefix.Length == 0 ? new RouteMatchSpec().PathPrefix : m.PathPrefix,
            Methods = [.. m.Methods],
            Headers = m.Headers.ToDictionary(h => h.Key, h => h.Value),
        },
        Cluster = pb.Cluster,
        StripPrefix = pb.StripPrefix,
        PreserveHost = pb.PreserveHost,
        Priority = pb.Priority,
        TimeoutSeconds = pb.HasTimeoutSeconds ? pb.TimeoutSeconds : null,
        MaxRequestBodyBytes = pb.HasMaxRequestBodyBytes ? pb.MaxRequestBodyBytes : null,
        RateLimit = pb.RateLimit is not { } rl ? null : new RateLimitSpec
        {
            RequestsPerSecond = rl.RequestsPerSecond,
            Burst = rl.Burst,
            Key = rl.Key.Length == 0 ? new RateLimitSpec().Key : rl.Key,
        },
        HttpsRedirect = pb.HttpsRedirect,
        Hsts = pb.Hsts is not { } hsts ? null : new HstsSpec { MaxAgeSeconds = hsts.MaxAgeSeconds, IncludeSubDomains = hsts.IncludeSubDomains },
        AllowShadowed = pb.AllowShadowed,
    };

    public static AdminPb.RouteSpec ToProto(this RouteSpec spec)
    {
        var match = new AdminPb.RouteMatch { PathPrefix = spec.Match.PathPrefix };
        match.Hosts.AddRange(spec.Match.Hosts);
        match.Methods.AddRange(spec.Match.Methods);
        Add(match.Headers, spec.Match.Headers);
        var pb = new AdminPb.RouteSpec
        {
            Match = match, Cluster = spec.Cluster, StripPrefix = spec.StripPrefix, PreserveHost = spec.PreserveHost, Priority = spec.Priority,
            HttpsRedirect = spec.HttpsRedirect, AllowShadowed = spec.AllowShadowed,
        };
        if (spec.Hsts is { } hsts)
            pb.Hsts = new AdminPb.Hsts { MaxAgeSeconds = hsts.MaxAgeSeconds, IncludeSubDomains = hsts.IncludeSubDomains };
        if (spec.TimeoutSeconds is { } timeout)
            pb.TimeoutSeconds = timeout;
        if (spec.MaxRequestBodyBytes is { } max)
            pb.MaxRequestBodyBytes = max;
        if (spec.RateLimit is { } rl)
            pb.RateLimit = new AdminPb.RateLimit { RequestsPerSecond = rl.RequestsPerSecond, Burst = rl.Burst, Key = rl.Key };
        return pb;
    }

    public static CertificateSpec? ToModel(this AdminPb.CertificateSpec? pb) => pb is null ? null : new CertificateSpec
    {
        Certificate = pb.Certificate.Length == 0 ? null : pb.Certificate,
        PrivateKey = pb.PrivateKey.Length == 0 ? null : pb.PrivateKey,
        Acme = pb.Acme is { } acme ? new AcmeCertificateSpec { Hosts = [.. acme.Hosts] } : null,
    };

    /// <summary>A certificate's answer: its facts and ACME status, never its key.</summary>
    public static AdminPb.CertificateReply ToReply(this CertificateView v)
    {
        var reply = new AdminPb.CertificateReply { Tenant = v.Tenant, Certificate = v.Certificate, Meta = Meta(v.Revision) };
        if (v.Issued is { } issued)
        {
            reply.Names.AddRange(issued.Names);
            reply.Subject = issued.Subject;
            reply.Issuer = issued.Issuer;
            reply.NotBefore = Time(issued.NotBefore);
            reply.NotAfter = Time(issued.NotAfter);
            reply.Fingerprint = issued.Fingerprint;
        }
        if (v.Acme is { } acme)
        {
            reply.Acme = new AdminPb.AcmeStatus
            {
                State = acme.State,
                LastError = acme.LastError ?? "",
                LastErrorAt = Time(acme.LastErrorAt),
                NextAttemptAt = Time(acme.NextAttemptAt),
                RenewAt = Time(acme.RenewAt),
            };
            reply.Acme.Hosts.AddRange(acme.Hosts);
        }
        return reply;
    }

    private static string Time(DateTimeOffset? time) => time?.ToString("O", System.Globalization.CultureInfo.InvariantCulture) ?? "";

    public static AdminPb.ResourceMeta Meta(long revision) => new() { Revision = revision, Etag = ETags.Format(revision) };

    public static AdminPb.TenantReply ToReply(this TenantResource t) => new() { Tenant = t.Tenant, Spec = t.Spec.ToProto(), Meta = Meta(t.Revision) };
    public static AdminPb.ClusterReply ToReply(this ClusterResource c) =>
        new() { Tenant = c.Tenant, Cluster = c.Cluster, Spec = c.Spec.ToProto(), Meta = Meta(c.Revision) };
    public static AdminPb.BackendReply ToReply(this BackendResource b) =>
        new() { Tenant = b.Tenant, Cluster = b.Cluster, Backend = b.Backend, Spec = b.Spec.ToProto(), Meta = Meta(b.Revision), Health = "Unknown" };
    public static AdminPb.BackendReply ToReply(this BackendResource b, BackendHealthStatus health)
    {
        var reply = b.ToReply();
        reply.Health = health.Verdict;
        reply.HealthSinceUnixMs = health.Since?.ToUnixTimeMilliseconds() ?? 0;
        reply.Workers.AddRange(health.Workers.Select(w => new AdminPb.WorkerHealthView
        {
            Worker = w.Worker,
            State = w.Observation.View.ToString().ToLowerInvariant(),
            SinceUnixMs = w.Observation.Since.ToUnixTimeMilliseconds(),
            LatencyMs = w.Observation.LatencyMs,
            Reason = w.Observation.Reason ?? "",
            Outlier = w.Observation.Outlier,
            OutlierReason = w.Observation.OutlierReason ?? "",
            ReportedUnixMs = w.ReportedAt.ToUnixTimeMilliseconds(),
        }));
        return reply;
    }

    public static AdminPb.VerdictChange ToProto(this VerdictChange change) => new()
    {
        Verdict = change.Verdict,
        AtUnixMs = change.At.ToUnixTimeMilliseconds(),
        Failing = change.Failing,
        Passing = change.Passing,
        Reporting = change.Reporting,
        Revision = change.Revision,
    };

    public static AdminPb.RouteOverlap ToProto(this RouteOverlapView o)
    {
        var pb = new AdminPb.RouteOverlap { Route = o.Route, Winner = o.Winner, Rule = o.Rule };
        if (o.SampleRequest is { } sample)
        {
            pb.SampleRequest = new AdminPb.SampleRequest { Method = sample.Method, Host = sample.Host, Path = sample.Path };
            pb.SampleRequest.Headers.AddRange(sample.Headers.Select(h => new AdminPb.HeaderValue { Name = h.Key, Value = h.Value }));
        }
        return pb;
    }

    public static AdminPb.RouteReply ToReply(this RouteResource r) => new() { Tenant = r.Tenant, Route = r.Route, Spec = r.Spec.ToProto(), Meta = Meta(r.Revision) };

    private static void Add<T>(MapField<string, T> target, IReadOnlyDictionary<string, T> source)
    {
        foreach (var (key, value) in source)
            target[key] = value;
    }

    public static AdminPb.Credential ToProto(this Access.Credential c) => new()
    {
        Id = c.Id,
        Name = c.Name,
        Role = c.Role,
        Tenant = c.Tenant ?? "",
        Pool = c.Pool ?? "",
        CreatedAtUnixMs = c.CreatedAt.ToUnixTimeMilliseconds(),
        CreatedBy = c.CreatedBy,
        ExpiresAtUnixMs = c.ExpiresAt?.ToUnixTimeMilliseconds() ?? 0,
        RevokedAtUnixMs = c.RevokedAt?.ToUnixTimeMilliseconds() ?? 0,
        LastUsedAtUnixMs = c.LastUsedAt?.ToUnixTimeMilliseconds() ?? 0,
    };

    public static AdminPb.TenantMetricsReply ToReply(this TenantTrafficReport report)
    {
        var reply = new AdminPb.TenantMetricsReply
        {
            Tenant = report.Tenant,
            Totals = report.Totals.ToProto(),
            RateWindowSeconds = report.RateWindowSeconds,
            LastReportUnixMs = report.LastReport?.ToUnixTimeMilliseconds() ?? 0,
        };
        reply.Routes.AddRange(report.Routes.Select(r => new AdminPb.RouteMetrics { Route = r.Route, Traffic = r.Traffic.ToProto() }));
        reply.Backends.AddRange(report.Backends.Select(b => new AdminPb.BackendMetrics { Cluster = b.Cluster, Backend = b.Backend, Traffic = b.Traffic.ToProto() }));
        reply.Workers.AddRange(report.Workers.Select(w => new AdminPb.WorkerMetrics { Worker = w.Worker, Traffic = w.Traffic.ToProto() }));
        return reply;
    }

    public static AdminPb.TrafficHistoryReply ToReply(this TrafficHistoryReport report)
    {
        var reply = new AdminPb.TrafficHistoryReply { Tenant = report.Tenant, StepSeconds = report.StepSeconds, WindowSeconds = report.WindowSeconds };
        foreach (var route in report.Routes)
        {
            var history = new AdminPb.RouteTrafficHistory { Route = route.Route };
            foreach (var point in route.Points)
            {
                var pb = new AdminPb.TrafficPoint { UnixMs = point.Time.ToUnixTimeMilliseconds(), RequestsPerSecond = point.RequestsPerSecond };
                Add(pb.RatePerStatusClass, point.RatePerStatusClass);
                if (point.Latency.MeanMs is { } mean)
                    pb.LatencyMeanMs = mean;
                if (point.Latency.P50Ms is { } p50)
                    pb.LatencyP50Ms = p50;
                if (point.Latency.P90Ms is { } p90)
                    pb.LatencyP90Ms = p90;
                if (point.Latency.P99Ms is { } p99)
                    pb.LatencyP99Ms = p99;
                history.Points.Add(pb);
            }
            reply.Routes.Add(history);
        }
        return reply;
    }

    private static AdminPb.MetricsSummary ToProto(this TrafficSummary summary)
    {
        var pb = new AdminPb.MetricsSummary
        {
            Requests = summary.Requests,
            BytesIn = summary.BytesIn,
            BytesOut = summary.BytesOut,
            RequestsPerSecond = summary.RequestsPerSecond,
        };
        Add(pb.ByStatusClass, summary.ByStatusClass);
        Add(pb.RatePerStatusClass, summary.RatePerStatusClass);
        if (summary.Latency.MeanMs is { } mean)
            pb.LatencyMeanMs = mean;
        if (summary.Latency.P50Ms is { } p50)
            pb.LatencyP50Ms = p50;
        if (summary.Latency.P90Ms is { } p90)
            pb.LatencyP90Ms = p90;
        if (summary.Latency.P99Ms is { } p99)
            pb.LatencyP99Ms = p99;
        return pb;
    }

    public static ProxyPlatform.Routing.ExplainQuery ToModel(this AdminPb.ExplainQuery query) => new()
    {
        Method = query.Method,
        Host = query.Host,
        Path = query.Path,
        Headers = new Dictionary<string, string>(query.Headers, StringComparer.Ordinal),
    };

    public static AdminPb.ExplainReply ToReply(this ProxyPlatform.Routing.RequestExplanation answer) => new()
    {
        Outcome = answer.Outcome,
        Reason = answer.Reason,
        Route = answer.Route ?? "",
        BackendPath = answer.BackendPath ?? "",
        Cluster = answer.Cluster?.Id ?? "",
        NextBackend = answer.Cluster?.Next?.Backend ?? "",
        NextIsPrediction = answer.Cluster?.Next?.Prediction ?? false,
        Revision = answer.Revision,
        Worker = answer.Worker ?? "",
        AnswerJson = System.Text.Json.JsonSerializer.Serialize(answer, ConfigJson.Options),
    };
}
