using System.Buffers;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Parley.Protocol.Chat;
using Parley.Protocol.Formats;
using Parley.Protocol.Text;
using Parley.Server.Chat;
using Parley.Server.History;
using Parley.Server.Hosting;
using Parley.Server.Logging;

namespace Parley.Server.Line;

/// <summary>
/// The line protocol on one connection: each line is parsed (<see cref="ChatInput"/>), handed to the session, and
/// the result worded as <c>! error</c> or <c>* notice</c>. Plain lines go to the current room; consecutive lines
/// from one read go together, as one burst under consecutive ids.
/// </summary>
internal sealed class LineChatSink(ChatSession session, ServerOptions options, ILogger logger, LineDialect dialect) : MemberSink(session.Member)
{
    private static readonly string[] Help =
    [
        "commands:",
        "/nick NAME          take a name",
        "/join ROOM          leave this room and enter ROOM",
        "/who                the members of this room",
        "/rooms              the rooms and how many are in each",
        "/msg NAME text      a private message",
        "/me text            an action",
        "/topic [TEXT]       show or set this room's topic",
        "/history [N]        the last N lines of this room (also: before ID [N], after ID [N])",
        "/format text|json   how the server writes to you",
        "/ping [token]       answered with pong, after everything you sent before it",
        "/oper PASSWORD      become an operator (servers started with --oper-password)",
        "/kick NAME [reason] operators: disconnect a user",
        "/ban ADDRESS        operators: disconnect and refuse an IP address until restart",
        "/quit [reason]      leave (so does the line: exit)",
        "//text              sends /text",
        "/say text           sends text as it is (even the word exit)",
    ];

    // The web page is in several rooms at once: /join adds one (or goes back to it), /part leaves one.
    private static readonly string[] SeveralRoomsHelp =
    [
        .. Help.Take(2),
        "/join ROOM          enter ROOM as well, or make it your current room",
        "/part [ROOM]        leave ROOM (this room if none)",
        .. Help.Skip(3).Where(line => !line.StartsWith("/format", StringComparison.Ordinal)),
    ];

    // A burst from one read is relayed in runs of at most this much text, each followed by the flow-control wait:
    // one read can hold a megabyte of lines, more than a reader's whole backlog.
    private const int MaxRunChars = 16 * 1024;

    // Made with the first plain line: a member that only listens never holds one.
    private List<string>? _pending;
    private int _pendingChars;
    private int _received;

    /// <summary>Enters the lobby and tells the newcomer, privately, who and where it is and how to choose a name.</summary>
    public override async ValueTask StartAsync()
    {
        var result = await session.StartAsync();
        if (!result.IsOk)
        {
            Reply(result);
            return;
        }

        Notice($"you are {Member.Name} in #{session.CurrentRoom!.Name}: /nick NAME to choose a name, /help for the commands", "welcome");
    }

    public override async ValueTask EndAsync(string reason) => await session.EndAsync(reason);

    public override async ValueTask OnBatchEndAsync()
    {
        // Counted once per read rather than per line: the counter is shared by every connection.
        if (_received > 0)
        {
            ParleyMetrics.MessagesIn.Add(_received, new KeyValuePair<string, object?>("frontend", dialect.FrontEnd));
            _received = 0;
        }

        await SayPendingAsync();
    }

    public override async ValueTask<bool> OnMessageAsync(ReadOnlySequence<byte> message)
    {
        _received++;
        var input = ChatInput.Parse(TextSanitizer.Sanitize(message));
        if (input.Kind == ChatInputKind.Message)
        {
            if (input.Argument.Length > 0)
            {
                (_pending ??= []).Add(input.Argument);
                _pendingChars += input.Argument.Length;
                if (_pendingChars >= MaxRunChars)
                {
                    await SayPendingAsync();
                }
            }

            return true;
        }

        await SayPendingAsync();
        return await DispatchAsync(input);
    }

