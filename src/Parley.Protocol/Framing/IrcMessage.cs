using System.Text;

namespace Parley.Protocol.Framing;

/// <summary>What <see cref="IrcMessage.TryParse"/> made of a line.</summary>
public enum IrcParseResult
{
    Message,

    /// <summary>Nothing but spaces, or tags and a source with no command: ignored, as servers do.</summary>
    Empty,

    /// <summary>More than 512 bytes of message, or more than 4,094 bytes of client tags (IRCv3 message-tags): answered with 417.</summary>
    TooLong,
}

/// <summary>
/// One IRC message: <c>@tags :source COMMAND params :trailing</c> (RFC 1459 framing with IRCv3 message tags). Parsing
/// and formatting only; the front end decides what a command means.
/// </summary>
public sealed record IrcMessage(string Command, IReadOnlyList<string> Parameters)
{
    /// <summary>The message without tags, CR-LF included, as RFC 1459 bounds it.</summary>
    public const int MaxBodyBytes = 512;

    /// <summary>The tags of a message with their <c>@</c> and trailing space, as IRCv3 message-tags bounds them.</summary>
    public const int MaxTagBytes = 8191;

    /// <summary>The tag data a client may send (without <c>@</c> and the space): the rest of the 8,191 is for the server's tags.</summary>
    public const int MaxClientTagDataBytes = 4094;

    /// <summary>The longest line a reader needs to accept, without its CR-LF.</summary>
    public const int MaxLineBytes = MaxTagBytes + MaxBodyBytes - 2;

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    public string? Source { get; init; }

    /// <summary>The parameter at <paramref name="index"/>, or an empty string when there are fewer.</summary>
    public string this[int index] => index < Parameters.Count ? Parameters[index] : string.Empty;

    /// <summary>
    /// Parses one line without its line ending. Invalid UTF-8 becomes U+FFFD. The command is upper-cased; a numeric
    /// stays as it is.
    /// </summary>
    public static IrcParseResult TryParse(ReadOnlySpan<byte> line, out IrcMessage? message)
    {
        message = null;
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        if (line.Length > 0 && line[0] == (byte)'@')
        {
            int space = line.IndexOf((byte)' ');
            if (space < 0)
            {
                return line.Length - 1 > MaxClientTagDataBytes ? IrcParseResult.TooLong : IrcParseResult.Empty;
            }

            if (space - 1 > MaxClientTagDataBytes)
            {
                return IrcParseResult.TooLong;
            }

            ParseTags(Utf8.GetString(line[1..space]), tags);
            line = line[(space + 1)..];
        }

        if (line.Length + 2 > MaxBodyBytes)
        {
            return IrcParseResult.TooLong;
        }

        var rest = Utf8.GetString(line).AsSpan().TrimStart(' ');
        string? source = null;
        if (rest.StartsWith(':'))
        {
            source = NextWord(ref rest)[1..];
        }

        string command = NextWord(ref rest);
        if (command.Length == 0)
        {
            return IrcParseResult.Empty;
        }

        var parameters = new List<string>();
        while (true)
        {
            rest = rest.TrimStart(' ');
            if (rest.IsEmpty)
            {
                break;
            }

            if (rest[0] == ':')
            {
                parameters.Add(rest[1..].ToString());
                break;
            }

            parameters.Add(NextWord(ref rest));
        }

        message = new IrcMessage(command.ToUpperInvariant(), parameters) { Tags = tags, Source = source };
        return IrcParseResult.Message;
    }

