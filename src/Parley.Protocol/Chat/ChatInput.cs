namespace Parley.Protocol.Chat;

/// <summary>What a client's line asks for.</summary>
public enum ChatInputKind
{
    Message,
    Nick,
    Join,
    Who,
    Rooms,
    Private,
    Action,
    Format,
    Help,
    Quit,
    Ping,
    Oper,
    Kick,
    Ban,
    Topic,
    History,
    Unknown,
}

/// <summary>One parsed client line: the kind, its first argument and the rest of the line.</summary>
/// <param name="Kind">What the line asks for.</param>
/// <param name="Argument">The first word after the command (a name, a room, a format), or the message text.</param>
/// <param name="Text">The text after the first word (<c>/msg NAME text</c>), or the reason for <c>/quit</c>.</param>
public readonly record struct ChatInput(ChatInputKind Kind, string Argument, string Text)
{
    /// <summary>
    /// Parses a line that has already been decoded and sanitised. A line starting with <c>/</c> is a command,
    /// <c>//text</c> sends <c>/text</c>, and the single word <c>exit</c> leaves, as the tutorials' client expects;
    /// <c>/say text</c> sends any text as it is, <c>exit</c> included, as IRC clients' <c>/say</c> does.
    /// </summary>
    public static ChatInput Parse(string line)
    {
        if (line == "exit")
        {
            return new(ChatInputKind.Quit, string.Empty, string.Empty);
        }

        if (!line.StartsWith('/'))
        {
            return new(ChatInputKind.Message, line, string.Empty);
        }

        if (line.StartsWith("//", StringComparison.Ordinal))
        {
            return new(ChatInputKind.Message, line[1..], string.Empty);
        }

        var rest = line.AsSpan(1);
        string command = NextWord(ref rest).ToLowerInvariant();
        if (command == "say")
        {
            return new(ChatInputKind.Message, rest.ToString(), string.Empty);
        }

        var remainder = rest.Trim().ToString();
        var kind = command switch
        {
            "nick" => ChatInputKind.Nick,
            "join" => ChatInputKind.Join,
            "who" => ChatInputKind.Who,
            "rooms" => ChatInputKind.Rooms,
            "msg" => ChatInputKind.Private,
            "me" => ChatInputKind.Action,
            "format" => ChatInputKind.Format,
            "help" => ChatInputKind.Help,
            "quit" => ChatInputKind.Quit,
            "ping" => ChatInputKind.Ping,
            "oper" => ChatInputKind.Oper,
            "kick" => ChatInputKind.Kick,
            "ban" => ChatInputKind.Ban,
            "topic" => ChatInputKind.Topic,
            "history" => ChatInputKind.History,
            _ => ChatInputKind.Unknown,
        };

        switch (kind)
        {
            case ChatInputKind.Private:
            case ChatInputKind.Kick:
                string target = NextWord(ref rest);
                return new(kind, target, rest.TrimStart(' ').ToString());
            case ChatInputKind.Action:
            case ChatInputKind.Quit:
            case ChatInputKind.Ping:
            case ChatInputKind.Oper:
            case ChatInputKind.Topic:
            case ChatInputKind.History:
                return new(kind, string.Empty, remainder);
            case ChatInputKind.Unknown:
                return new(kind, command, remainder);
            default:
                return new(kind, remainder, string.Empty);
        }
    }

    private static string NextWord(ref ReadOnlySpan<char> rest)
    {
        rest = rest.TrimStart(' ');
        int end = rest.IndexOfAny(' ', '\t');
        if (end < 0)
        {
            string word = rest.ToString();
            rest = [];
            return word;
        }

        string first = rest[..end].ToString();
        rest = rest[(end + 1)..];
        return first;
    }
}
