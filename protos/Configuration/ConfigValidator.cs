using System.Text.RegularExpressions;

namespace ProxyPlatform.Configuration;

/// <summary>A field of an input that is wrong, and what is expected of it.</summary>
/// <param name="Field">The JSON path of the field, as the client wrote it (e.g. <c>match.pathPrefix</c>).</param>
public sealed record FieldError(string Field, string Message);

/// <summary>
/// The one validator of configuration input. REST, gRPC and the data plane all call it, so one
/// input is judged the same way everywhere.
/// </summary>
public static partial class ConfigValidator
{
    public const int MaxIdLength = 63;
    /// <summary>Hard bounds on lists and strings a caller can store, whatever the quotas say.</summary>
    public const int MaxNetworks = 100;
    /// <summary>The most workers a pool may ask for, whatever its provider; a provider may allow fewer.</summary>
    public const int MaxReplicas = 1000;
    public const int MaxHosts = 100, MaxMethods = 16, MaxHeaders = 32, MaxHeaderNameLength = 256, MaxHeaderValueLength = 1024, MaxRetryConditions = 8;
    /// <summary>The shortest health-check interval and time-out, in seconds.</summary>
    public const double MinProbeSeconds = 0.2;
    /// <summary>The shortest time-out of any kind: below a millisecond a time-out is a typo, not a setting.</summary>
    public const double MinSeconds = 0.001;

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,62}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex(@"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")]
    private static partial Regex HostPattern();

    [GeneratedRegex(@"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")]
    private static partial Regex TokenPattern();

    [GeneratedRegex(@"^/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$")]
    private static partial Regex PathPattern();

    private static readonly HashSet<string> RetryConditions = ["connect-failure", "reset", "timeout", "502", "503", "504"];

    public static bool IsValidId(string? id) => id is not null && IdPattern().IsMatch(id);

    public static IReadOnlyList<FieldError> ValidateId(string field, string? id) =>
        IsValidId(id) ? [] : [new FieldError(field, IdMessage(id))];

    private static string IdMessage(string? id) =>
        $"'{Shortened(id)}' is not a valid ID: use 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit.";

    public static IReadOnlyList<FieldError> Validate(TenantSpec? spec)
    {
        var errors = new List<FieldError>();
        if (spec is null)
        {
            errors.Add(new FieldError("", "A tenant body is required."));
            return errors;
        }
        if (spec.DisplayName is { Length: > 200 })
            errors.Add(new FieldError("displayName", "must be at most 200 characters."));
        ValidateHosts("hostnames", spec.Hostnames, errors);
        if (!IsValidId(spec.Pool))
            errors.Add(new FieldError("pool", IdMessage(spec.Pool)));
        if (spec.Quotas is { } quotas)
        {
            Optional("quotas.maxRoutes", quotas.MaxRoutes, 0, 1_000_000, errors);
            Optional("quotas.maxClusters", quotas.MaxClusters, 0, 100_000, errors);
            Optional("quotas.maxBackends", quotas.MaxBackends, 0, 1_000_000, errors);
            Optional("quotas.maxHostnames", quotas.MaxHostnames, 1, MaxHosts, errors);
            if (quotas.MaxRequestBodyBytes is < 0)
                errors.Add(new FieldError("quotas.maxRequestBodyBytes", "must not be negative."));
        }
        return errors;
    }

    public static IReadOnlyList<FieldError> Validate(PoolSpec? spec)
    {
        var errors = new List<FieldError>();
        if (spec is null)
        {
            errors.Add(new FieldError("", "A pool body is required."));
            return errors;
        }
        if (spec.Limits is { } limits)
        {
            if (limits.MaxRequestBodyBytes is < 0)
                errors.Add(new FieldError("limits.maxRequestBodyBytes", "must not be negative."));
            if (limits.AllowedBackendNetworks is { } networks)
            {
                if (networks.Count > MaxNetworks)
                    errors.Add(new FieldError("limits.allowedBackendNetworks", $"lists at most {MaxNetworks} networks."));
                for (var i = 0; i < networks.Count && i < MaxNetworks; i++)
                {
                    if (networks[i] is null || !System.Net.IPNetwork.TryParse(networks[i], out _))
                        errors.Add(new FieldError($"limits.allowedBackendNetworks[{i}]", $"'{Shortened(networks[i])}' is not a network: use CIDR notation, e.g. 10.0.0.0/8 or fd00::/8."));
                }
            }
        }
        if (spec.Replicas is < 0 or > MaxReplicas)
            errors.Add(new FieldError("replicas", $"must be between 0 and {MaxReplicas}."));
        if (spec.Autoscale is { } autoscale)
        {
            if (autoscale.MinReplicas is < 0 or > MaxReplicas)
                errors.Add(new FieldError("autoscale.minReplicas", $"must be between 0 and {MaxReplicas}."));
            if (autoscale.MaxReplicas is < 1 or > MaxReplicas)
                errors.Add(new FieldError("autoscale.maxReplicas", $"must be between 1 and {MaxReplicas}."));
            else if (autoscale.MaxReplicas < autoscale.MinReplicas)
                errors.Add(new FieldError("autoscale.maxReplicas", "must not be below autoscale.minReplicas."));
            if (!double.IsFinite(autoscale.TargetRequestsPerSecondPerReplica) || autoscale.TargetRequestsPerSecondPerReplica is <= 0 or > 10_000_000)
                errors.Add(new FieldError("autoscale.targetRequestsPerSecondPerReplica", "must be above 0 and at most 10,000,000."));
        }
        return errors;
    }

    public static IReadOnlyList<FieldError> Validate(ClusterSpec? spec)
    {
        var errors = new List<FieldError>();
        if (spec is null)
        {
            errors.Add(new FieldError("", "A cluster body is required."));
            return errors;
        }
        if (spec.Tls is { } tls)
            ValidateBackendTls(tls, errors);
        if (!LoadBalancingPolicies.All.Contains(spec.LoadBalancing))
            errors.Add(new FieldError("loadBalancing",
                $"'{Shortened(spec.LoadBalancing)}' is not a load-balancing policy; use one of {string.Join(", ", LoadBalancingPolicies.All)}."));
        if (spec.HealthCheck is { } hc)
        {
            if (!IsPath(hc.Path))
                errors.Add(new FieldError("healthCheck.path", "must be a path starting with '/'."));
            if (hc.IntervalSeconds is < MinProbeSeconds or > 3600 || double.IsNaN(hc.IntervalSeconds))
                errors.Add(new FieldError("healthCheck.intervalSeconds", $"must be between {MinProbeSeconds} and 3600."));
            if (hc.TimeoutSeconds is < MinProbeSeconds or > 3600 || double.IsNaN(hc.TimeoutSeconds))
                errors.Add(new FieldError("healthCheck.timeoutSeconds", $"must be between {MinProbeSeconds} and 3600."));
            else if (hc.TimeoutSeconds > hc.IntervalSeconds)
                errors.Add(new FieldError("healthCheck.timeoutSeconds", "must not exceed intervalSeconds."));
            Range("healthCheck.healthyThreshold", hc.HealthyThreshold, 1, 100, errors);
            Range("healthCheck.unhealthyThreshold", hc.UnhealthyThreshold, 1, 100, errors);
            if (hc.ExpectedStatus is null || hc.ExpectedStatus.Length > 256 || !StatusRanges.TryParse(hc.ExpectedStatus, out _))
                errors.Add(new FieldError("healthCheck.expectedStatus",
                    $"'{Shortened(hc.ExpectedStatus)}' is not a status range: use e.g. 200-399, 200, or 200,204,300-302 (statuses 100 to 599)."));
        }
        if (spec.Retry is { } retry)
        {
            Range("retry.maxAttempts", retry.MaxAttempts, 1, 10, errors);
            if (retry.RetryOn.Count > MaxRetryConditions)
                errors.Add(new FieldError("retry.retryOn", $"lists at most {MaxRetryConditions} conditions."));
            for (var i = 0; i < retry.RetryOn.Count && i < MaxRetryConditions; i++)
            {
                if (!RetryConditions.Contains(retry.RetryOn[i]))
                    errors.Add(new FieldError($"retry.retryOn[{i}]",
                        $"'{Shortened(retry.RetryOn[i])}' is not a retry condition; use {string.Join(", ", RetryConditions)}."));
            }
            if (retry.MaxBufferedBodyBytes < 0 || retry.MaxBufferedBodyBytes > 16 * 1024 * 1024)
                errors.Add(new FieldError("retry.maxBufferedBodyBytes", "must be between 0 and 16777216 (16 MiB)."));
        }
        if (spec.CircuitBreaker is { } cb)
        {
            Range("circuitBreaker.consecutiveFailures", cb.ConsecutiveFailures, 1, 1000, errors);
            Range("circuitBreaker.openSeconds", cb.OpenSeconds, 1, 3600, errors);
        }
        if (spec.Timeouts is { } t)
        {
            Positive("timeouts.connectSeconds", t.ConnectSeconds, 300, errors);
            Positive("timeouts.responseHeadersSeconds", t.ResponseHeadersSeconds, 3600, errors);
            Positive("timeouts.idleSeconds", t.IdleSeconds, 86400, errors);
        }
        if (spec.SessionAffinity is { } affinity)
        {
            if (affinity.Mode is not ("cookie" or "header"))
                errors.Add(new FieldError("sessionAffinity.mode", $"'{Shortened(affinity.Mode)}' is not an affinity mode; use cookie or header."));
            if (affinity.Name is null || !TokenPattern().IsMatch(affinity.Name) || affinity.Name.Length > 64)
                errors.Add(new FieldError("sessionAffinity.name", "must be a cookie or header name of at most 64 token characters."));
        }
        if (spec.Connections is { } connections)
        {
            if (connections.MaxPerBackend is { } max)
                Range("connections.maxPerBackend", max, 1, 100000, errors);
            Positive("connections.idleSeconds", connections.IdleSeconds, 3600, errors);
        }
        return errors;
    }

    public static IReadOnlyList<FieldError> Validate(BackendSpec? spec)
    {
        var errors = new List<FieldError>();
        if (spec is null)
        {
            errors.Add(new FieldError("", "A backend body is required."));
            return errors;
        }
        if (!IsBackendAddress(spec.Address))
            errors.Add(new FieldError("address",
                $"'{Shortened(spec.Address)}' is not a backend address: expected an absolute http:// or https:// URL with a host, e.g. http://10.0.0.5:8080."));
        Range("weight", spec.Weight, 0, 1000, errors);
        return errors;
    }

    public static IReadOnlyList<FieldError> Validate(RouteSpec? spec)
    {
        var errors = new List<FieldError>();
        if (spec is null)
        {
            errors.Add(new FieldError("", "A route body is required."));
            return errors;
        }
        var match = spec.Match ?? new RouteMatchSpec();
        ValidateHosts("match.hosts", match.Hosts, errors);
        if (!IsPath(match.PathPrefix))
            errors.Add(new FieldError("match.pathPrefix",
                $"'{Shortened(match.PathPrefix)}' is not a path prefix: it must start with '/' and hold only URL path characters."));
        if (match.Methods.Count > MaxMethods)
            errors.Add(new FieldError("match.methods", $"lists at most {MaxMethods} methods."));
        for (var i = 0; i < match.Methods.Count && i < MaxMethods; i++)
        {
            if (match.Methods[i] is null || !TokenPattern().IsMatch(match.Methods[i]) || match.Methods[i] != match.Methods[i].ToUpperInvariant())
                errors.Add(new FieldError($"match.methods[{i}]", $"'{Shortened(match.Methods[i])}' is not an HTTP method in upper case (e.g. GET)."));
        }
        if (match.Headers.Count > MaxHeaders)
            errors.Add(new FieldError("match.headers", $"lists at most {MaxHeaders} headers."));
        foreach (var (name, value) in match.Headers.Take(MaxHeaders))
        {
            if (name.Length > MaxHeaderNameLength || !TokenPattern().IsMatch(name))
                errors.Add(new FieldError($"match.headers.{Shortened(name)}", $"is not a valid header name (at most {MaxHeaderNameLength} token characters)."));
            else if (string.IsNullOrEmpty(value) || value.Length > MaxHeaderValueLength)
                errors.Add(new FieldError($"match.headers.{name}", $"must have a value to match, of at most {MaxHeaderValueLength} characters."));
        }
        if (string.IsNullOrEmpty(spec.Cluster))
            errors.Add(new FieldError("cluster", "is required: the ID of a cluster of the same tenant."));
        else if (!IsValidId(spec.Cluster))
            errors.Add(new FieldError("cluster", IdMessage(spec.Cluster)));
        Positive("timeoutSeconds", spec.TimeoutSeconds, 3600, errors);
        if (spec.MaxRequestBodyBytes is < 0)
            errors.Add(new FieldError("maxRequestBodyBytes", "must not be negative."));
        if (spec.RateLimit is { } rl)
        {
            if (rl.RequestsPerSecond <= 0)
                errors.Add(new FieldError("rateLimit.requestsPerSecond", "must be more than 0."));
            if (rl.Burst < 1)
                errors.Add(new FieldError("rateLimit.burst", "must be at least 1."));
            if (rl.Key != "client-ip" && !(rl.Key.Length <= MaxHeaderNameLength && rl.Key.StartsWith("header:", StringComparison.Ordinal) && TokenPattern().IsMatch(rl.Key["header:".Length..])))
                errors.Add(new FieldError("rateLimit.key", "must be 'client-ip' or 'header:<Header-Name>'."));
        }
        if (spec.Hsts is { } hsts && hsts.MaxAgeSeconds is < 0 or > HstsSpec.MaxMaxAgeSeconds)
            errors.Add(new FieldError("hsts.maxAgeSeconds", $"must be from 0 to {HstsSpec.MaxMaxAgeSeconds} (two years)."));
        return errors;
    }

    /// <summary>True for an absolute http(s) URL with a host and no query, fragment or user info.</summary>
    public static bool IsBackendAddress(string? address) =>
        address is { Length: <= 2048 } && Uri.TryCreate(address, UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
        && !string.IsNullOrEmpty(uri.Host)
        && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.Fragment) && string.IsNullOrEmpty(uri.UserInfo)
        && address!.StartsWith(uri.Scheme + "://", StringComparison.OrdinalIgnoreCase);

    private static bool IsPath(string? path) =>
        path is not null && path.Length <= 1024 && PathPattern().IsMatch(path) && !path.Contains("//", StringComparison.Ordinal);

    /// <summary>An ACME certificate's hosts (normalized): one to <see cref="CertificateLimits.MaxAcmeHosts"/> exact names, as HTTP-01 cannot prove a wildcard.</summary>
    public static IReadOnlyList<FieldError> Validate(AcmeCertificateSpec? spec)
    {
        var errors = new List<FieldError>();
        if (spec?.Hosts is not { Count: > 0 } hosts)
        {
            errors.Add(new FieldError("acme.hosts", "name at least one host to order the certificate for."));
            return errors;
        }
        ValidateHosts("acme.hosts", hosts, errors);
        for (var i = 0; i < hosts.Count && i < MaxHosts; i++)
        {
            if (hosts[i] is { } host && HostNames.IsWildcard(host))
                errors.Add(new FieldError($"acme.hosts[{i}]", $"'{host}' is a wildcard, which an HTTP-01 challenge cannot prove: name each host."));
        }
        return errors;
    }

    /// <summary>
    /// What a valid cluster is accepted with but warned about, field first: today only <c>tls.insecureSkipVerify</c>,
    /// which leaves the cluster's https backends unauthenticated. The admin APIs answer these beside the write.
    /// </summary>
    public static IReadOnlyList<FieldError> Warnings(ClusterSpec spec) =>
        spec.Tls is { InsecureSkipVerify: true }
            ? [new FieldError("tls.insecureSkipVerify", "the worker accepts any certificate from this cluster's https:// backends, so whoever sits between worker and backend can read and change its traffic; give tls.caPem instead.")]
            : [];

    private static void ValidateBackendTls(BackendTlsSpec tls, List<FieldError> errors)
    {
        if (tls.CaPem is { } pem)
        {
            if (pem.Length > CertificateLimits.MaxPemBytes)
                errors.Add(new FieldError("tls.caPem", $"is larger than {CertificateLimits.MaxPemBytes} bytes."));
            else
            {
                var roots = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
                try
                {
                    roots.ImportFromPem(pem);
                    if (roots.Count is 0 or > CertificateLimits.MaxChainCertificates)
                        errors.Add(new FieldError("tls.caPem", $"must hold 1 to {CertificateLimits.MaxChainCertificates} PEM CERTIFICATE blocks."));
                }
                catch (System.Security.Cryptography.CryptographicException)
                {
                    errors.Add(new FieldError("tls.caPem", "is not PEM X.509 certificates."));
                }
                finally
                {
                    foreach (var root in roots)
                        root.Dispose();
                }
            }
            if (tls.InsecureSkipVerify)
                errors.Add(new FieldError("tls.insecureSkipVerify", "verifies nothing, so a caPem beside it would be ignored: give one or the other."));
        }
        if (tls.ClientCertificate is { } client && ValidateId("tls.clientCertificate", client) is { Count: > 0 } bad)
            errors.AddRange(bad);
        if (tls.ServerName is { } name && (name.Length > 253 || !HostPattern().IsMatch(name) || name.StartsWith("*.", StringComparison.Ordinal)))
            errors.Add(new FieldError("tls.serverName", $"'{Shortened(name)}' is not a host name: use a lower-case DNS name such as 'api.internal'."));
    }

    private static void ValidateHosts(string field, IReadOnlyList<string>? hosts, List<FieldError> errors)
    {
        if (hosts is null)
            return;
        if (hosts.Count > MaxHosts)
            errors.Add(new FieldError(field, $"lists at most {MaxHosts} host names."));
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < hosts.Count && i < MaxHosts; i++)
        {
            var host = hosts[i];
            if (host is null || host.Length > 253 || !HostPattern().IsMatch(host))
                errors.Add(new FieldError($"{field}[{i}]",
                    $"'{Shortened(host)}' is not a host name: use lower-case DNS names such as 'api.example.com' or '*.example.com'."));
            else if (!seen.Add(host))
                errors.Add(new FieldError($"{field}[{i}]", $"'{host}' is listed twice."));
        }
    }

    /// <summary>A value as an error message quotes it: never more than a line, whatever the caller sent.</summary>
    private static string? Shortened(string? value) => value is { Length: > 80 } ? value[..80] + "…" : value;

    private static void Optional(string field, int? value, int min, int max, List<FieldError> errors)
    {
        if (value is { } v)
            Range(field, v, min, max, errors);
    }

    private static void Range(string field, int value, int min, int max, List<FieldError> errors)
    {
        if (value < min || value > max)
            errors.Add(new FieldError(field, $"must be between {min} and {max}."));
    }

    private static void Positive(string field, double? value, double max, List<FieldError> errors)
    {
        if (value is { } v && !(v >= MinSeconds && v <= max))
            errors.Add(new FieldError(field, $"must be at least {MinSeconds} (1 ms) and at most {max}."));
    }
}