    public override async ValueTask<bool> OnLineTooLongAsync()
    {
        await SayPendingAsync();
        ConnectionLog.LineTooLong(logger, Member.Remote, options.MaxLineBytes);
        Error($"line too long (max {options.MaxLineBytes} bytes)", "line_too_long");
        return true;
    }

    private async ValueTask SayPendingAsync()
    {
        if (_pending is not { Count: > 0 })
        {
            return;
        }

        var room = session.CurrentRoom;
        var texts = _pending.ToArray();
        _pending.Clear();
        _pendingChars = 0;
        if (room is not null)
        {
            Reply(await session.SayAsync(room, texts));
        }
    }

    private async ValueTask<bool> DispatchAsync(ChatInput input)
    {
        var room = session.CurrentRoom;
        switch (input.Kind)
        {
            case ChatInputKind.Action:
                Reply(room is null ? default : await session.ActAsync(room, input.Text));
                break;
            case ChatInputKind.Nick:
                Reply(await session.NickAsync(input.Argument));
                break;
            case ChatInputKind.Join when dialect.SeveralRooms:
                if (!session.Focus(input.Argument))
                {
                    Reply(await session.JoinAsync(input.Argument));
                }

                break;
            case ChatInputKind.Join:
                Reply(await session.MoveAsync(input.Argument));
                break;
            case ChatInputKind.Unknown when dialect.SeveralRooms && input.Argument == "part":
                await PartAsync(input.Text);
                break;
            case ChatInputKind.Private:
                Reply(await session.MessageAsync(input.Argument, input.Text));
                break;
            case ChatInputKind.Who when room is not null:
                Member.Send(new OutboundMessage(session.Who(room)));
                break;
            case ChatInputKind.Rooms:
                Member.Send(new OutboundMessage(session.Rooms()));
                break;
            case ChatInputKind.Topic when room is not null:
                await TopicAsync(room, input.Text);
                break;
            case ChatInputKind.History when room is not null:
                await HistoryAsync(room, input.Text);
                break;
            case ChatInputKind.Format when dialect.SeveralRooms:
                Error("this connection speaks JSON only", "unknown_command");
                break;
            case ChatInputKind.Format:
                SetFormat(input.Argument);
                break;
            case ChatInputKind.Help:
                foreach (string line in dialect.SeveralRooms ? SeveralRoomsHelp : Help)
                {
                    Notice(line);
                }

                break;
            case ChatInputKind.Ping:
                Member.Send(new OutboundMessage(new ChatEvent(ChatEventType.Pong, DateTimeOffset.UtcNow) { Text = input.Text }));
                break;
            case ChatInputKind.Oper:
                var oper = session.Oper(input.Text);
                if (oper.IsOk)
                {
                    Notice("you are now an operator");
                }

                Reply(oper);
                break;
            case ChatInputKind.Kick:
                Reply(await session.KickAsync(input.Argument, input.Text));
                break;
            case ChatInputKind.Ban:
                var (banned, address, cutOff) = await session.BanAsync(input.Argument);
                if (address is not null)
                {
                    Notice($"banned {address} until the server restarts; {cutOff} connection(s) cut off");
                }

                Reply(banned);
                break;
            case ChatInputKind.Quit:
                QuitReason = input.Text.Length > 0 ? input.Text : "quit";
                return false;
            case ChatInputKind.Unknown:
                Error($"unknown command /{input.Argument} (try /help)", "unknown_command");
                break;
            default:
                // A room command before the member is in any room: cannot happen once started.
                Error("you are not in a room (try /join ROOM)", "not_in_room");
                break;
        }

        return true;
    }

    // "/part", "/part dev" or "/part dev gone for lunch".
    private async ValueTask PartAsync(string arguments)
    {
        int space = arguments.IndexOf(' ', StringComparison.Ordinal);
        string room = space < 0 ? arguments : arguments[..space];
        string reason = space < 0 ? string.Empty : arguments[(space + 1)..].Trim();
        if (room.Length == 0)
        {
            room = session.CurrentRoom?.Name ?? string.Empty;
        }

        Reply(room.Length == 0 ? ChatResult.Fail(ChatError.MissingArgument, "part") : await session.PartAsync(room, reason));
    }

