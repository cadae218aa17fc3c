using System.Text;
using BenchmarkDotNet.Attributes;
using Parley.Protocol.Text;

namespace Parley.Benchmarks;

/// <summary>Making one received line safe to relay, against only decoding it.</summary>
[MemoryDiagnoser]
public class SanitizerBenchmarks
{
    private readonly byte[] _plain = Encoding.UTF8.GetBytes("hello there, this is a line of chat that is about sixty bytes");
    private readonly byte[] _unicode = Encoding.UTF8.GetBytes("张康: 你好，大家好！这是一行聊天 — with some ASCII too, and é");
    private readonly byte[] _hostile = Encoding.UTF8.GetBytes("\u001b[2J\u001b]0;title\u0007hi \u001b[31mred\u001b[0m \u202eevil\u2066x\u2069 tail");

    [Benchmark(Baseline = true)]
    public string DecodeOnly() => Encoding.UTF8.GetString(_plain);

    [Benchmark]
    public string PlainAscii() => TextSanitizer.Sanitize(_plain);

    [Benchmark]
    public string Unicode() => TextSanitizer.Sanitize(_unicode);

    [Benchmark]
    public string EscapesAndBidi() => TextSanitizer.Sanitize(_hostile);
}
