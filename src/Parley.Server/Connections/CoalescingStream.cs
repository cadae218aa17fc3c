using System.Buffers;

namespace Parley.Server.Connections;

/// <summary>
/// The upgraded connection under the server's WebSocket, gathering the frames of one writer batch into one write and
/// one flush. Without it every event to every member is its own write, flush and send through Kestrel: about 5 µs a
/// delivery, fifty times the TCP path (docs/benchmarks.md). Frames written outside a batch (pings, pongs, the close)
/// go straight through. One lock keeps whole frames from interleaving whoever writes them.
/// </summary>
internal sealed class CoalescingStream(Stream inner) : Stream
{
    // A batch is written out when it reaches this much, so one member's burst never holds more than this in hand.
    private const int FlushAt = 64 * 1024;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ArrayBufferWriter<byte> _batch = new(4096);
    private bool _batching;

    /// <summary>Frames written from now on are gathered until <see cref="EndBatchAsync"/>.</summary>
    public async ValueTask BeginBatchAsync(CancellationToken cancellation)
    {
        await _gate.WaitAsync(cancellation);
        _batching = true;
        _gate.Release();
    }

    /// <summary>Writes what the batch gathered in one write and one flush.</summary>
    public async ValueTask EndBatchAsync(CancellationToken cancellation)
    {
        await _gate.WaitAsync(cancellation);
        try
        {
            _batching = false;
            await WriteBatchAsync(cancellation);
        }
        finally
        {
            _gate.Release();
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_batching)
            {
                _batch.Write(buffer.Span);
                if (_batch.WrittenCount >= FlushAt)
                {
                    await WriteBatchAsync(cancellationToken);
                }

                return;
            }

            await inner.WriteAsync(buffer, cancellationToken);
            await inner.FlushAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async ValueTask WriteBatchAsync(CancellationToken cancellation)
    {
        if (_batch.WrittenCount == 0)
        {
            return;
        }

        await inner.WriteAsync(_batch.WrittenMemory, cancellation);
        await inner.FlushAsync(cancellation);
        _batch.ResetWrittenCount();
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    // Flushes come with every write above; a batch is flushed as a whole at its end.
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            _gate.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync();
        _gate.Dispose();
        await base.DisposeAsync();
    }
}
