using System.Globalization;
using System.Text;

namespace ProxyPlatform.Bench;

/// <summary>Percentiles, and the section of docs/benchmarks.md a benchmark owns (between its markers).</summary>
public static class Results
{
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
            return double.NaN;
        var rank = p / 100 * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = (int)Math.Ceiling(rank);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }

    public static string F(double value, string format = "0.0") => value.ToString(format, CultureInfo.InvariantCulture);

    public static void WriteSection(string name, string markdown)
    {
        var path = Path.Combine(RepositoryRoot(), "docs", "benchmarks.md");
        var start = $"<!-- {name}:start -->";
        var end = $"<!-- {name}:end -->";
        var text = File.Exists(path) ? File.ReadAllText(path) : "# Benchmarks\n\nFigures written by `infra/bench/run.sh`; each section is replaced when its benchmark runs.\n";
        var block = $"{start}\n{markdown.TrimEnd()}\n{end}";
        var from = text.IndexOf(start, StringComparison.Ordinal);
        var to = text.IndexOf(end, StringComparison.Ordinal);
        text = from >= 0 && to > from
            ? text[..from] + block + text[(to + end.Length)..]
            : text.TrimEnd() + "\n\n" + block + "\n";
        File.WriteAllText(path, text);
        Console.WriteLine($"Wrote the '{name}' section of {path}");
    }

    public static string Machine()
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "unknown CPU";
        return $"{Environment.ProcessorCount} cores ({cpu}), .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC";
    }

    /// <summary>
    /// The 1-minute load average: how busy the machine was with other work when a benchmark started.
    /// <c>run.sh</c> reads it before it builds (<c>PROXYPLATFORM_BENCH_LOADAVG</c>), since the build's
    /// own load would otherwise count as other work.
    /// </summary>
    public static double LoadAverage() =>
        double.Parse(Environment.GetEnvironmentVariable("PROXYPLATFORM_BENCH_LOADAVG") is { Length: > 0 } before
            ? before
            : File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ProxyPlatform.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Run the benchmarks from inside the repository.");
    }

    public static string Table(string[] header, IEnumerable<string[]> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| " + string.Join(" | ", header) + " |");
        sb.AppendLine("|" + string.Concat(header.Select(_ => " --- |")));
        foreach (var row in rows)
            sb.AppendLine("| " + string.Join(" | ", row) + " |");
        return sb.ToString();
    }
}
