using ProxyPlatform.Configuration;
using ProxyPlatform.DataPlane.Clusters;

namespace ProxyPlatform.DataPlane.LoadBalancing;

/// <summary>
/// Chooses a backend among a cluster's enabled backends, skipping those whose circuit is open and
/// those a request has already tried (<paramref name="tried"/> is a bit per backend index).
/// </summary>
public abstract class LoadBalancer
{
    public static LoadBalancer For(string policy) => policy switch
    {
        LoadBalancingPolicies.WeightedRoundRobin => new SmoothWeightedRoundRobin(),
        LoadBalancingPolicies.LeastRequests => new LeastRequests(),
        LoadBalancingPolicies.PowerOfTwoChoices => new PowerOfTwoChoices(),
        LoadBalancingPolicies.Random => new RandomChoice(),
        _ => new RoundRobin(),
    };

    /// <summary>The index of the chosen backend, or -1 when none is selectable.</summary>
    public abstract int Choose(Backend[] backends, ulong tried, long now);

    /// <summary>
    /// The backend <see cref="Choose"/> would pick next for a first attempt, without moving the balancer
    /// (explain): its index, or -1 when none is selectable or the policy picks at random; exact when the
    /// balancer's state decides it (another request may still take that turn first).
    /// </summary>
    public virtual (int Index, bool Exact) Peek(Backend[] backends, long now) => (-1, false);

    protected static bool Selectable(Backend[] backends, int index, ulong tried, long now) =>
        (index >= 64 || (tried & (1UL << index)) == 0) && backends[index].State.IsSelectable(now);

    private sealed class RoundRobin : LoadBalancer
    {
        private uint _next;

        public override (int Index, bool Exact) Peek(Backend[] backends, long now)
        {
            if (backends.Length == 0)
                return (-1, true);
            var start = (int)(Volatile.Read(ref _next) % (uint)backends.Length);
            for (var i = 0; i < backends.Length; i++)
            {
                var index = (start + i) % backends.Length;
                if (Selectable(backends, index, 0, now))
                    return (index, true);
            }
            return (-1, true);
        }

        public override int Choose(Backend[] backends, ulong tried, long now)
        {
            var start = (int)((Interlocked.Increment(ref _next) - 1) % (uint)backends.Length);
            for (var i = 0; i < backends.Length; i++)
            {
                var index = (start + i) % backends.Length;
                if (Selectable(backends, index, tried, now))
                    return index;
            }
            return -1;
        }
    }

    /// <summary>
    /// nginx's smooth weighted round robin: each choice adds every candidate's weight to its running
    /// weight, takes the largest, and takes the total off it. Weights 5:1:1 give a,a,b,a,c,a,a — exactly
    /// in proportion over every cycle, without bursts.
    /// </summary>
    private sealed class SmoothWeightedRoundRobin : LoadBalancer
    {
        private readonly Lock _lock = new();

        public override (int Index, bool Exact) Peek(Backend[] backends, long now)
        {
            lock (_lock)
            {
                // Choose's first step, on the running weights as they are, without writing them back.
                var best = -1;
                long bestWeight = 0;
                for (var i = 0; i < backends.Length; i++)
                {
                    if (!Selectable(backends, i, 0, now))
                        continue;
                    var weight = backends[i].CurrentWeight + backends[i].Weight;
                    if (best < 0 || weight > bestWeight)
                        (best, bestWeight) = (i, weight);
                }
                return (best, true);
            }
        }

        public override int Choose(Backend[] backends, ulong tried, long now)
        {
            lock (_lock)
            {
                long total = 0;
                var best = -1;
                for (var i = 0; i < backends.Length; i++)
                {
                    if (!Selectable(backends, i, tried, now))
                        continue;
                    var backend = backends[i];
                    backend.CurrentWeight += backend.Weight;
                    total += backend.Weight;
                    if (best < 0 || backend.CurrentWeight > backends[best].CurrentWeight)
                        best = i;
                }
                if (best >= 0)
                    backends[best].CurrentWeight -= total;
                return best;
            }
        }
    }

    /// <summary>The backend with the fewest requests in flight; ties go round robin, so a lone client still spreads.</summary>
    private sealed class LeastRequests : LoadBalancer
    {
        private uint _next;

        public override (int Index, bool Exact) Peek(Backend[] backends, long now)
        {
            if (backends.Length == 0)
                return (-1, true);
            var start = (int)(Volatile.Read(ref _next) % (uint)backends.Length);
            var best = -1;
            for (var i = 0; i < backends.Length; i++)
            {
                var index = (start + i) % backends.Length;
                if (Selectable(backends, index, 0, now) && (best < 0 || backends[index].State.InFlight < backends[best].State.InFlight))
                    best = index;
            }
            return (best, true);
        }

        public override int Choose(Backend[] backends, ulong tried, long now)
        {
            var start = (int)((Interlocked.Increment(ref _next) - 1) % (uint)backends.Length);
            var best = -1;
            for (var i = 0; i < backends.Length; i++)
            {
                var index = (start + i) % backends.Length;
                if (Selectable(backends, index, tried, now) && (best < 0 || backends[index].State.InFlight < backends[best].State.InFlight))
                    best = index;
            }
            return best;
        }
    }

    /// <summary>Two backends at random, the one with fewer requests in flight.</summary>
    private sealed class PowerOfTwoChoices : LoadBalancer
    {
        public override int Choose(Backend[] backends, ulong tried, long now)
        {
            var first = RandomChoice.Pick(backends, tried, now, exclude: -1);
            if (first < 0)
                return -1;
            var second = RandomChoice.Pick(backends, tried, now, exclude: first);
            return second >= 0 && backends[second].State.InFlight < backends[first].State.InFlight ? second : first;
        }
    }

    private sealed class RandomChoice : LoadBalancer
    {
        public override int Choose(Backend[] backends, ulong tried, long now) => Pick(backends, tried, now, exclude: -1);

        public static int Pick(Backend[] backends, ulong tried, long now, int exclude)
        {
            var start = System.Random.Shared.Next(backends.Length);
            for (var i = 0; i < backends.Length; i++)
            {
                var index = (start + i) % backends.Length;
                if (index != exclude && Selectable(backends, index, tried, now))
                    return index;
            }
            return -1;
        }
    }
}
