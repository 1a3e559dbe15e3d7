namespace ProxyPlatform.ControlPlane.Scaling;

/// <summary>How pools get their workers (<c>Scaling:*</c>).</summary>
public sealed record ScalingOptions
{
    public const string ProcessProvider = "Process", KubernetesProvider = "Kubernetes", NoProvider = "None";

    /// <summary><c>Scaling:Provider</c>: <c>Process</c> (default), <c>Kubernetes</c> or <c>None</c>.</summary>
    public string Provider { get; init; } = ProcessProvider;
    /// <summary>How often each managed pool's reconciler compares desired with actual (<c>Scaling:ReconcileSeconds</c>, default 1).</summary>
    public TimeSpan ReconcileEvery { get; init; } = TimeSpan.FromSeconds(1);
    public ProcessScalingOptions Process { get; init; } = new();

    public static ScalingOptions From(IConfiguration configuration)
    {
        var defaults = new ScalingOptions();
        var provider = configuration["Scaling:Provider"] ?? defaults.Provider;
        var known = new[] { ProcessProvider, KubernetesProvider, NoProvider };
        provider = known.FirstOrDefault(k => string.Equals(k, provider, StringComparison.OrdinalIgnoreCase))
            ?? throw new InvalidOperationException($"Scaling:Provider must be one of {string.Join(", ", known)}; got '{provider}'.");
        var seconds = configuration.GetValue("Scaling:ReconcileSeconds", defaults.ReconcileEvery.TotalSeconds);
        if (!(seconds is >= 0.05 and <= 60))
            throw new InvalidOperationException($"Scaling:ReconcileSeconds must be between 0.05 and 60; got {seconds}.");
        return new ScalingOptions
        {
            Provider = provider,
            ReconcileEvery = TimeSpan.FromSeconds(seconds),
            Process = ProcessScalingOptions.From(configuration),
        };
    }
}

/// <summary>The process provider's settings (<c>Scaling:Process:*</c>).</summary>
public sealed record ProcessScalingOptions
{
    /// <summary>The worker's entry point (<c>Scaling:Process:WorkerPath</c>): an executable or a <c>.dll</c> (run with <c>dotnet</c>). Default: the built worker beside the control plane.</summary>
    public string? WorkerPath { get; init; }
    /// <summary>Where each worker's data directory, log and record live (<c>Scaling:Process:DataDir</c>).</summary>
    public string DataDir { get; init; } = Path.Combine(Path.GetTempPath(), "proxyplatform-workers");
    /// <summary>
    /// Ports of the workers' proxy listeners (<c>Scaling:Process:PortRange</c>, <c>first-last</c>, default
    /// 8080-8179), and of their ops listeners unless <see cref="OpsPortRange"/> is set. <c>0</c>: the
    /// operating system chooses each port (tests), and the worker reports which.
    /// </summary>
    public PortRange PortRange { get; init; } = new(8080, 8179);
    /// <summary>Ports of the workers' ops listeners (<c>Scaling:Process:OpsPortRange</c>, default 9090-9189).</summary>
    public PortRange OpsPortRange { get; init; } = new(9090, 9189);
    /// <summary>The address the workers' proxy listeners bind (<c>Scaling:Process:ListenAddress</c>, default 0.0.0.0); ops listeners bind loopback.</summary>
    public string ListenAddress { get; init; } = "0.0.0.0";
    /// <summary>At most this many workers per machine, over all pools (<c>Scaling:Process:MaxReplicas</c>, default 32).</summary>
    public int MaxReplicas { get; init; } = 32;
    /// <summary>The longest wait before restarting a worker that keeps exiting (<c>Scaling:Process:MaxBackoffSeconds</c>, default 30).</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How long a drained worker may take to leave before it is sent SIGTERM, then SIGKILL (<c>Scaling:Process:StopTimeoutSeconds</c>, default 60).</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Ports of the workers' TLS listeners (<c>Scaling:Process:HttpsPortRange</c>, default 8443-8542; <c>off</c>: none).</summary>
    public PortRange? HttpsPortRange { get; init; } = new(8443, 8542);
    /// <summary>The control plane's gRPC URLs the workers are given (<c>Scaling:Process:ControlPlaneUrl</c>, comma-separated); default this node's.</summary>
    public string? ControlPlaneUrl { get; init; }
    /// <summary>Extra <c>--Key=value</c> arguments for every worker (<c>Scaling:Process:WorkerArgs</c>, space-separated), e.g. <c>--DataPlane:DrainSeconds=1</c>.</summary>
    public IReadOnlyList<string> WorkerArgs { get; init; } = [];

