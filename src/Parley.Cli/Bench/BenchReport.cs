using System.Globalization;
using System.Text.Json;
using HdrHistogram;

namespace Parley.Cli.Bench;

/// <summary>What a benchmark run found: named figures in a fixed order, printed as text or as one JSON line.</summary>
internal sealed class BenchReport(string mode)
{
    private readonly List<KeyValuePair<string, object>> _figures = [new("mode", mode)];

    public BenchReport Add(string name, object value)
    {
        _figures.Add(new(name, value));
        return this;
    }

    /// <summary>Latency percentiles in microseconds, from a histogram recorded in microseconds.</summary>
    public BenchReport AddLatency(string prefix, HistogramBase histogram)
    {
        if (histogram.TotalCount == 0)
        {
            return this;
        }

        Add($"{prefix}_p50_us", histogram.GetValueAtPercentile(50));
        Add($"{prefix}_p99_us", histogram.GetValueAtPercentile(99));
        Add($"{prefix}_p999_us", histogram.GetValueAtPercentile(99.9));
        return Add($"{prefix}_max_us", histogram.GetMaxValue());
    }

    public void Print(bool json)
    {
        if (json)
        {
            // Written field by field: no reflection, so the report works in a trimmed or Native AOT build too.
            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                foreach (var (name, value) in _figures)
                {
                    switch (value)
                    {
                        case string text: writer.WriteString(name, text); break;
                        case bool flag: writer.WriteBoolean(name, flag); break;
                        case double real: writer.WriteNumber(name, real); break;
                        case IConvertible number: writer.WriteNumber(name, number.ToInt64(CultureInfo.InvariantCulture)); break;
                        default: writer.WriteString(name, Convert.ToString(value, CultureInfo.InvariantCulture)); break;
                    }
                }

                writer.WriteEndObject();
            }

            Console.Out.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
            return;
        }

        foreach (var (name, value) in _figures)
        {
            string text = value is double d ? d.ToString("0.##", CultureInfo.InvariantCulture) : Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";
            Console.Out.WriteLine($"{name,-22} {text}");
        }
    }
}

/// <summary>A progress line on stderr once a second, overwritten in place on a terminal.</summary>
internal sealed class BenchProgress : IDisposable
{
    private readonly Timer _timer;

    public BenchProgress(Func<string> describe)
    {
        bool terminal = !Console.IsErrorRedirected;
        _timer = new Timer(_ => Console.Error.Write(terminal ? $"\r\u001b[2K{describe()}" : $"{describe()}\n"), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public void Dispose()
    {
        _timer.Dispose();
        if (!Console.IsErrorRedirected)
        {
            Console.Error.Write("\r\u001b[2K");
        }
    }
}

/// <summary>Histograms record microseconds, from 1 µs to 1 minute, with 3 significant digits.</summary>
internal static class Latency
{
    public static LongHistogram NewHistogram() => new(60_000_000, 3);

    // A multiplication rather than a 64-bit division per line: at 16 M lines a second the receivers' time is the
    // bench's largest cost, and every nanosecond of it is taken from the server under test.
    private static readonly double MicrosecondsPerTick = 1_000_000.0 / System.Diagnostics.Stopwatch.Frequency;

    public static long Microseconds(long stopwatchTicks) => Math.Max(1, (long)(stopwatchTicks * MicrosecondsPerTick));

    public static long MicrosecondsSince(long stopwatchTimestamp) => Microseconds(System.Diagnostics.Stopwatch.GetTimestamp() - stopwatchTimestamp);

    public static LongHistogram Merge(IEnumerable<LongHistogram> histograms)
    {
        var total = NewHistogram();
        foreach (var histogram in histograms)
        {
            total.Add(histogram);
        }

        return total;
    }
}
