using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

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
    private List<byte[]>? _queued;
    private List<byte[]>? _spare;
    private ManualResetValueTaskSourceCore<bool> _wake = new() { RunContinuationsAsynchronously = true };
    private bool _writerWaiting;
    private bool _completed;
    private long _pendingBytes;
    private int _overflowed;

    public OutboundQueue(long maxPendingBytes)
    {
        _maxPendingBytes = maxPendingBytes;
    }

    public long PendingBytes => Volatile.Read(ref _pendingBytes);

    /// <summary>True once a line did not fit: the member is too slow and is being cut off.</summary>
    public bool HasOverflowed => Volatile.Read(ref _overflowed) != 0;

    /// <summary>
    /// Queues a line unless that would pass the limit. Returns false exactly once, on the line that overflowed,
    /// so the caller can cut the member off once; later lines are dropped quietly because the member is leaving.
    /// </summary>
    public bool TryEnqueue(byte[] line)
    {
        if (HasOverflowed)
        {
            return true;
        }

        if (Interlocked.Add(ref _pendingBytes, line.Length) > _maxPendingBytes)
        {
            Interlocked.Add(ref _pendingBytes, -line.Length);
            return Interlocked.Exchange(ref _overflowed, 1) != 0;
        }

        if (!Add(line))
        {
            // Completed: the connection is closing and the line has nowhere to go.
            Interlocked.Add(ref _pendingBytes, -line.Length);
        }

        return true;
    }

    /// <summary>Queues a line past the limit and past overflow: a last word such as "disconnected: too slow".</summary>
    public void EnqueueFinal(byte[] line)
    {
        if (Add(line))
        {
            Interlocked.Add(ref _pendingBytes, line.Length);
        }
    }

    /// <summary>No more lines: the writer drains what is queued and ends.</summary>
    public void Complete()
    {
        bool wake;
        lock (_gate)
        {
            _completed = true;
            wake = _writerWaiting;
            _writerWaiting = false;
        }

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
        Recycle(lines);
        Interlocked.Add(ref _pendingBytes, -written);
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

    /// <summary>
    /// The connection's only writer: takes everything queued, writes it into the pipe, and flushes once, so a
    /// burst of small lines becomes one send.
    /// </summary>
    public async Task DrainAsync(PipeWriter output)
    {
        while (await WaitForLinesAsync())
        {
            WriteQueuedTo(output);
            var flush = await output.FlushAsync();
            if (flush.IsCompleted || flush.IsCanceled)
            {
                return;
            }
        }
    }

    /// <summary>
    /// The writer loop for a plain TCP socket: everything queued goes out in one gathered send straight from the
    /// shared line arrays, with no copy into a pipe. Ends when the queue completes or the socket fails.
    /// </summary>
    public async Task DrainAsync(Socket socket)
    {
        while (await WaitForLinesAsync())
        {
            // To the back of the thread pool's queue before taking the lines: the other lines of a burst (other
            // publishers' reads, queued behind the wake-ups of every member) then join this send instead of each
            // making one of their own. At 1,000 members and 10 publishers at 100 lines/s this took p50 from 46-56 ms
            // to 21-23 ms; sends were what the time went on.
            await Task.Yield();
            try
            {
                await SendQueuedAsync(socket);
            }
            catch (Exception failure) when (failure is SocketException or ObjectDisposedException)
            {
                // Reset, or aborted by the transport: the reader sees the same and ends the connection.
                return;
            }
        }
    }

    /// <summary>Sends every line queued now to <paramref name="socket"/>, in gathered sends of the shared arrays.</summary>
    public async ValueTask SendQueuedAsync(Socket socket)
    {
        if (TakeQueued() is not { } lines)
        {
            return;
        }

        // Out of the backlog once taken, as when the writer copied them into Kestrel's pipe: the send in flight
        // holds no more than was queued, and a member that stops reading is cut off when the backlog behind it
        // fills. Waiting for the send's completion instead would count a healthy reader's last burst against it
        // until a thread-pool thread got round to the completion.
        long taken = 0;
        foreach (byte[] line in lines)
        {
            taken += line.Length;
        }

        Interlocked.Add(ref _pendingBytes, -taken);
        try
        {
            await GatherSender.SendAllAsync(socket, lines);
        }
        finally
        {
            Recycle(lines);
        }
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _wake.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _wake.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wake.OnCompleted(continuation, state, token, flags);

    // True when there are lines to write; false once completed and drained. Only the writer loop calls it.
    private ValueTask<bool> WaitForLinesAsync()
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

            (_queued ??= _spare ?? new List<byte[]>(4)).Add(line);
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
