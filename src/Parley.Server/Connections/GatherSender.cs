using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace Parley.Server.Connections;

/// <summary>
/// Sends a list of shared line arrays to a socket in one <c>sendmsg</c>, straight from the arrays, so a line that
/// goes to a thousand members is never copied in user space. Senders are pooled and lent to a writer only for
/// the length of one send, so an idle connection holds none.
/// </summary>
internal sealed class GatherSender : SocketAsyncEventArgs, IValueTaskSource
{
    // The kernel takes at most this many pieces per sendmsg (UIO_MAXIOV), and .NET pins every buffer it is given on
    // each call, so a long queue goes out in sends of this many lines.
    private const int MaxPiecesPerSend = 1024;

    private const int PooledSenders = 256;
    private static readonly ConcurrentQueue<GatherSender> Pool = new();

    private readonly List<ArraySegment<byte>> _pieces = new(64);
    private ManualResetValueTaskSourceCore<bool> _done = new() { RunContinuationsAsynchronously = true };

    private GatherSender()
        : base(unsafeSuppressExecutionContextFlow: true)
    {
    }

    /// <summary>
    /// Sends every line, in order, with a pooled sender: the socket completes each gathered send only once every
    /// byte of it is with the kernel.
    /// </summary>
    public static async ValueTask SendAllAsync(Socket socket, List<byte[]> lines)
    {
        var sender = Pool.TryDequeue(out var pooled) ? pooled : new GatherSender();
        try
        {
            for (int start = 0; start < lines.Count; start += MaxPiecesPerSend)
            {
                await sender.SendAsync(socket, lines, start, Math.Min(MaxPiecesPerSend, lines.Count - start));
            }
        }
        finally
        {
            sender._pieces.Clear();
            sender.BufferList = null;
            if (Pool.Count < PooledSenders)
            {
                Pool.Enqueue(sender);
            }
            else
            {
                sender.Dispose();
            }
        }
    }

    private ValueTask SendAsync(Socket socket, List<byte[]> lines, int start, int count)
    {
        _pieces.Clear();
        for (int i = start; i < start + count; i++)
        {
            _pieces.Add(lines[i]);
        }

        BufferList = _pieces;
        _done.Reset();
        if (socket.SendAsync(this))
        {
            return new ValueTask(this, _done.Version);
        }

        return SocketError == SocketError.Success
            ? ValueTask.CompletedTask
            : ValueTask.FromException(new SocketException((int)SocketError));
    }

    protected override void OnCompleted(SocketAsyncEventArgs e)
    {
        if (SocketError == SocketError.Success)
        {
            _done.SetResult(true);
        }
        else
        {
            _done.SetException(new SocketException((int)SocketError));
        }
    }

    void IValueTaskSource.GetResult(short token) => _done.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _done.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _done.OnCompleted(continuation, state, token, flags);
}
