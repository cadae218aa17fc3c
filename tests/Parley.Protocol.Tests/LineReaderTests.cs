using System.Buffers;
using System.Text;
using Parley.Protocol.Framing;

namespace Parley.Protocol.Tests;

public class LineReaderTests
{
    private static List<string> ReadAll(ref LineReader reader, ref ReadOnlySequence<byte> buffer, List<string>? results = null)
    {
        results ??= [];
        while (true)
        {
            var found = reader.TryRead(ref buffer, out var line);
            if (found == LineReadResult.NeedMoreData)
            {
                return results;
            }

            results.Add(found == LineReadResult.Line ? Encoding.UTF8.GetString(line.ToArray()) : "<too long>");
        }
    }

    [Fact]
    public void SplitsLinesOnLfAndDropsCrBeforeIt()
    {
        var reader = new LineReader(100);
        var buffer = new ReadOnlySequence<byte>("one\ntwo\r\n\nthree"u8.ToArray());
        var lines = ReadAll(ref reader, ref buffer);
        Assert.Equal(["one", "two", ""], lines);
        Assert.Equal("three", Encoding.UTF8.GetString(buffer.ToArray()));
    }

    [Fact]
    public void FindsALineSpreadOverSegments()
    {
        var reader = new LineReader(100);
        var buffer = SegmentedSequence.Create("he"u8.ToArray(), "ll"u8.ToArray(), "o\r"u8.ToArray(), "\nx"u8.ToArray());
        var lines = ReadAll(ref reader, ref buffer);
        Assert.Equal(["hello"], lines);
        Assert.Equal(1, buffer.Length);
    }

    [Fact]
    public void KeepsAMultiByteCharacterSplitAcrossSegmentsWhole()
    {
        byte[] zhang = Encoding.UTF8.GetBytes("张");
        var reader = new LineReader(100);
        var buffer = SegmentedSequence.Create(zhang[..1], [.. zhang[1..], (byte)'\n']);
        Assert.Equal(["张"], ReadAll(ref reader, ref buffer));
    }

    [Fact]
    public void ReportsAnOverLongLineOnceAndDiscardsItUpToItsLf()
    {
        var reader = new LineReader(8);
        var first = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(new string('x', 20)));
        var lines = ReadAll(ref reader, ref first);
        Assert.Equal(["<too long>"], lines);
        Assert.True(first.IsEmpty, "the over-long bytes are consumed, not buffered");
        Assert.True(reader.IsDiscarding);

        var second = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(new string('y', 50)));
        Assert.Empty(ReadAll(ref reader, ref second));
        Assert.True(second.IsEmpty);

        var third = new ReadOnlySequence<byte>("yyy\nok\n"u8.ToArray());
        Assert.Equal(["ok"], ReadAll(ref reader, ref third));
        Assert.False(reader.IsDiscarding);
    }

    [Fact]
    public void ALineOfExactlyTheLimitIsKeptAndOneByteMoreIsNot()
    {
        var reader = new LineReader(5);
        var buffer = new ReadOnlySequence<byte>("12345\r\n123456\nok\n"u8.ToArray());
        Assert.Equal(["12345", "<too long>", "ok"], ReadAll(ref reader, ref buffer));
    }

    [Fact]
    public void NeedsMoreDataWhileTheLineIsIncompleteAndShort()
    {
        var reader = new LineReader(5);
        var buffer = new ReadOnlySequence<byte>("12345\r"u8.ToArray());
        Assert.Equal(LineReadResult.NeedMoreData, reader.TryRead(ref buffer, out _));
        Assert.Equal(6, buffer.Length);
    }

    [Fact]
    public void EmptyInputNeedsMoreData()
    {
        var reader = new LineReader(5);
        var buffer = ReadOnlySequence<byte>.Empty;
        Assert.Equal(LineReadResult.NeedMoreData, reader.TryRead(ref buffer, out _));
    }
}