    private async ValueTask TopicAsync(ChatRoom room, string text)
    {
        if (text.Length > 0)
        {
            Reply(await session.SetTopicAsync(room, text));
        }
        else if (ChatSession.Topic(room) is { } topic)
        {
            Member.Send(new OutboundMessage(topic with { From = string.Empty, Id = null }));
        }
        else
        {
            Notice($"#{room.Name} has no topic (set one with /topic TEXT)");
        }
    }

    private async ValueTask HistoryAsync(ChatRoom room, string arguments)
    {
        if (!TryParseHistory(arguments, out var query, out string problem))
        {
            Error(problem, "invalid_history_request");
            return;
        }

        var (result, lines) = await session.HistoryAsync(room, query);
        if (!result.IsOk)
        {
            Reply(result);
            return;
        }

        if (lines.Count == 0)
        {
            Notice($"no history of #{room.Name} there");
            return;
        }

        var parts = new OutboundMessage[lines.Count];
        for (int i = 0; i < parts.Length; i++)
        {
            parts[i] = new OutboundMessage(lines[i].History ? lines[i] : lines[i] with { History = true });
        }

        Member.Send(OutboundMessage.Together(parts));
    }

    /// <summary>Parses <c>[N]</c>, <c>before ID [N]</c> or <c>after ID [N]</c>.</summary>
    internal static bool TryParseHistory(string arguments, out HistoryQuery query, out string problem)
    {
        const string Usage = "usage: /history [N] | /history before ID [N] | /history after ID [N]";
        query = default;
        problem = string.Empty;
        string[] words = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var direction = HistoryDirection.Latest;
        long id = 0;
        int at = 0;
        if (words.Length > 0 && (words[0].Equals("before", StringComparison.OrdinalIgnoreCase) || words[0].Equals("after", StringComparison.OrdinalIgnoreCase)))
        {
            direction = words[0].Equals("before", StringComparison.OrdinalIgnoreCase) ? HistoryDirection.Before : HistoryDirection.After;
            if (words.Length < 2 || !long.TryParse(words[1], NumberStyles.None, CultureInfo.InvariantCulture, out id))
            {
                problem = words.Length < 2 ? Usage : $"'{words[1]}' is not a message id (a whole number, 0 or more)";
                return false;
            }

            at = 2;
        }

        int count = ChatSession.DefaultHistoryPage;
        if (words.Length > at)
        {
            if (words.Length > at + 1)
            {
                problem = Usage;
                return false;
            }

            if (!int.TryParse(words[at], NumberStyles.None, CultureInfo.InvariantCulture, out count) || count is < 1 or > ChatSession.MaxHistoryPage)
            {
                problem = $"'{words[at]}' is not a count between 1 and {ChatSession.MaxHistoryPage}";
                return false;
            }
        }

        query = new HistoryQuery(direction, id, count);
        return true;
    }

    private void SetFormat(string format)
    {
        ChatFormatter? formatter = format.ToLowerInvariant() switch
        {
            "text" => TextFormatter.Instance,
            "json" => JsonFormatter.Instance,
            _ => null,
        };
        if (formatter is null)
        {
            Error("usage: /format text|json", "missing_argument");
            return;
        }

        Member.Format = formatter;
        Notice($"format is now {formatter.Name}");
    }

    private void Reply(ChatResult result)
    {
        if (!result.IsOk)
        {
            Error(LineWording.Describe(result), LineWording.Code(result.Error));
        }
    }

    private void Notice(string text, string? code = null) => Send(ChatEventType.Notice, text, code);

    private void Error(string text, string code) => Send(ChatEventType.Error, text, code);

    private void Send(ChatEventType type, string text, string? code) =>
        Member.Send(new OutboundMessage(new ChatEvent(type, DateTimeOffset.UtcNow) { Text = text, Room = session.CurrentRoom?.Name ?? string.Empty, Code = code }));
}

