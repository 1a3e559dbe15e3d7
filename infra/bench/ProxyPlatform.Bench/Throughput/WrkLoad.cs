using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace ProxyPlatform.Bench.Throughput;

/// <summary>One closed-loop wrk run: how many requests a target answers per second with a fixed number of connections.</summary>
/// <param name="CpuMicrosecondsPerRequest">CPU time the target's process used during the run, per request.</param>
public sealed record Saturation(double RequestsPerSecond, double P50Ms, double P99Ms, long Errors, double CpuMicrosecondsPerRequest);

/// <summary>Runs wrk (Debian's 4.1) against a target, and reads its report (Throughput/report.lua).</summary>
public static class WrkLoad
{
    public const int Threads = 2;
    public const int Connections = 64;

    public static async Task<Saturation> RunAsync(Target target, TimeSpan duration, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("wrk") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[]
        {
            $"-t{Threads}", $"-c{Connections}", $"-d{(int)duration.TotalSeconds}s", "--timeout", "5s",
            "-s", Path.Combine(AppContext.BaseDirectory, "Throughput", "report.lua"),
            "-H", $"Host: {ThroughputBenchmark.Host}", target.Url.ToString(),
        })
            info.ArgumentList.Add(arg);

        var cpuBefore = PeerProcess.CpuTime(target.Pid);
        using var wrk = Process.Start(info)!;
        string stdout, stderr;
        try
        {
            var readOut = wrk.StandardOutput.ReadToEndAsync(cancellationToken);
            var readErr = wrk.StandardError.ReadToEndAsync(cancellationToken);
            await wrk.WaitForExitAsync(cancellationToken);
            (stdout, stderr) = (await readOut, await readErr);
        }
        finally
        {
            if (!wrk.HasExited)
                wrk.Kill();
        }
        var cpu = PeerProcess.CpuTime(target.Pid) - cpuBefore;

        var line = stdout.Split('\n').FirstOrDefault(l => l.StartsWith("WRK-REPORT ", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"wrk against {target.Name} exited with {wrk.ExitCode} and no report:\n{stdout}\n{stderr}");
        var report = JsonSerializer.Deserialize<Report>(line["WRK-REPORT ".Length..], JsonSerializerOptions.Web)!;
        var errors = report.ConnectErrors + report.ReadErrors + report.WriteErrors + report.StatusErrors + report.Timeouts;
        return new Saturation(
            report.Requests / (report.DurationUs / 1e6),
            report.P50Us / 1000.0,
            report.P99Us / 1000.0,
            errors,
            report.Requests == 0 ? double.NaN : cpu.TotalMicroseconds / report.Requests);
    }

    public static string Describe(TimeSpan duration) =>
        string.Create(CultureInfo.InvariantCulture, $"`wrk -t{Threads} -c{Connections} -d{(int)duration.TotalSeconds}s`");

    private sealed record Report(long Requests, long DurationUs, long ConnectErrors, long ReadErrors, long WriteErrors, long StatusErrors, long Timeouts, long P50Us, long P99Us);
}
