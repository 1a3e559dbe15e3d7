using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;

namespace ProxyPlatform.ControlPlane.Access;

/// <summary>
/// Slows down guessing: each client address may fail authentication <c>burst</c> times, then once
/// per <see cref="RefillEvery"/>. Beyond that a failure is answered 429 instead of 401, unknown
/// credentials are refused without a look-up, and failures are no longer logged one by one; a valid
/// key still works, so a noisy neighbour behind the same address does not lock others out. The table
/// is bounded: when it is full, addresses back at a full allowance are forgotten first.
/// </summary>
/// <param name="burst">Failures allowed in a row (<c>Auth:FailedAttemptsBurst</c>, default 20).</param>
public sealed class FailedAuthentications(int burst)
{
    public static readonly TimeSpan RefillEvery = TimeSpan.FromMilliseconds(500);
    private const int MaxAddresses = 10_000;

    private int Burst { get; } = burst;

    private readonly ConcurrentDictionary<IPAddress, Allowance> _byAddress = new();

    public bool IsThrottled(IPAddress client, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (!_byAddress.TryGetValue(client, out var allowance))
            return false;
        lock (allowance)
        {
            allowance.Refill();
            if (allowance.Left >= 1)
                return false;
            retryAfter = RefillEvery * (1 - allowance.Left);
            return true;
        }
    }

    public void Record(IPAddress client)
    {
        if (_byAddress.Count >= MaxAddresses && !_byAddress.ContainsKey(client))
            Prune();
        var allowance = _byAddress.GetOrAdd(client, _ => new Allowance(Burst));
        lock (allowance)
        {
            allowance.Refill();
            allowance.Left = Math.Max(0, allowance.Left - 1);
        }
    }

    private void Prune()
    {
        foreach (var (address, allowance) in _byAddress)
        {
            lock (allowance)
            {
                allowance.Refill();
                if (allowance.Left >= Burst)
                    _byAddress.TryRemove(address, out _);
            }
        }
        // Still full of active guessers: forget the oldest half rather than grow.
        if (_byAddress.Count >= MaxAddresses)
        {
            foreach (var address in _byAddress.OrderBy(a => a.Value.Since).Take(MaxAddresses / 2).Select(a => a.Key).ToList())
                _byAddress.TryRemove(address, out _);
        }
    }

    private sealed class Allowance(int burst)
    {
        public double Left { get; set; } = burst;
        public long Since { get; private set; } = Stopwatch.GetTimestamp();

        public void Refill()
        {
            var now = Stopwatch.GetTimestamp();
            Left = Math.Min(burst, Left + Stopwatch.GetElapsedTime(Since, now) / RefillEvery);
            Since = now;
        }
    }
}
