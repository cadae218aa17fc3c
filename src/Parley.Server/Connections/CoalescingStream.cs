using System.IO.Pipelines;

namespace Parley.Server.Connections;

/// <summary>
/// The upgraded connection under the server's WebSocket. The member's writer copies its queued events into it as
/// whole frames, framed once per message (<see cref="Web.WebSocketFrameFormatter"/>), all of them in one flush;
/// the WebSocket's own frames (pings, pongs, the close) go straight through. Framing each event for each member
/// through <c>WebSocket.SendAsync</c> cost about 2.5 µs a delivery, twenty-five times the TCP path
/// (docs/benchmarks.md). One lock keeps whole frames from interleaving whoever writes them.
/// </summary>
/// <remarks>
/// Given the connection's own output pipe (Kestrel's transport, under the upgraded stream), the frames are copied
/// straight into it, as lines are on a TLS connection, rather than through the stream's layers of HTTP response
/// writing. The stream writes into the same pipe, and only under the same lock, so the two never interleave and
/// the order stays the order written (the 101 response first).
/// </remarks>
internal sealed class CoalescingStream(Stream inner, PipeWriter? transport = null) : Stream
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    // Without the transport: buffers from the shared pool, given back at each flush, so a quiet connection holds none.
    private PipeWriter? _frames = transport;

    /// <summary>
    /// Writes every frame queued now in <paramref name="queue"/> into the connection, with one flush; the frames
    /// leave the member's backlog as they are copied, as lines do on TCP.
    /// </summary>
    public async ValueTask WriteQueuedAsync(OutboundQueue queue, CancellationToken cancellation)
    {
        await _gate.WaitAsync(cancellation);
        try
        {
            _frames ??= PipeWriter.Create(inner, new StreamPipeWriterOptions(minimumBufferSize: 16 * 1024, leaveOpen: true));
            queue.WriteQueuedTo(_frames);
            var flushed = await _frames.FlushAsync(cancellation);
            if (flushed.IsCompleted || flushed.IsCanceled)
            {
                throw new IOException("the connection is closed");
            }
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
            await inner.WriteAsync(buffer, cancellationToken);
            await inner.FlushAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    // Flushes come with every write above.
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