    public static ProcessScalingOptions From(IConfiguration configuration)
    {
        var defaults = new ProcessScalingOptions();
        var options = new ProcessScalingOptions
        {
            WorkerPath = configuration["Scaling:Process:WorkerPath"] is { Length: > 0 } path ? path : null,
            DataDir = configuration["Scaling:Process:DataDir"] is { Length: > 0 } dir ? Path.GetFullPath(dir) : defaults.DataDir,
            PortRange = PortRange.Parse("Scaling:Process:PortRange", configuration["Scaling:Process:PortRange"]) ?? defaults.PortRange,
            OpsPortRange = PortRange.Parse("Scaling:Process:OpsPortRange", configuration["Scaling:Process:OpsPortRange"])
                ?? (configuration["Scaling:Process:PortRange"] is { Length: > 0 } ? PortRange.Parse("Scaling:Process:PortRange", configuration["Scaling:Process:PortRange"])! : defaults.OpsPortRange),
            ListenAddress = configuration["Scaling:Process:ListenAddress"] is { Length: > 0 } address ? address : defaults.ListenAddress,
            MaxReplicas = configuration.GetValue("Scaling:Process:MaxReplicas", defaults.MaxReplicas),
            MaxBackoff = TimeSpan.FromSeconds(configuration.GetValue("Scaling:Process:MaxBackoffSeconds", defaults.MaxBackoff.TotalSeconds)),
            StopTimeout = TimeSpan.FromSeconds(configuration.GetValue("Scaling:Process:StopTimeoutSeconds", defaults.StopTimeout.TotalSeconds)),
            HttpsPortRange = configuration["Scaling:Process:HttpsPortRange"] is { } https
                ? (https.Trim().Equals("off", StringComparison.OrdinalIgnoreCase) ? null : PortRange.Parse("Scaling:Process:HttpsPortRange", https))
                : configuration["Scaling:Process:PortRange"]?.Trim() == "0" ? PortRange.Ephemeral : defaults.HttpsPortRange,
            ControlPlaneUrl = configuration["Scaling:Process:ControlPlaneUrl"] is { Length: > 0 } url ? url : null,
            WorkerArgs = (configuration["Scaling:Process:WorkerArgs"] ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        };
        if (options.MaxReplicas is < 0 or > Configuration.ConfigValidator.MaxReplicas)
            throw new InvalidOperationException($"Scaling:Process:MaxReplicas must be between 0 and {Configuration.ConfigValidator.MaxReplicas}; got {options.MaxReplicas}.");
        if (options.MaxBackoff <= TimeSpan.Zero || options.StopTimeout <= TimeSpan.Zero)
            throw new InvalidOperationException("Scaling:Process:MaxBackoffSeconds and StopTimeoutSeconds must be positive.");
        if (!System.Net.IPAddress.TryParse(options.ListenAddress, out _))
            throw new InvalidOperationException($"Scaling:Process:ListenAddress must be an IP address; got '{options.ListenAddress}'.");
        if (options.WorkerArgs.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal) || !a.Contains('=')) is { } bad)
            throw new InvalidOperationException($"Scaling:Process:WorkerArgs takes --Key=value arguments; got '{bad}'.");
        return options;
    }
}

/// <summary>A range of TCP ports, <c>first-last</c>; <see cref="Ephemeral"/> (<c>0</c>) lets the operating system choose.</summary>
public sealed record PortRange(int First, int Last)
{
    public static readonly PortRange Ephemeral = new(0, 0);

    public bool IsEphemeral => First == 0;

    public static PortRange? Parse(string key, string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
            return null;
        if (text.Trim() == "0")
            return Ephemeral;
        var parts = text.Split('-', StringSplitOptions.TrimEntries);
        if (parts.Length == 2 && int.TryParse(parts[0], out var first) && int.TryParse(parts[1], out var last) && first is >= 1 and <= 65535 && last >= first && last <= 65535)
            return new PortRange(first, last);
        throw new InvalidOperationException($"{key} must be 'first-last' (e.g. 8080-8179) or 0; got '{text}'.");
    }

    public IEnumerable<int> Ports => IsEphemeral ? [] : Enumerable.Range(First, Last - First + 1);
}
