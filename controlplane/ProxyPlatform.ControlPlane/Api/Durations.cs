using System.Globalization;

namespace ProxyPlatform.ControlPlane.Api;

/// <summary>Durations as operators write them: <c>500ms</c>, <c>5s</c>, <c>1m</c>, or plain seconds.</summary>
public static class Durations
{
    public static TimeSpan Parse(string field, string value, TimeSpan max)
    {
        var text = value.Trim();
        var (number, unit) = text.EndsWith("ms", StringComparison.Ordinal) ? (text[..^2], 0.001)
            : text.EndsWith('s') ? (text[..^1], 1.0)
            : text.EndsWith('m') ? (text[..^1], 60.0)
            : (text, 1.0);
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount) || amount < 0)
            throw AdminException.Invalid(field, $"'{value}' is not a duration: use e.g. 500ms, 5s or 1m.");
        var duration = TimeSpan.FromSeconds(amount * unit);
        return duration <= max ? duration : throw AdminException.Invalid(field, $"must be at most {max.TotalSeconds:0} seconds.");
    }
}
