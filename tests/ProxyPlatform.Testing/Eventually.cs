using System.Diagnostics;

namespace ProxyPlatform.Testing;

/// <summary>
/// The one way a test waits for something to happen: poll a condition until it holds, and fail
/// with a description of the last state seen once a generous deadline has passed. A deadline is
/// for giving up, never a measurement: a test does not assert how fast anything happened.
/// </summary>
public static class Eventually
{
    /// <summary>The deadline when a test names none: long enough that only a broken system reaches it.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan LongestPoll = TimeSpan.FromMilliseconds(200);

    /// <summary>Polls <paramref name="condition"/> until it holds; past <paramref name="deadline"/> fails with <paramref name="describe"/>.</summary>
    public static Task Async(Func<Task<bool>> condition, TimeSpan? deadline, Func<string> describe) =>
        Async(condition, done => done, deadline, _ => describe());

    /// <summary>Polls a synchronous <paramref name="condition"/> until it holds; past <paramref name="deadline"/> fails with <paramref name="describe"/>.</summary>
    public static Task Async(Func<bool> condition, TimeSpan? deadline, Func<string> describe) =>
        Async(() => Task.FromResult(condition()), done => done, deadline, _ => describe());

    /// <summary>
    /// Reads <paramref name="probe"/> until <paramref name="done"/> accepts what it read, and returns that;
    /// past <paramref name="deadline"/> fails with <paramref name="describe"/> of the last reading.
    /// </summary>
    public static async Task<T> Async<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan? deadline, Func<T, string> describe)
    {
        var limit = deadline ?? Patience;
        var clock = Stopwatch.StartNew();
        var pause = FirstPoll;
        while (true)
        {
            var value = await probe();
            if (done(value))
                return value;
            if (clock.Elapsed > limit)
                throw new TimeoutException($"Still not so after {limit.TotalSeconds:0.#} s: {describe(value)}");
            await Task.Delay(pause);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, LongestPoll.Ticks));
        }
    }

    /// <summary>
    /// Calls <paramref name="attempt"/> until it returns without throwing one of the exceptions
    /// <paramref name="transient"/> accepts (all, when it is null), and returns what it returned;
    /// past <paramref name="deadline"/> the last exception is thrown.
    /// </summary>
    public static async Task<T> Succeeds<T>(Func<Task<T>> attempt, TimeSpan? deadline = null, Func<Exception, bool>? transient = null)
    {
        var limit = deadline ?? Patience;
        var clock = Stopwatch.StartNew();
        var pause = FirstPoll;
        while (true)
        {
            try
            {
                return await attempt();
            }
            catch (Exception e) when (clock.Elapsed < limit && (transient?.Invoke(e) ?? true))
            {
                await Task.Delay(pause);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, LongestPoll.Ticks));
            }
        }
    }
}