    /// <summary>
    /// The wire bytes of a message, CR-LF included. The last parameter gets its <c>:</c> when it needs one (empty,
    /// holding a space, or starting with <c>:</c>); CR, LF and NUL, which would end or cut the line, become spaces.
    /// </summary>
    public static byte[] Format(IReadOnlyList<KeyValuePair<string, string>>? tags, string? source, string command, params ReadOnlySpan<string> parameters)
    {
        var line = new StringBuilder(64);
        if (tags is { Count: > 0 })
        {
            line.Append('@');
            for (int i = 0; i < tags.Count; i++)
            {
                if (i > 0)
                {
                    line.Append(';');
                }

                line.Append(tags[i].Key);
                if (tags[i].Value.Length > 0)
                {
                    line.Append('=');
                    EscapeTagValue(tags[i].Value, line);
                }
            }

            line.Append(' ');
        }

        if (source is not null)
        {
            line.Append(':').Append(source).Append(' ');
        }

        line.Append(command);
        for (int i = 0; i < parameters.Length; i++)
        {
            string parameter = parameters[i];
            line.Append(' ');
            bool last = i == parameters.Length - 1;
            if (last && (parameter.Length == 0 || parameter.Contains(' ') || parameter[0] == ':'))
            {
                line.Append(':');
            }

            int start = line.Length;
            line.Append(parameter);
            line.Replace('\r', ' ', start, parameter.Length).Replace('\n', ' ', start, parameter.Length).Replace('\0', ' ', start, parameter.Length);
        }

        line.Append("\r\n");
        return Utf8.GetBytes(line.ToString());
    }

    /// <summary>A tag value as it goes on the wire: <c>;</c>, space, <c>\</c>, CR and LF escaped.</summary>
    public static void EscapeTagValue(string value, StringBuilder into)
    {
        foreach (char c in value)
        {
            switch (c)
            {
                case ';': into.Append("\\:"); break;
                case ' ': into.Append("\\s"); break;
                case '\\': into.Append("\\\\"); break;
                case '\r': into.Append("\\r"); break;
                case '\n': into.Append("\\n"); break;
                default: into.Append(c); break;
            }
        }
    }

    /// <summary>A tag value as the sender meant it. An unknown escape stands for the character; a lone trailing <c>\</c> is dropped.</summary>
    public static string UnescapeTagValue(string value)
    {
        if (!value.Contains('\\'))
        {
            return value;
        }

        var text = new StringBuilder(value.Length);
        for (int i = 0; i < value.Length; i++)
        {
            if (value[i] != '\\')
            {
                text.Append(value[i]);
                continue;
            }

            if (++i == value.Length)
            {
                break;
            }

            text.Append(value[i] switch
            {
                ':' => ';',
                's' => ' ',
                'r' => '\r',
                'n' => '\n',
                var other => other,
            });
        }

        return text.ToString();
    }

    private static void ParseTags(string text, Dictionary<string, string> tags)
    {
        foreach (string tag in text.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            int equals = tag.IndexOf('=');
            string key = equals < 0 ? tag : tag[..equals];
            // The last of a repeated key wins, as the spec says.
            tags[key] = equals < 0 ? string.Empty : UnescapeTagValue(tag[(equals + 1)..]);
        }
    }

    private static string NextWord(ref ReadOnlySpan<char> rest)
    {
        rest = rest.TrimStart(' ');
        int end = rest.IndexOf(' ');
        string word = (end < 0 ? rest : rest[..end]).ToString();
        rest = end < 0 ? [] : rest[end..];
        return word;
    }
}

/// <summary>CTCP, the <c>\x01</c>-framed requests inside PRIVMSG and NOTICE text; ACTION is the one chat needs (<c>/me</c>).</summary>
public static class IrcCtcp
{
    public const char Delimiter = '\u0001';

    /// <summary>Splits <c>\x01ACTION waves\x01</c> into ACTION and <c>waves</c>; the closing delimiter may be missing, as clients allow.</summary>
    public static bool TryParse(string text, out string command, out string arguments)
    {
        command = arguments = string.Empty;
        if (text.Length < 2 || text[0] != Delimiter)
        {
            return false;
        }

        var body = text.AsSpan(1);
        if (body.EndsWith(Delimiter))
        {
            body = body[..^1];
        }

        int space = body.IndexOf(' ');
        command = (space < 0 ? body : body[..space]).ToString().ToUpperInvariant();
        arguments = space < 0 ? string.Empty : body[(space + 1)..].ToString();
        return command.Length > 0;
    }

    public static string Action(string text) => $"{Delimiter}ACTION {text}{Delimiter}";
}
