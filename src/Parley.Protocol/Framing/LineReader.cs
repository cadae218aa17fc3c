using System.Buffers;

namespace Parley.Protocol.Framing;

/// <summary>What one call to <see cref="LineReader.TryRead"/> found.</summary>
public enum LineReadResult
{
    /// <summary>No complete line yet: read more input.</summary>
    NeedMoreData,

    /// <summary>A complete line, without its LF (and without a CR just before it).</summary>
    Line,

    /// <summary>A line passed the limit. Reported once per line; the rest of it, up to its LF, is dropped unseen.</summary>
    TooLong,
}

/// <summary>
/// Splits LF-terminated lines out of a byte buffer without copying and without buffering an over-long line:
/// once a line passes the limit the reader only looks for its LF and drops everything before it, so a client
/// sending 10 MiB with no newline costs the server no more than one read buffer.
/// LF never occurs inside a multi-byte UTF-8 character, so splitting on bytes before decoding is safe.
/// </summary>
public struct LineReader
{
    private const byte LineFeed = (byte)'\n';
    private const byte CarriageReturn = (byte)'\r';

    private bool _discarding;

    public LineReader(int maxLineBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineBytes, 1);
        MaxLineBytes = maxLineBytes;
    }

    public int MaxLineBytes { get; }

    /// <summary>True while the rest of an over-long line is being dropped.</summary>
    public readonly bool IsDiscarding => _discarding;

    /// <summary>
    /// Looks for the next line at the start of <paramref name="buffer"/> and slices the buffer past whatever it consumed.
    /// </summary>
    public LineReadResult TryRead(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line)
    {
        line = default;
        var reader = new SequenceReader<byte>(buffer);
        if (_discarding)
        {
            if (!reader.TryAdvanceTo(LineFeed))
            {
                buffer = buffer.Slice(buffer.End);
                return LineReadResult.NeedMoreData;
            }

            _discarding = false;
            buffer = buffer.Slice(reader.Position);
            // The error was already reported when the line first passed the limit; carry on with the next one.
            return TryRead(ref buffer, out line);
        }

        if (reader.TryReadTo(out ReadOnlySequence<byte> content, LineFeed))
        {
            buffer = buffer.Slice(reader.Position);
            if (EndsWithCarriageReturn(content))
            {
                content = content.Slice(0, content.Length - 1);
            }

            if (content.Length > MaxLineBytes)
            {
                return LineReadResult.TooLong;
            }

            line = content;
            return LineReadResult.Line;
        }

        // One byte of slack for a CR that may still be followed by its LF.
        if (buffer.Length > MaxLineBytes + 1)
        {
            _discarding = true;
            buffer = buffer.Slice(buffer.End);
            return LineReadResult.TooLong;
        }

        return LineReadResult.NeedMoreData;
    }

    private static bool EndsWithCarriageReturn(in ReadOnlySequence<byte> content)
    {
        if (content.IsEmpty)
        {
            return false;
        }

        if (content.IsSingleSegment)
        {
            return content.FirstSpan[^1] == CarriageReturn;
        }

        return content.Slice(content.Length - 1).FirstSpan[0] == CarriageReturn;
    }
}
