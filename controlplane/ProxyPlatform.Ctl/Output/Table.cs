namespace ProxyPlatform.Ctl.Output;

/// <summary>A plain text table: upper-case headers, columns padded to their widest cell, two spaces apart.</summary>
public sealed class Table(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    public int Count => _rows.Count;

    public Table Add(params string[] cells)
    {
        if (cells.Length != headers.Length)
            throw new ArgumentException($"a row has {cells.Length} cells; the table has {headers.Length} columns.", nameof(cells));
        _rows.Add(cells);
        return this;
    }

    public void WriteTo(TextWriter output)
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, _rows.Count == 0 ? 0 : _rows.Max(r => r[i].Length))).ToArray();
        Write(output, headers, widths);
        foreach (var row in _rows)
            Write(output, row, widths);
    }

    private static void Write(TextWriter output, string[] cells, int[] widths)
    {
        var line = string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i])));
        output.WriteLine(line.TrimEnd());
    }
}
