using System.Buffers;
using FsCheck.Xunit;
using Parley.Protocol.Chat;
using Parley.Protocol.Framing;
using Parley.Protocol.Text;

namespace Parley.Protocol.Tests;

/// <summary>
/// Properties over random input: what must hold for every byte string a stranger can send, not just the cases
/// we thought of. A counterexample FsCheck finds becomes a regression test in the example-based classes.
/// </summary>
public class PropertyTests
{
    [Property(MaxTest = 500)]
    public bool TheLineReaderFindsTheSameLinesHoweverTheBytesAreSplit(byte[] bytes, byte[] cuts)
    {
        const int Max = 64;
        var expected = ReadLines(new ReadOnlySequence<byte>(bytes), Max);

        // Cut the same bytes into segments at the places `cuts` picks, as TCP might deliver them.
        var points = cuts.Select(c => bytes.Length == 0 ? 0 : c % (bytes.Length + 1)).Distinct().Order().ToList();
        var parts = new List<byte[]>();
        int start = 0;
        foreach (int point in points.Append(bytes.Length))
        {
            if (point > start)
            {
                parts.Add(bytes[start..point]);
                start = point;
            }
        }

        var actual = ReadLines(parts.Count == 0 ? ReadOnlySequence<byte>.Empty : SegmentedSequence.Create([.. parts]), Max);
        return expected.SequenceEqual(actual);
    }

    [Property(MaxTest = 500)]
    public bool ALineIsNeverLongerThanTheLimitAndNeverHoldsALineFeed(byte[] bytes)
    {
        var reader = new LineReader(16);
        var buffer = new ReadOnlySequence<byte>(bytes);
        while (reader.TryRead(ref buffer, out var line) is var found && found != LineReadResult.NeedMoreData)
        {
            if (found == LineReadResult.Line && (line.Length > 16 || line.ToArray().Contains((byte)'\n')))
            {
                return false;
            }
        }

        return true;
    }

    [Property(MaxTest = 1000)]
    public bool SanitisedTextHoldsNoControlEscapeOrBidiCharacterAndIsStable(byte[] bytes)
    {
        string clean = TextSanitizer.Sanitize(bytes);
        bool safe = clean.All(c => c == '\t' || (!char.IsControl(c) && !TextSanitizer.IsBidiControl(c)));
        return safe && TextSanitizer.Sanitize(clean) == clean;
    }

    [Property(MaxTest = 1000)]
    public bool SanitisingAStringNeverThrowsAndRemovesEveryEscape(string? text)
    {
        string clean = TextSanitizer.Sanitize(text ?? string.Empty);
        return !clean.Contains('\u001b') && !clean.Contains('\u009b');
    }

    [Property(MaxTest = 1000)]
    public bool ParsingAnyLineGivesAKindAndNeverThrows(string? text)
    {
        var input = ChatInput.Parse(text ?? string.Empty);
        return Enum.IsDefined(input.Kind) && input.Argument is not null && input.Text is not null;
    }

    [Property(MaxTest = 1000)]
    public bool AnAcceptedNameHasNoSpaceControlFormatOrBidiCharacterAndAStableKey(string? text)
    {
        if (!ChatNames.TryNormalize(text ?? string.Empty, out string name, out _))
        {
            return true;
        }

        bool clean = name.Length > 0 && !name.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || TextSanitizer.IsBidiControl(c)
            || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format);
        return clean && ChatNames.Key(name) == ChatNames.Key(ChatNames.Key(name));
    }

    private static List<string> ReadLines(ReadOnlySequence<byte> buffer, int max)
    {
        var reader = new LineReader(max);
        var lines = new List<string>();
        while (reader.TryRead(ref buffer, out var line) is var found && found != LineReadResult.NeedMoreData)
        {
            lines.Add(found == LineReadResult.Line ? Convert.ToHexString(line.ToArray()) : "<too long>");
        }

        lines.Add("rest:" + Convert.ToHexString(buffer.ToArray()));
        return lines;
    }
}
