using System.Diagnostics;
using System.IO.Pipelines;

namespace Parley.Server.Connections;

/// <summary>
/// One timer for every connection's read deadline (idle and line timeouts), instead of a cancellation source and a
/// timer per connection: at 19,000 connections those cost about 450 bytes each, and re-arming a timer on every
/// read takes the timer queue's lock on the hot path. Arming here is one field write; a sweep ten times a second
/// cancels the pending read of every connection past its deadline, so a timeout fires up to 100 ms late.
/// </summary>
internal sealed class ReadDeadlines : IDisposable
{
    public static readonly TimeSpan Resolution = TimeSpan.FromMilliseconds(100);

    private readonly Lock _gate = new();
    private readonly HashSet<ReadDeadline> _watched = [];
    private readonly ITimer _sweep;

    public ReadDeadlines(TimeProvider time)
    {
        _sweep = time.CreateTimer(static state => ((ReadDeadlines)state!).Sweep(), this, Resolution, Resolution);
    }

    /// <summary>Watches a connection's input; dispose the result when the connection's reader ends.</summary>
    public ReadDeadline Watch(PipeReader input)
    {
        var deadline = new ReadDeadline(this, input);
        lock (_gate)
        {
            _watched.Add(deadline);
        }

        return deadline;
    }

    /// <summary>Connections watched now.</summary>
    public int Watched
    {
        get
        {
            lock (_gate)
            {
                return _watched.Count;
            }
        }
    }

    public void Dispose() => _sweep.Dispose();

    internal void Forget(ReadDeadline deadline)
    {
        lock (_gate)
        {
            _watched.Remove(deadline);
        }
    }

    private void Sweep()
    {
        long now = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            foreach (var deadline in _watched)
            {
                deadline.ExpireIfDue(now);
            }
        }
    }
}

/// <summary>One connection's read deadline, armed before each read.</summary>
internal sealed class ReadDeadline(ReadDeadlines owner, PipeReader input) : IDisposable
{
    private const long Disarmed = 0;
    private const long Expired = -1;
    private long _due;

    /// <summary>True when the last armed deadline passed before the read it guarded returned.</summary>
    public bool HasExpired => Volatile.Read(ref _due) == Expired;

    /// <summary>The next read must return within <paramref name="wait"/>.</summary>
    public void Arm(TimeSpan wait) => Volatile.Write(ref _due, Stopwatch.GetTimestamp() + (long)(wait.TotalSeconds * Stopwatch.Frequency));

    public void Disarm() => Volatile.Write(ref _due, Disarmed);

    public void Dispose() => owner.Forget(this);

    internal void ExpireIfDue(long now)
    {
        long due = Volatile.Read(ref _due);
        // The exchange only wins against the deadline it saw: a reader that re-armed meanwhile keeps its new one,
        // and then sees at most one spurious cancelled read, which it ignores.
        if (due > 0 && now >= due && Interlocked.CompareExchange(ref _due, Expired, due) == due)
        {
            input.CancelPendingRead();
        }
    }
}
