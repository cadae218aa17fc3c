using System.Buffers;
using System.Text;

namespace Parley.Protocol.Text;

/// <summary>
/// Makes received bytes safe to show on somebody else's terminal: invalid UTF-8 becomes U+FFFD, and control
/// characters (all but TAB), terminal escape sequences (CSI, OSC, DCS and the like, in 7-bit and 8-bit form) and
/// Unicode bidirectional overrides and isolates are removed, so nobody can paint on another user's screen or
/// make a line read backwards.
/// </summary>
public static class TextSanitizer
{
    private const char Escape = '\u001b';
    private const char Bell = '\u0007';

    // UTF8Encoding's default decoder substitutes U+FFFD for every invalid sequence, as the protocol requires.
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    public static string Sanitize(in ReadOnlySequence<byte> bytes)
    {
        if (bytes.IsSingleSegment)
        {
            return Sanitize(bytes.FirstSpan);
        }

        return Sanitize(bytes.ToArray());
    }

    public static string Sanitize(ReadOnlySpan<byte> bytes)
    {
        // The common case, printable ASCII, needs no second pass.
        if (IsPlainAscii(bytes))
        {
            return Encoding.ASCII.GetString(bytes);
        }

        return Sanitize(Utf8.GetString(bytes));
    }

    public static string Sanitize(string text)
    {
        int i = 0;
        while (i < text.Length && !NeedsWork(text[i]))
        {
            i++;
        }

        if (i == text.Length)
        {
            return text;
        }

        var result = new StringBuilder(text.Length);
        result.Append(text, 0, i);
        while (i < text.Length)
        {
            char c = text[i];
            if (c == Escape)
            {
                i = SkipEscapeSequence(text, i + 1);
                continue;
            }

            if (c == '\u009b')
            {
                i = SkipControlSequence(text, i + 1);
                continue;
            }

            if (c is '\u009d' or '\u0090' or '\u0098' or '\u009e' or '\u009f')
            {
                i = SkipStringSequence(text, i + 1);
                continue;
            }

            if (!IsRemoved(c))
            {
                result.Append(c);
            }

            i++;
        }

        return result.ToString();
    }

    /// <summary>True for the bidirectional embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069).</summary>
    public static bool IsBidiControl(char c) => c is >= '\u202a' and <= '\u202e' or >= '\u2066' and <= '\u2069';

    private static bool IsPlainAscii(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            if (b is < 0x20 or >= 0x7f && b != (byte)'\t')
            {
                return false;
            }
        }

        return true;
    }

    private static bool NeedsWork(char c) => (c < ' ' && c != '\t') || c is >= '\u007f' and <= '\u009f' || IsBidiControl(c);

    private static bool IsRemoved(char c) => NeedsWork(c);

    // After ESC: '[' starts a CSI, ']' 'P' 'X' '^' '_' start a string ended by BEL or ST; anything else is a two-character sequence.
    private static int SkipEscapeSequence(string text, int i)
    {
        if (i >= text.Length)
        {
            return i;
        }

        return text[i] switch
        {
            '[' => SkipControlSequence(text, i + 1),
            ']' or 'P' or 'X' or '^' or '_' => SkipStringSequence(text, i + 1),
            // Character-set designations (ESC ( B and friends) carry one more character.
            '(' or ')' or '*' or '+' or '-' or '.' or '/' or '#' or '%' or ' ' => i + 1 < text.Length && IsAsciiFinal(text[i + 1]) ? i + 2 : i + 1,
            // Terminals end a two-character sequence only on an ASCII final byte. Anything else stays: swallowing
            // it could take half of a surrogate pair and leave the other half alone (found by fuzzing).
            _ => IsAsciiFinal(text[i]) ? i + 1 : i,
        };
    }

    private static bool IsAsciiFinal(char c) => c is >= '0' and <= '~';

    // CSI: parameter and intermediate bytes (0x20–0x3F), then one final byte (0x40–0x7E).
    private static int SkipControlSequence(string text, int i)
    {
        while (i < text.Length && text[i] is >= ' ' and <= '?')
        {
            i++;
        }

        return i < text.Length && text[i] is >= '@' and <= '~' ? i + 1 : i;
    }

    // OSC, DCS, SOS, PM, APC: everything up to BEL, ESC \ or the 8-bit ST. An unterminated one runs to the end of the line.
    private static int SkipStringSequence(string text, int i)
    {
        while (i < text.Length)
        {
            char c = text[i];
            if (c is Bell or '\u009c')
            {
                return i + 1;
            }

            if (c == Escape)
            {
                return i + 1 < text.Length && text[i + 1] == '\\' ? i + 2 : i + 1;
            }

            i++;
        }

        return i;
    }
}
