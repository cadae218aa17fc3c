using System.Buffers;
using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using Parley.Server.Connections;

namespace Parley.Benchmarks;

/// <summary>
/// A member's writer at work under load on a TLS connection: several lines queued since its last send, moved into the
/// connection's pipe in one go (what <see cref="OutboundQueue.DrainAsync(PipeWriter)"/> does before each flush), then
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
