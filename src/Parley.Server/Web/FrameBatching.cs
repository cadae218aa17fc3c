using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Parley.Server.Web;

/// <summary>
/// The upgraded connection's stream, able to gather many WebSocket frames into one write. Kestrel's upgraded
/// stream writes and flushes each frame on its own: a send per event per member, twenty to fifty times the cost of
/// the line front end's gathered send. Between <see cref="BeginBatch"/> and <see cref="EndBatchAsync"/> the frames
/// <see cref="System.Net.WebSockets.WebSocket.SendAsync(ReadOnlyMemory{byte}, System.Net.WebSockets.WebSocketMessageType, bool, CancellationToken)"/>
/// writes are kept and go out as one write and one flush; outside a batch (the socket's own pongs and close) every
/// write goes straight through.
/// </summary>
internal sealed class FrameBatchingStream(Stream inner) : Stream
{
    // One writer at a time on the connection: a batch being written and a pong the socket answers on its own.
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly Lock _gate = new();
    private readonly ArrayBufferWriter<byte> _batch = new(16 * 1024);
    private bool _batching;

    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>From now until <see cref="EndBatchAsync"/>, frames written are kept to go out together.</summary>
    public void BeginBatch()
    {
        lock (_gate)
        {
            _batching = true;
        }
    }

    /// <summary>Writes the frames kept since <see cref="BeginBatch"/> in one write, and flushes once.</summary>
    public async ValueTask EndBatchAsync(CancellationToken cancellation)
    {
        byte[]? gathered = null;
        int length;
        lock (_gate)
        {
            _batching = false;
            length = _batch.WrittenCount;
            if (length > 0)
            {
                gathered = ArrayPool<byte>.Shared.Rent(length);
                _batch.WrittenSpan.CopyTo(gathered);
                _batch.ResetWrittenCount();
            }
        }

        if (gathered is null)
        {
            return;
        }

        await _writing.WaitAsync(cancellation);
        try
        {
            await inner.WriteAsync(gathered.AsMemory(0, length), cancellation);
            await inner.FlushAsync(cancellation);
        }
        finally
        {
            _writing.Release();
            ArrayPool<byte>.Shared.Return(gathered);
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_batching)
            {
                _batch.Write(buffer.Span);
                return;
            }
        }

        await _writing.WaitAsync(cancellationToken);
        try
        {
            await inner.WriteAsync(buffer, cancellationToken);
        }
        finally
        {
            _writing.Release();
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_batching)
            {
                return; // the batch's end flushes
            }
        }

        await _writing.WaitAsync(cancellationToken);
        try
        {
            await inner.FlushAsync(cancellationToken);
        }
        finally
        {
            _writing.Release();
        }
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            _writing.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync();
        _writing.Dispose();
        await base.DisposeAsync();
    }
}

/// <summary>
/// Puts a <see cref="FrameBatchingStream"/> under the WebSocket that ASP.NET Core's middleware makes: it must be in
/// the request's features before <c>UseWebSockets</c>, which takes the upgrade feature when the request starts.
/// </summary>
internal sealed class FrameBatchingUpgradeFeature(IHttpUpgradeFeature inner) : IHttpUpgradeFeature
{
    public bool IsUpgradableRequest => inner.IsUpgradableRequest;

    /// <summary>The stream under the WebSocket, once the request was upgraded.</summary>
    public FrameBatchingStream? Stream { get; private set; }

    public async Task<Stream> UpgradeAsync()
    {
        Stream = new FrameBatchingStream(await inner.UpgradeAsync());
        return Stream;
    }

    /// <summary>The middleware: every upgradable request gets the batching stream under its WebSocket.</summary>
    public static Task Install(HttpContext context, RequestDelegate next)
    {
        if (context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } upgrade)
        {
            context.Features.Set<IHttpUpgradeFeature>(new FrameBatchingUpgradeFeature(upgrade));
        }

        return next(context);
    }
}
