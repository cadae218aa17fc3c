using System.Buffers;
using System.Text;
using Parley.Protocol.Chat;

namespace Parley.Server.History;

/// <summary>
/// The SQLite store's unit of writing: up to <see cref="MaxLines"/> lines of one room, in id order, packed into one
/// blob. A row per line cost the writer about 4 µs of CPU a line (the B-tree insert of every row and its seven
/// values), which a flat-out room took from the relay; a row per block costs that once for a whole batch.
/// </summary>
/// <remarks>
/// Format (version 1): one version byte, then for each line: the id as an unsigned varint difference from the
/// previous line's (the first from the block's <c>first_id</c>, so 0), the time in Unix milliseconds as a zigzag
/// varint difference from the previous line's (the first from 0), then the type name, sender, text and room display
/// name, each as a varint <c>n</c>: 0 is "the same as the previous line's", otherwise <c>n - 1</c> UTF-8 bytes follow.
/// </remarks>
internal static class HistoryBlock
{
    /// <summary>Lines in one block at most: a page read decodes a few blocks, and pruning rewrites at most one per room.</summary>
    public const int MaxLines = 256;

    private const byte FormatVersion = 1;

    /// <summary>Appends <paramref name="lines"/> (ids ascending, each once) to <paramref name="output"/> as one block.</summary>
    public static void Encode(ReadOnlySpan<ChatEvent> lines, ArrayBufferWriter<byte> output)
    {
        output.GetSpan(1)[0] = FormatVersion;
        output.Advance(1);
        long previousId = lines[0].Id!.Value;
        long previousTs = 0;
        string? type = null, from = null, room = null;
        foreach (var line in lines)
        {
            long id = line.Id!.Value;
            WriteVarint(output, (ulong)(id - previousId));
            long ts = line.Timestamp.ToUnixTimeMilliseconds();
            WriteVarint(output, ZigZag(ts - previousTs));
            WriteField(output, ChatEventFormatter.TypeName(line.Type), ref type);
            WriteField(output, line.From ?? string.Empty, ref from);
            WriteText(output, line.Text ?? string.Empty);
            WriteField(output, line.Room ?? string.Empty, ref room);
            previousId = id;
            previousTs = ts;
        }
    }

    /// <summary>Adds the lines of a block whose first id is <paramref name="firstId"/> to <paramref name="into"/>, marked as history.</summary>
    /// <exception cref="InvalidDataException">The block is not one this version can read.</exception>
    public static void Decode(ReadOnlySpan<byte> block, long firstId, List<ChatEvent> into)
    {
        if (block.IsEmpty || block[0] != FormatVersion)
        {
            throw new InvalidDataException($"a history block of format {(block.IsEmpty ? "none" : block[0].ToString(System.Globalization.CultureInfo.InvariantCulture))}, this version reads {FormatVersion}");
        }

        int at = 1;
        long id = firstId;
        long ts = 0;
        string? typeName = null, from = null, room = null, text = null;
        var type = ChatEventType.Message;
        while (at < block.Length)
        {
            id += (long)ReadVarint(block, ref at);
            ts += UnZigZag(ReadVarint(block, ref at));
            var previousType = typeName;
            typeName = ReadField(block, ref at, typeName);
            if (!ReferenceEquals(previousType, typeName))
            {
                // A type this version does not know (written by a newer one) still shows, as a message.
                type = ChatEventFormatter.TryParseTypeName(typeName, out var known) ? known : ChatEventType.Message;
            }

            from = ReadField(block, ref at, from);
            text = ReadField(block, ref at, null);
            room = ReadField(block, ref at, room);
            into.Add(new ChatEvent(type, DateTimeOffset.FromUnixTimeMilliseconds(ts))
            {
                Id = id,
                From = from,
                Text = text,
                Room = room,
                History = true,
            });
        }
    }

    private static void WriteField(ArrayBufferWriter<byte> output, string value, ref string? previous)
    {
        if (previous is not null && string.Equals(previous, value, StringComparison.Ordinal))
        {
            WriteVarint(output, 0);
            return;
        }

        previous = value;
        WriteText(output, value);
    }

    private static void WriteText(ArrayBufferWriter<byte> output, string value)
    {
        // One pass over the text: encode after room for the longest length prefix, then move it up if it was shorter.
        int most = Encoding.UTF8.GetMaxByteCount(value.Length);
        var span = output.GetSpan(most + 5);
        int length = Encoding.UTF8.GetBytes(value, span[5..]);
        int prefix = VarintLength((ulong)length + 1);
        WriteVarint(span, (ulong)length + 1);
        if (prefix != 5)
        {
            span.Slice(5, length).CopyTo(span[prefix..]);
        }

        output.Advance(prefix + length);
    }

    private static string ReadField(ReadOnlySpan<byte> block, ref int at, string? previous)
    {
        ulong marker = ReadVarint(block, ref at);
        if (marker == 0)
        {
            return previous ?? throw new InvalidDataException("a history block repeats a field its first line does not have");
        }

        ulong length = marker - 1;
        if (length > (ulong)(block.Length - at))
        {
            throw new InvalidDataException("a history block ends inside a line");
        }

        string value = Encoding.UTF8.GetString(block.Slice(at, (int)length));
        at += (int)length;
        return value;
    }

    private static void WriteVarint(ArrayBufferWriter<byte> output, ulong value) => output.Advance(WriteVarint(output.GetSpan(10), value));

    private static int WriteVarint(Span<byte> span, ulong value)
    {
        int n = 0;
        while (value >= 0x80)
        {
            span[n++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[n++] = (byte)value;
        return n;
    }

    private static int VarintLength(ulong value)
    {
        int n = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            n++;
        }

        return n;
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> block, ref int at)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (at >= block.Length)
            {
                throw new InvalidDataException("a history block ends inside a number");
            }

            byte b = block[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new InvalidDataException("a history block has a number longer than 64 bits");
    }

    private static ulong ZigZag(long value) => (ulong)((value << 1) ^ (value >> 63));

    private static long UnZigZag(ulong value) => (long)(value >> 1) ^ -(long)(value & 1);
}
