using Parley.Server.Chat;

namespace Parley.Server.Irc;

/// <summary>IRC's words for what a command came to: a numeric and its parameters after the recipient's nick (Ergo's irc/numerics.go).</summary>
internal static class IrcWording
{
    /// <param name="result">A failed result.</param>
    /// <param name="command">The IRC command that failed, for 461 and 421.</param>
    /// <param name="subject">What the client named (a channel or a nick), when the result does not say.</param>
    public static (string Code, string[] Parameters) Describe(ChatResult result, string command, string subject = "")
    {
        string about = subject.Length > 0 ? subject : result.Subject;
        return result.Error switch
        {
            ChatError.InvalidName => ("432", [result.Subject, $"Erroneous nickname: {result.Detail}"]),
            ChatError.NameTaken => ("433", [result.Subject, "Nickname is already in use"]),
            ChatError.InvalidRoom when result.Detail.Length > 0 => ("479", [about, $"Illegal channel name: {result.Detail.Replace("a name", "a channel name", StringComparison.Ordinal)}"]),
            ChatError.InvalidRoom => ("403", [about, "No such channel"]),
            ChatError.AlreadyInRoom => ("443", [about, "You are already on that channel"]),
            ChatError.NotInRoom => command is "PRIVMSG" or "NOTICE" ? ("404", [about, "Cannot send to channel: join it first"]) : ("442", [about, "You're not on that channel"]),
            ChatError.NoSuchUser => ("401", [result.Subject.Length > 0 ? result.Subject : about, "No such nick/channel"]),
            ChatError.NotOperator => ("482", [about.Length > 0 ? about : "*", "You're not an operator (see OPER)"]),
            ChatError.WrongOperatorPassword => ("464", ["Password incorrect"]),
            ChatError.InvalidAddress => ("461", [command, "Not an IP address"]),
            ChatError.MissingArgument => ("461", [command, "Not enough parameters"]),
            ChatError.InvalidHistoryRequest => ("FAIL", [command, "INVALID_PARAMS", $"The {result.Subject} must be {result.Detail}"]),
            ChatError.HistoryUnavailable => ("FAIL", [command, "MESSAGE_ERROR", about, "History is unavailable right now (chat goes on)"]),
            ChatError.BusUnavailable => ("FAIL", [command, "MESSAGE_ERROR", about, $"Your line did not reach everyone: the other servers of this chat cannot be reached ({result.Detail})"]),
            ChatError.NotChannelOperator => ("482", [IrcChannel(result.Subject), "You're not channel operator"]),
            ChatError.UserNotInRoom => ("441", [result.Subject, IrcChannel(result.Detail), "They aren't on that channel"]),
            ChatError.TooLong => ("417", [$"Input line was too long (max {result.Detail} bytes)"]),
            ChatError.None => throw new ArgumentException("a successful result has nothing to word", nameof(result)),
            _ => throw new ArgumentOutOfRangeException(nameof(result), result.Error, "a chat error IRC has no words for"),
        };
    }

    private static string IrcChannel(string room) => room.StartsWith('#') ? room : "#" + room;
}
