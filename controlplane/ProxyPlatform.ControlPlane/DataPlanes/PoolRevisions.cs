namespace ProxyPlatform.ControlPlane.DataPlanes;

/// <summary>
/// A pool's recent revisions and when each was committed, oldest first: what a worker's lag and the
/// convergence of each revision are measured against. Bounded by age and by count; below
/// <see cref="Floor"/> the log may lack revisions of the pool (they aged out, or were never loaded).
/// </summary>
public sealed class PoolRevisions(TimeSpan maxAge, int maxCount)
{
    /// <summary>How long revisions are kept: the window of the convergence figures.</summary>
    public static readonly TimeSpan DefaultMaxAge = TimeSpan.FromHours(1);
    /// <summary>At most this many revisions per pool; a busier pool keeps its newest.</summary>
    public const int DefaultMaxCount = 10_000;

    private readonly List<(long Revision, DateTimeOffset CommittedAt)> _log = [];

    /// <summary>Every revision of the pool above this one is in the log; at or below it, some may not be.</summary>
    public long Floor { get; private set; }

    /// <summary>The pool's newest revision the log knows, or <see cref="Floor"/> when it holds none.</summary>
    public long Latest => _log.Count > 0 ? Math.Max(_log[^1].Revision, Floor) : Floor;

    public int Count => _log.Count;

    /// <summary>
    /// Starts from what PostgreSQL remembers: the pool's newest commits, and the newest of its commits that
    /// were left out of them (too old, or past a limit), below which the log knows nothing.
    /// </summary>
    public void Load(IEnumerable<(long Revision, DateTimeOffset CommittedAt)> commits, long? leftOut, DateTimeOffset now)
    {
        _log.Clear();
        Floor = leftOut ?? 0;
        foreach (var commit in commits.OrderBy(c => c.Revision))
        {
            if (commit.Revision > Floor)
                Insert(commit.Revision, commit.CommittedAt);
        }
        Trim(now);
    }

    /// <summary>Records revisions committed at <paramref name="at"/>; returns those it did not know yet.</summary>
    public List<long> Add(IEnumerable<long> revisions, DateTimeOffset at, DateTimeOffset now)
    {
        var added = new List<long>();
        foreach (var revision in revisions)
        {
            if (revision > Floor && Insert(revision, at))
                added.Add(revision);
        }
        Trim(now);
        return added;
    }

    /// <summary>When <paramref name="revision"/> was committed, or null when the log does not hold it.</summary>
    public DateTimeOffset? CommittedAt(long revision)
    {
        var i = IndexAbove(revision - 1);
        return i < _log.Count && _log[i].Revision == revision ? _log[i].CommittedAt : null;
    }

    /// <summary>The logged revisions in (<paramref name="after"/>, <paramref name="through"/>], oldest first.</summary>
    public IEnumerable<(long Revision, DateTimeOffset CommittedAt)> Between(long after, long through)
    {
        for (var i = IndexAbove(after); i < _log.Count && _log[i].Revision <= through; i++)
            yield return _log[i];
    }

    /// <summary>
    /// How many logged revisions lie above <paramref name="applied"/>, and when the oldest of them was
    /// committed (null when none). Exact when <paramref name="applied"/> is at or above <see cref="Floor"/>.
    /// </summary>
    public (int Revisions, DateTimeOffset? Oldest) After(long applied)
    {
        var i = IndexAbove(applied);
        return (_log.Count - i, i < _log.Count ? _log[i].CommittedAt : null);
    }

    /// <summary>Drops what is older than the window or beyond the count, raising <see cref="Floor"/> past it.</summary>
    public void Trim(DateTimeOffset now)
    {
        var drop = 0;
        while (drop < _log.Count && (_log.Count - drop > maxCount || now - _log[drop].CommittedAt > maxAge))
            drop++;
        if (drop == 0)
            return;
        Floor = Math.Max(Floor, _log[drop - 1].Revision);
        _log.RemoveRange(0, drop);
    }

    private bool Insert(long revision, DateTimeOffset at)
    {
        var i = IndexAbove(revision - 1);
        if (i < _log.Count && _log[i].Revision == revision)
            return false;
        _log.Insert(i, (revision, at));
        return true;
    }

    /// <summary>The index of the first logged revision above <paramref name="revision"/>.</summary>
    private int IndexAbove(long revision)
    {
        int lo = 0, hi = _log.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_log[mid].Revision <= revision)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }
}
