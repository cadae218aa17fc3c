using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Channels;

namespace Parley.Server.Connections;

/// <summary>
/// A member's bounded queue of wire-ready lines, drained by its one writer loop. Lines are shared byte arrays:
/// a broadcast formats once and hands the same array to every queue, so queueing allocates nothing per
/// recipient. The bound is in bytes, because that is what a stalled reader costs the server.
/// </summary>
internal sealed class OutboundQueue
{
    private readonly Channel<byte[]> _lines = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions
    {
        SingleReader = true,
        SingleWriter = false,
        // The writer loop continues on the thread pool so a broadcaster never runs a recipient's socket write.
        AllowSynchronousContinuations = false,
    });

    private readonly long _maxPendingBytes;
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

        if (!_lines.Writer.TryWrite(line))
        {
            // Completed: the connection is closing and the line has nowhere to go.
            Interlocked.Add(ref _pendingBytes, -line.Length);
        }

        return true;
    }

    /// <summary>Queues a line past the limit and past overflow: a last word such as "disconnected: too slow".</summary>
    public void EnqueueFinal(byte[] line)
    {
        if (_lines.Writer.TryWrite(line))
        {
            Interlocked.Add(ref _pendingBytes, line.Length);
        }
    }

    /// <summary>No more lines: the writer drains what is queued and ends.</summary>
    public void Complete() => _lines.Writer.TryComplete();

    /// <summary>Moves every line queued now into <paramref name="output"/>, without flushing; returns the bytes moved.</summary>
    public long WriteQueuedTo(IBufferWriter<byte> output)
    {
        long written = 0;
        while (_lines.Reader.TryRead(out var line))
        {
            output.Write(line);
            written += line.Length;
        }

        Interlocked.Add(ref _pendingBytes, -written);
        return written;
    }

    /// <summary>
    /// The connection's only writer: takes everything queued, writes it into the pipe, and flushes once, so a
    /// burst of small lines becomes one send.
    /// </summary>
    public async Task DrainAsync(PipeWriter output, CancellationToken cancellation)
    {
        while (await _lines.Reader.WaitToReadAsync(cancellation))
        {
            WriteQueuedTo(output);
            var flush = await output.FlushAsync(cancellation);
            if (flush.IsCompleted || flush.IsCanceled)
            {
                return;
            }
        }
    }
}
