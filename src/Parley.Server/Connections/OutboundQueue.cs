using System.Buffers;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using Parley.Server.Logging;

namespace Parley.Server.Connections;

/// <summary>
/// A member's bounded queue of wire-ready lines, drained by its one writer loop. Lines are shared byte arrays:
/// a broadcast formats once and hands the same array to every queue, so queueing allocates nothing per
/// recipient. The bound is in bytes, because that is what a stalled reader costs the server.
/// </summary>
/// <remarks>
/// Two swapped lists under a lock rather than a Channel: an unbounded channel costs about 1.1 KiB per member even
/// when idle (its first segment and wait objects), a third of what Parley itself spends on an idle connection.
/// The writer waits on this object itself, so waiting allocates nothing either.
/// </remarks>
internal sealed class OutboundQueue : IValueTaskSource<bool>
{
    // A list that grew past this while a burst was queued is dropped once written, so an idle member goes back
    // to a small footprint.
    private const int KeptCapacity = 64;

    private readonly Lock _gate = new();
    private readonly long _maxPendingBytes;
    private readonly long _behindBytes;
    private readonly OutputBudget? _budget;
    private TaskCompletionSource? _caughtUp;
    private List<byte[]>? _queued;
    private List<byte[]>? _spare;
    private ManualResetValueTaskSourceCore<bool> _wake = new() { RunContinuationsAsynchronously = true };
    private bool _writerWaiting;
    private bool _completed;
    private long _pendingBytes;
    private int _overflowed;

    public OutboundQueue(long maxPendingBytes, long behindBytes = long.MaxValue, OutputBudget? budget = null)
    {
        _maxPendingBytes = maxPendingBytes;
        _behindBytes = behindBytes;
        _budget = budget;
    }

    public long PendingBytes => Volatile.Read(ref _pendingBytes);

    /// <summary>The backlog limit: past it the member is cut off as too slow.</summary>
    public long MaxPendingBytes => _maxPendingBytes;

    /// <summary>The server-wide budget this queue's lines count against, if any.</summary>
    public OutputBudget? Budget => _budget;

    /// <summary>True once a line did not fit: the member is too slow and is being cut off.</summary>
    public bool HasOverflowed => Volatile.Read(ref _overflowed) != 0;

    /// <summary>True while more than the behind mark is queued: publishers should wait for this reader.</summary>
    public bool IsBehind => PendingBytes > _behindBytes;

    /// <summary>
    /// Queues a line unless that would pass the limit. <see cref="EnqueueResult.Overflowed"/> comes exactly once,
    /// on the line that overflowed, so the caller can cut the member off once; later lines are dropped quietly
    /// because the member is leaving. The caller accounts queued lines to the output budget (once per broadcast,
    /// not once per recipient).
    /// </summary>
    public EnqueueResult TryEnqueue(byte[] line)
    {
        if (HasOverflowed)
        {
            return EnqueueResult.Dropped;
        }

        long pending = Interlocked.Add(ref _pendingBytes, line.Length);
        if (pending > _maxPendingBytes)
        {
            Interlocked.Add(ref _pendingBytes, -line.Length);
            return Interlocked.Exchange(ref _overflowed, 1) != 0 ? EnqueueResult.Dropped : EnqueueResult.Overflowed;
        }

        if (!Add(line))
        {
            // Completed: the connection is closing and the line has nowhere to go.
            Interlocked.Add(ref _pendingBytes, -line.Length);
            return EnqueueResult.Dropped;
        }

        return pending > _behindBytes ? EnqueueResult.Behind : EnqueueResult.Queued;
    }

    /// <summary>
    /// Completes when no more than the behind mark is queued (the writer took the rest), or the queue is done.
    /// Publishers held back for this reader await it; allocates only while the reader is behind.
    /// </summary>
    public Task WhenCaughtUpAsync()
    {
        lock (_gate)
        {
            if (_completed || PendingBytes <= _behindBytes)
            {
                return Task.CompletedTask;
            }

            _caughtUp ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _caughtUp.Task;
        }
    }

    /// <summary>Drops every line still queued (the member is being cut off for memory) and returns the bytes freed.</summary>
    public long DiscardQueued()
    {
        if (TakeQueued() is not { } lines)
        {
            return 0;
        }

        long dropped = 0;
        foreach (byte[] line in lines)
        {
            dropped += line.Length;
        }

        Recycle(lines);
        Taken(dropped);
        return dropped;
    }

    /// <summary>The connection is gone: whatever was never taken leaves the output budget.</summary>
    public void Abandon()
    {
        Complete();
        DiscardQueued();
    }

    // Lines leave the backlog, and the server's budget, when the writer takes them.
    private void Taken(long bytes)
    {
        long pending = Interlocked.Add(ref _pendingBytes, -bytes);
        _budget?.Release(bytes);
        if (pending <= _behindBytes && Volatile.Read(ref _caughtUp) is not null)
        {
            TaskCompletionSource? caughtUp;
            lock (_gate)
            {
                caughtUp = _caughtUp;
                _caughtUp = null;
            }

            caughtUp?.TrySetResult();
        }
    }