/// <summary>The line protocol's words for what a command came to.</summary>
internal static class LineWording
{
    public static string Describe(ChatResult result) => result.Error switch
    {
        ChatError.InvalidName => $"invalid name: {result.Detail}",
        ChatError.NameTaken => $"the name {result.Subject} is taken",
        ChatError.InvalidRoom => $"invalid room name: {result.Detail.Replace("a name", "a room name", StringComparison.Ordinal)}",
        ChatError.AlreadyInRoom => $"you are already in #{result.Subject}",
        ChatError.NotInRoom => $"you are not in #{result.Subject}",
        ChatError.NoSuchUser => $"no such user: {result.Subject}",
        ChatError.NotOperator => $"only operators may /{result.Subject} (see /oper)",
        ChatError.WrongOperatorPassword => "wrong operator password",
        ChatError.InvalidAddress => "usage: /ban ADDRESS (an IP address, such as 203.0.113.7)",
        ChatError.MissingArgument => Usage(result.Subject),
        ChatError.InvalidHistoryRequest => $"the {result.Subject} must be {result.Detail}",
        ChatError.HistoryUnavailable => $"the history of #{result.Subject} is unavailable right now (chat goes on)",
        ChatError.BusUnavailable => $"the other servers of this chat cannot be reached: {result.Detail}",
        ChatError.TooLong => $"too long (max {result.Detail} bytes)",
        ChatError.NotChannelOperator => $"only channel operators of #{result.Subject} may {result.Detail}",
        ChatError.UserNotInRoom => $"{result.Subject} is not in #{result.Detail}",
        ChatError.None => throw new ArgumentException("a successful result has nothing to word", nameof(result)),
        _ => throw new ArgumentOutOfRangeException(nameof(result), result.Error, "a chat error the line protocol has no words for"),
    };

    /// <summary>The word JSON clients test instead of the English: <c>name_taken</c>.</summary>
    public static string Code(ChatError error) => error switch
    {
        ChatError.InvalidName => "invalid_name",
        ChatError.NameTaken => "name_taken",
        ChatError.InvalidRoom => "invalid_room",
        ChatError.AlreadyInRoom => "already_in_room",
        ChatError.NotInRoom => "not_in_room",
        ChatError.NoSuchUser => "no_such_user",
        ChatError.NotOperator => "not_operator",
        ChatError.WrongOperatorPassword => "wrong_operator_password",
        ChatError.InvalidAddress => "invalid_address",
        ChatError.MissingArgument => "missing_argument",
        ChatError.InvalidHistoryRequest => "invalid_history_request",
        ChatError.HistoryUnavailable => "history_unavailable",
        ChatError.BusUnavailable => "bus_unavailable",
        ChatError.NotChannelOperator => "not_channel_operator",
        ChatError.UserNotInRoom => "user_not_in_room",
        ChatError.TooLong => "too_long",
        ChatError.None => throw new ArgumentException("a successful result has no error code", nameof(error)),
        _ => throw new ArgumentOutOfRangeException(nameof(error), error, "a chat error with no code"),
    };

    private static string Usage(string command) => command switch
    {
        "me" => "usage: /me text",
        "nick" => "usage: /nick NAME",
        "join" => "usage: /join ROOM",
        "msg" => "usage: /msg NAME text",
        "kick" => "usage: /kick NAME [reason]",
        "part" => "usage: /part [ROOM] [reason]",
        _ => $"usage: /{command} needs more (try /help)",
    };
}

/// <summary>What differs between the front ends that speak the line protocol's commands.</summary>
/// <param name="FrontEnd">The name metrics give the front end: <c>line</c>, <c>web</c>.</param>
/// <param name="SeveralRooms">True where a member is in several rooms at once (the web page): <c>/join</c> adds a room, <c>/part</c> leaves one.</param>
internal sealed record LineDialect(string FrontEnd, bool SeveralRooms)
{
    public static readonly LineDialect Tcp = new("line", SeveralRooms: false);

    public static readonly LineDialect WebSocket = new("web", SeveralRooms: true);
}
