using System.Buffers;
using System.Text;
using Parley.Protocol.Chat;
using Parley.Protocol.Framing;
using Parley.Protocol.Text;

namespace Parley.Fuzz;

/// <summary>One fuzz target: takes any bytes, and throws only when Parley has a bug.</summary>
public delegate void FuzzTarget(ReadOnlySpan<byte> data);

/// <summary>
/// The code every stranger's bytes go through before anything else: the line reader, the sanitisers, the command
/// parser and names, and the event parser clients run on what a server sends. Each target checks what must hold
/// (an invariant broken throws <see cref="InvariantBrokenException"/>), not only that nothing crashes.
/// </summary>
public static class FuzzTargets
{
    public static IReadOnlyDictionary<string, FuzzTarget> All { get; } = new Dictionary<string, FuzzTarget>
    {
        ["line-reader"] = LineReader,
        ["sanitizer"] = Sanitizer,
        ["chat-input"] = ChatInputAndNames,
        ["event-parser"] = EventParser,
    };

    /// <summary>
    /// The first byte picks the line limit, the second how the rest is cut into reads; the lines found must be
    /// the same however it is cut, none over the limit or holding an LF.
    /// </summary>
    public static void LineReader(ReadOnlySpan<byte> data)
    {
        if (data.Length < 2)
        {
            return;
        }

        int maxLineBytes = 1 + (data[0] % 64);
        int readSize = 1 + (data[1] % 16);
        byte[] input = data[2..].ToArray();
        var whole = ReadLines([input], maxLineBytes);
        var cut = ReadLines(input.Chunk(readSize), maxLineBytes);
        Check(
            whole.Count == cut.Count && whole.Zip(cut).All(pair => pair.First is null ? pair.Second is null : pair.Second is not null && pair.First.AsSpan().SequenceEqual(pair.Second)),
            $"the lines differ when the input arrives in reads of {readSize} bytes");
        foreach (byte[] line in whole.OfType<byte[]>())
        {
            Check(line.Length <= maxLineBytes, "a line is longer than the limit");
            Check(!line.Contains((byte)'\n'), "a line holds an LF");
        }
    }

    public static void Sanitizer(ReadOnlySpan<byte> data)
    {
        string clean = TextSanitizer.Sanitize(data);
        Check(clean.All(c => c == '\t' || (!char.IsControl(c) && !TextSanitizer.IsBidiControl(c))), "sanitised text holds a control or bidi character");
        Check(TextSanitizer.Sanitize(clean) == clean, "sanitising twice changes the text");
        Check(Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(clean)) == clean, "sanitised text is not valid UTF-16");

        byte[] raw = RawSanitizer.Sanitize(data);
        Check(raw.All(b => b >= 0x20 || b is (byte)'\t' or (byte)'\r' or (byte)'\n'), "raw sanitising left a control byte");
    }

    public static void ChatInputAndNames(ReadOnlySpan<byte> data)
    {
        string line = TextSanitizer.Sanitize(data);
        var input = ChatInput.Parse(line);
        Check(Enum.IsDefined(input.Kind), "the parser returned an unknown kind");

        if (ChatNames.TryNormalize(line, out string name, out string error))
        {
            Check(name.EnumerateRunes().Count() is > 0 and <= ChatNames.MaxLength, "an accepted name is empty or too long");
            Check(!name.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || TextSanitizer.IsBidiControl(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format), "an accepted name holds a space, control, format or bidi character");
            Check(ChatNames.TryNormalize(name, out string again, out _) && again == name, "an accepted name does not normalise to itself");
            _ = ChatNames.Key(name);
        }
        else
        {
            Check(!string.IsNullOrEmpty(error), "a refused name comes without a reason");
        }
    }

    public static void EventParser(ReadOnlySpan<byte> data)
    {
        if (ChatEventParser.TryParse(data, out var chatEvent))
        {
            string text = ChatEventFormatter.ToText(chatEvent);
            Check(TextSanitizer.Sanitize(text) == text, "an event parsed from the wire prints unsanitised text");
        }
    }

    // Each line found, or null where a line passed the limit.
    private static List<byte[]?> ReadLines(IEnumerable<byte[]> reads, int maxLineBytes)
    {
        var reader = new LineReader(maxLineBytes);
        var found = new List<byte[]?>();
        byte[] pending = [];
        foreach (byte[] read in reads)
        {
            pending = [.. pending, .. read];
            var buffer = new ReadOnlySequence<byte>(pending);
            while (reader.TryRead(ref buffer, out var line) is var result && result != LineReadResult.NeedMoreData)
            {
                found.Add(result == LineReadResult.Line ? line.ToArray() : null);
            }

            pending = buffer.ToArray();
        }

        return found;
    }

    private static void Check(bool condition, string problem)
    {
        if (!condition)
        {
            throw new InvariantBrokenException(problem);
        }
    }
}

/// <summary>An invariant that failed: a bug the fuzzer found.</summary>
public sealed class InvariantBrokenException(string message) : Exception(message);