    /// <summary>Queues a line past the limit and past overflow: a last word such as "disconnected: too slow".</summary>
    public void EnqueueFinal(byte[] line)
    {
        if (Add(line))
        {
            Interlocked.Add(ref _pendingBytes, line.Length);
            _budget?.Reserve(line.Length);
        }
    }

    /// <summary>No more lines: the writer drains what is queued and ends.</summary>
    public void Complete()
    {
        bool wake;
        TaskCompletionSource? caughtUp;
        lock (_gate)
        {
            _completed = true;
            wake = _writerWaiting;
            _writerWaiting = false;
            caughtUp = _caughtUp;
            _caughtUp = null;
        }

        caughtUp?.TrySetResult();
        if (wake)
        {
            _wake.SetResult(false);
        }
    }

    /// <summary>Moves every line queued now into <paramref name="output"/>, without flushing; returns the bytes moved.</summary>
    public long WriteQueuedTo(IBufferWriter<byte> output)
    {
        if (TakeQueued() is not { } lines)
        {
            return 0;
        }

        long written = CopyAll(lines, output);
        ParleyMetrics.MessagesOut.Add(lines.Count);
        Recycle(lines);
        Taken(written);
        return written;
    }

    private List<byte[]>? TakeQueued()
    {
        lock (_gate)
        {
            if (_queued is not { Count: > 0 } queued)
            {
                return null;
            }

            _queued = _spare;
            _spare = null;
            return queued;
        }
    }

    private void Recycle(List<byte[]> lines)
    {
        lines.Clear();
        lock (_gate)
        {
            _spare ??= lines.Capacity <= KeptCapacity ? lines : null;
        }
    }

    // Fills each span the writer hands out before advancing, instead of a GetSpan/Advance pair per line: with
    // 64-byte lines those interface calls cost as much as the copying.
    private static long CopyAll(List<byte[]> lines, IBufferWriter<byte> output)
    {
        long written = 0;
        var span = output.GetSpan();
        int filled = 0;
        foreach (byte[] line in lines)
        {
            ReadOnlySpan<byte> rest = line;
            while (!rest.IsEmpty)
            {
                if (filled == span.Length)
                {
                    output.Advance(filled);
                    span = output.GetSpan();
                    filled = 0;
                }

                int count = Math.Min(rest.Length, span.Length - filled);
                rest[..count].CopyTo(span[filled..]);
                filled += count;
                rest = rest[count..];
            }

            written += line.Length;
        }

        output.Advance(filled);
        return written;
    }

    /// <summary>Sends every line queued now to <paramref name="socket"/>, in gathered sends of the shared arrays.</summary>
    public async ValueTask SendQueuedAsync(Socket socket)
    {
        if (TakeForSending() is not { } lines)
        {
            return;
        }

        try
        {
            await GatherSender.SendAllAsync(socket, lines);
        }
        finally
        {
            Recycle(lines);
        }
    }

    // Takes every queued line for a send that works from the shared arrays (a socket's gathered send).
    // They leave the backlog once taken, as when the writer copies them into Kestrel's pipe: the send in flight holds
    // no more than was queued, and a member that stops reading is cut off when the backlog behind it fills. Waiting
    // for the send's completion instead would count a healthy reader's last burst against it until a thread-pool
    // thread got round to the completion. The caller gives the list back with Recycle.
    private List<byte[]>? TakeForSending()
    {
        if (TakeQueued() is not { } lines)
        {
            return null;
        }

        long taken = 0;
        foreach (byte[] line in lines)
        {
            taken += line.Length;
        }

        Taken(taken);
        ParleyMetrics.MessagesOut.Add(lines.Count);
        return lines;
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _wake.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _wake.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wake.OnCompleted(continuation, state, token, flags);

    // True when there are lines to write; false once completed and drained. Only the connection's writer calls it.
    public ValueTask<bool> WaitForLinesAsync()
    {
        lock (_gate)
        {
            if (_queued is { Count: > 0 })
            {
                return new ValueTask<bool>(true);
            }

            if (_completed)
            {
                return new ValueTask<bool>(false);
            }

            _wake.Reset();
            _writerWaiting = true;
            return new ValueTask<bool>(this, _wake.Version);
        }
    }

    private bool Add(byte[] line)
    {
        bool wake;
        lock (_gate)
        {
            if (_completed)
            {
                return false;
            }

            // Room for one line at first: an idle member keeps this list for its welcome and nothing after it, and a
            // busy one's lists grow to its bursts once and are then reused.
            (_queued ??= _spare ?? new List<byte[]>(1)).Add(line);
            if (ReferenceEquals(_queued, _spare))
            {
                _spare = null;
            }

            wake = _writerWaiting;
            _writerWaiting = false;
        }

        // Outside the lock, and the continuation runs on the thread pool: a broadcaster never runs a recipient's
        // socket write.
        if (wake)
        {
            _wake.SetResult(true);
        }

        return true;
    }
}

/// <summary>What became of a line offered to a member's queue.</summary>
internal enum EnqueueResult
{
    /// <summary>Queued.</summary>
    Queued,

    /// <summary>Queued, and the reader is now behind: publishers should wait for it (flow control).</summary>
    Behind,

    /// <summary>Not queued: the backlog limit was passed just now. The member must be cut off.</summary>
    Overflowed,

    /// <summary>Not queued: the member is already leaving.</summary>
    Dropped,
}
