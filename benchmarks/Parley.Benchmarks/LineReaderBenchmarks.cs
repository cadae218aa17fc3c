using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using Parley.Protocol.Framing;

namespace Parley.Benchmarks;

/// <summary>Splitting one 64 KiB read of 64-byte lines: the zero-copy reader against decode-then-split.</summary>
[MemoryDiagnoser]
public class LineReaderBenchmarks
{
    private ReadOnlySequence<byte> _input;
    private byte[] _bytes = [];

    [GlobalSetup]
    public void Setup()
    {
        var text = new StringBuilder();
        while (text.Length < 64 * 1024 - 64)
        {
            text.Append("hello there, this is a line of chat that is sixty-four bytes!!\r\n");
        }

        _bytes = Encoding.UTF8.GetBytes(text.ToString());
        _input = new ReadOnlySequence<byte>(_bytes);
    }

    [Benchmark(Baseline = true)]
    public int DecodeThenSplit() => Encoding.UTF8.GetString(_bytes).Split('\n').Length;

    [Benchmark]
    public int LineReader()
    {
        var reader = new LineReader(4096);
        var buffer = _input;
        int lines = 0;
        while (reader.TryRead(ref buffer, out _) != LineReadResult.NeedMoreData)
        {
            lines++;
        }

        return lines;
    }
}
