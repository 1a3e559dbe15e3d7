using Microsoft.Extensions.Logging;

namespace ProxyPlatform.DataPlane.Tests.Infrastructure;

/// <summary>A log sink that keeps every line written to it, with the scopes open at the time.</summary>
public sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly List<(LogLevel Level, string Message, object? Scope)> _lines = [];
    private readonly AsyncLocal<object?> _scope = new();

    public IReadOnlyList<(LogLevel Level, string Message, object? Scope)> Lines
    {
        get
        {
            lock (_lines)
                return [.. _lines];
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull
    {
        var outer = _scope.Value;
        _scope.Value = state;
        return new Scope(() => _scope.Value = outer);
    }

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lines)
            _lines.Add((logLevel, formatter(state, exception), _scope.Value));
    }

    private sealed class Scope(Action end) : IDisposable
    {
        public void Dispose() => end();
    }
}
