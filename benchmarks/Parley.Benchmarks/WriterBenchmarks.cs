using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Parley.Server.Connections;

namespace Parley.Benchmarks;

/// <summary>
/// A member's writer at work under load on a TLS connection: several lines queued since its last send, moved into the
/// connection's pipe in one go (what <see cref="OutputWriter.DrainAsync(OutboundQueue, PipeWriter)"/> does before each flush), then
/// consumed as the transport would. Per queued line this must cost little more than copying its bytes. Plain TCP
/// connections skip this copy: their writer sends from the shared lines themselves.
/// </summary>
[MemoryDiagnoser]
public class WriterBenchmarks
{
    private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
    private readonly OutboundQueue _queue = new(long.MaxValue);
    private byte[][] _lines = [];

    [Params(1, 16, 64)]
    public int LinesQueued { get; set; }

    [GlobalSetup]
    public void Setup() =>
        _lines = Enumerable.Range(0, LinesQueued).Select(i => "lobby bench7: ~B~ 7 123 456789 xxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"u8.ToArray()).ToArray();

    [Benchmark]
    public async ValueTask<long> WriteQueuedLines()
    {
        foreach (byte[] line in _lines)
        {
            _queue.TryEnqueue(line);
        }

        long written = _queue.WriteQueuedTo(_pipe.Writer);
        await _pipe.Writer.FlushAsync();
        _pipe.Reader.TryRead(out var result);
        _pipe.Reader.AdvanceTo(result.Buffer.End);
        return written;
    }
}

/// <summary>
/// A member's writer on plain TCP under load: L lines queued since its last send, handed to one gathered send on a
/// real loopback socket whose far end a background loop drains. No copy of the lines is made in user space; .NET
/// pins each line for the call and, past 8 lines, allocates the call's iovec and handle arrays.
/// </summary>
[MemoryDiagnoser]
public class SocketWriterBenchmarks
{
    private readonly OutboundQueue _queue = new(long.MaxValue);
    private byte[][] _lines = [];
    private Socket? _near;
    private Socket? _far;
    private Task? _draining;

    [Params(1, 8, 16, 64)]
    public int LinesQueued { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _lines = Enumerable.Range(0, LinesQueued).Select(i => "lobby bench7: ~B~ 7 123 456789 xxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"u8.ToArray()).ToArray();
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        _far = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _far.Connect(listener.LocalEndPoint!);
        _near = listener.Accept();
        var far = _far;
        _draining = Task.Run(async () =>
        {
            var buffer = new byte[1024 * 1024];
            while (await far.ReceiveAsync(buffer, SocketFlags.None) > 0)
            {
            }
        });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _near?.Shutdown(SocketShutdown.Send);
        _draining?.Wait(TimeSpan.FromSeconds(5));
        _near?.Dispose();
        _far?.Dispose();
    }

    [Benchmark]
    public ValueTask SendQueuedLines()
    {
        foreach (byte[] line in _lines)
        {
            _queue.TryEnqueue(line);
        }

        return _queue.SendQueuedAsync(_near!);
    }
}
