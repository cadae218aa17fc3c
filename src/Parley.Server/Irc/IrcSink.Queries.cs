using System.Globalization;
using Parley.Protocol.Chat;
using Parley.Protocol.Formats;
using Parley.Protocol.Framing;
using Parley.Server.Chat;
using Parley.Server.History;

namespace Parley.Server.Irc;

// Questions about users and channels, user state, and history: NAMES, WHO, WHOIS, LIST, MODE, AWAY, ISON,
// USERHOST, OPER, CHATHISTORY.
internal sealed partial class IrcSink
{
    // WHO with a mask lists at most this many users.
    private const int WhoMaskLimit = 100;

    private void Names(IrcMessage message)
    {
        foreach (string channel in message[0].Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            if (channel.StartsWith('#') && session.FindRoom(channel) is { } room)
            {
                SendNames(room, includeSelf: false);
            }
            else
            {
                Numeric("366", channel, "End of /NAMES list");
            }
        }
    }

    private async ValueTask WhoAsync(IrcMessage message)
    {
        string mask = message[0];
        if (mask.StartsWith('#'))
        {
            if (session.FindRoom(mask) is { } room)
            {
                string channel = IrcFormatter.Channel(room.Name);
                foreach (var (name, op, voiced) in session.WhoWithModes(room))
                {
                    WhoReply(channel, name, ChannelPrefix(op, voiced));
                }
            }
        }
        else if (mask.Contains('*') || mask.Contains('?'))
        {
            // A mask matches the names of this node's users, listed up to a bound: WHO * must not cost O(N) lines.
            var pattern = new System.Text.RegularExpressions.Regex(
                "^" + System.Text.RegularExpressions.Regex.Escape(ChatNames.Key(mask)).Replace("\\*", ".*").Replace("\\?", ".") + "$",
                System.Text.RegularExpressions.RegexOptions.CultureInvariant,
                TimeSpan.FromMilliseconds(100));
            foreach (var member in session.FindLocal(name => pattern.IsMatch(ChatNames.Key(name)), WhoMaskLimit))
            {
                WhoReply("*", member.Name);
            }
        }
        else if (mask.Length > 0 && await session.IsOnlineAsync(mask))
        {
            WhoReply("*", session.FindLocal(mask)?.Name ?? mask);
        }

        Numeric("315", mask.Length > 0 ? mask : "*", "End of WHO list");
    }

    private void WhoReply(string channel, string name, string channelPrefix = "")
    {
        var local = session.FindLocal(name);
        string flags = (local?.AwayMessage is null ? "H" : "G") + (local?.IsOperator == true ? "*" : string.Empty) + channelPrefix;
        Numeric("352", channel, UserOf(local, name), Server, Server, name, flags, $"0 {RealNameOf(local, name)}");
    }

    // Line and web users gave no USER: their name stands for both.
    private static string UserOf(ChatMember? member, string name) => member is { UserName.Length: > 0 } ? member.UserName : name;

    private static string RealNameOf(ChatMember? member, string name) => member is { RealName.Length: > 0 } ? member.RealName : name;

    private async ValueTask WhoisAsync(IrcMessage message)
    {
        // WHOIS [server] nick: the nick is the last parameter.
        string nick = message.Parameters.Count > 0 ? message.Parameters[^1].Split(',')[0] : string.Empty;
        if (nick.Length == 0)
        {
            Numeric("431", "No nickname given");
            return;
        }

        if (!await session.IsOnlineAsync(nick))
        {
            Numeric("401", nick, "No such nick/channel");
            Numeric("318", nick, "End of /WHOIS list");
            return;
        }

        var local = session.FindLocal(nick);
        string name = local?.Name ?? nick;
        Numeric("311", name, UserOf(local, name), Server, "*", RealNameOf(local, name));
        if (local is not null && local.Rooms.Length > 0)
        {
            Numeric("319", name, string.Join(' ', local.Rooms.Select(r => ChannelPrefix(r.IsChannelOperator(local.Id), r.IsVoiced(local.Id)) + IrcFormatter.Channel(r.Name))));
        }

        Numeric("312", name, Server, "Parley");
        if (local?.IsOperator == true)
        {
            Numeric("313", name, "is an operator");
        }

        if (local?.AwayMessage is { } away)
        {
            Numeric("301", name, away);
        }

        Numeric("318", name, "End of /WHOIS list");
    }

    private void List()
    {
        Numeric("321", "Channel", "Users  Name");
        foreach (var count in session.Rooms().Rooms ?? [])
        {
            string topic = session.FindRoom(count.Room)?.Topic?.Text ?? string.Empty;
            Numeric("322", IrcFormatter.Channel(count.Room), count.Members.ToString(CultureInfo.InvariantCulture), topic);
        }

        Numeric("323", "End of /LIST");
    }

    // Parley has no channel or user modes to change: queries are answered, changes refused (a client's own +i is
    // taken as it is, since every client sends it).
    private async ValueTask ModeAsync(IrcMessage message)
    {
        string target = message[0];
        if (target.Length == 0)
        {
            Numeric("461", "MODE", "Not enough parameters");
            return;
        }

        if (target.StartsWith('#'))
        {
            if (session.FindRoom(target) is not { } room)
            {
                Numeric("403", target, "No such channel");
                return;
            }

            await ChannelModeAsync(room, message);
            return;
        }

        if (ChatNames.Key(target) != ChatNames.Key(Member.Name))
        {
            Numeric(await session.IsOnlineAsync(target) ? "502" : "401", target, "Can't change or see modes of other users");
            return;
        }

        string own = Member.IsOperator ? "+io" : "+i";
        if (message[1].Length == 0 || message[1].TrimStart('+', '-') == "i")
        {
            Numeric("221", own);
        }
        else
        {
            Numeric("501", "Unknown MODE flag: only i is known, and always set");
        }
    }

    // MODE #chan [modes [args]]: +o/-o and +v/-v take a nick, +t/-t lock the topic to channel operators, +n is
    // always on (only members send to a channel); b lists the bans, which are the server's, not a channel's.
    private async ValueTask ChannelModeAsync(ChatRoom room, IrcMessage message)
    {
        string channel = IrcFormatter.Channel(room.Name);
        string modes = message[1];
        if (modes.Length == 0)
        {
            Numeric("324", channel, room.TopicLocked ? "+nt" : "+n");
            return;
        }

        if (modes.TrimStart('+') == "b")
        {
            Numeric("368", channel, "End of channel ban list");
            return;
        }

        char sign = '+';
        int argument = 2;
        foreach (char mode in modes)
        {
            switch (mode)
            {
                case '+' or '-':
                    sign = mode;
                    break;
                case 'o' or 'v':
                    string nick = message[argument++];
                    if (nick.Length == 0)
                    {
                        Numeric("461", "MODE", "Not enough parameters");
                        return;
                    }

                    if (!await ChangeModeAsync(room, $"{sign}{mode}", nick))
                    {
                        return;
                    }

                    break;
                case 't':
                    if (!await ChangeModeAsync(room, $"{sign}t", null))
                    {
                        return;
                    }

                    break;
                case 'n' when sign == '+':
                    break;
                case 'n':
                    Numeric("472", "n", "is always set here: only members send to a channel");
                    break;
                default:
                    Numeric("472", mode.ToString(), "is unknown mode char to me");
                    break;
            }
        }
    }

    private async ValueTask<bool> ChangeModeAsync(ChatRoom room, string mode, string? nick)
    {
        var result = await session.SetModeAsync(room, mode, nick);
        Reply(result, "MODE", IrcFormatter.Channel(room.Name));
        return result.IsOk;
    }

    private void Away(IrcMessage message)
    {
        Member.AwayMessage = message[0].Length > 0 ? TextSanitizer(message[0]) : null;
        if (Member.AwayMessage is null)
        {
            Numeric("305", "You are no longer marked as being away");
        }
        else
        {
            Numeric("306", "You have been marked as being away");
        }
    }

    private async ValueTask IsOnAsync(IrcMessage message)
    {
        var online = new List<string>();
        foreach (string nick in message.Parameters.SelectMany(p => p.Split(' ', StringSplitOptions.RemoveEmptyEntries)))
        {
            if (await session.IsOnlineAsync(nick))
            {
                online.Add(nick);
            }
        }

        Numeric("303", string.Join(' ', online));
    }

    private async ValueTask UserHostAsync(IrcMessage message)
    {
        var replies = new List<string>();
        foreach (string nick in message.Parameters.Take(5))
        {
            if (await session.IsOnlineAsync(nick))
            {
                string name = session.FindLocal(nick)?.Name ?? nick;
                replies.Add($"{name}{(session.FindLocal(nick)?.IsOperator == true ? "*" : string.Empty)}=+{name}@{Server}");
            }
        }

        Numeric("302", string.Join(' ', replies));
    }

    private void Oper(IrcMessage message)
    {
        if (message.Parameters.Count < 2)
        {
            Numeric("461", "OPER", "Not enough parameters");
            return;
        }

        var result = session.Oper(message[1]);
        if (result.IsOk)
        {
            Numeric("381", "You are now an IRC operator: KILL cuts a user off the chat, KICK and MODE work in every channel");
        }
        else
        {
            Reply(result, "OPER");
        }
    }

    /// <summary>
    /// draft/chathistory on the room's history: LATEST, BEFORE, AFTER, AROUND by msgid (<c>msgid=dev:42</c>, or
    /// <c>*</c> for LATEST), answered in a <c>chathistory</c> batch. Timestamps are not supported: ids are what the
    /// history is kept by.
    /// </summary>
    private async ValueTask ChatHistoryAsync(IrcMessage message)
    {
        string subcommand = message[0].ToUpperInvariant();
        string channel = message[1];
        if (subcommand is not ("LATEST" or "BEFORE" or "AFTER" or "AROUND"))
        {
            Send(Server, "FAIL", "CHATHISTORY", subcommand is "BETWEEN" or "TARGETS" ? "INVALID_PARAMS" : "UNKNOWN_COMMAND", subcommand, "Only LATEST, BEFORE, AFTER and AROUND are supported");
            return;
        }

        if (!int.TryParse(message[3], NumberStyles.None, CultureInfo.InvariantCulture, out int limit) || limit < 1)
        {
            Send(Server, "FAIL", "CHATHISTORY", "INVALID_PARAMS", subcommand, "The limit must be a whole number, 1 or more");
            return;
        }

        if (!channel.StartsWith('#') || Member.RoomByKey(ChatNames.Key(channel[1..])) is not { } room)
        {
            Send(Server, "FAIL", "CHATHISTORY", "INVALID_TARGET", subcommand, channel, "Join the channel first; private messages are not kept");
            return;
        }

        long id = 0;
        string reference = message[2];
        bool latest = subcommand == "LATEST" && reference == "*";
        if (!latest && !(reference.StartsWith("msgid=", StringComparison.Ordinal) && IrcFormatter.TryParseMessageId(reference[6..], out id)))
        {
            Send(Server, "FAIL", "CHATHISTORY", "INVALID_PARAMS", subcommand, reference, "Messages are referred to by msgid (timestamps are not supported)");
            return;
        }

        limit = Math.Min(limit, ChatSession.MaxHistoryPage);
        var lines = new List<ChatEvent>();
        switch (subcommand)
        {
            case "LATEST" when latest:
                lines.AddRange(await PageAsync(room, HistoryQuery.Latest(limit)));
                break;
            case "LATEST":
                // LATEST after a msgid: the newest lines said after it.
                lines.AddRange((await PageAsync(room, new HistoryQuery(HistoryDirection.After, id, ChatSession.MaxHistoryPage))).TakeLast(limit));
                break;
            case "BEFORE":
                lines.AddRange(await PageAsync(room, new HistoryQuery(HistoryDirection.Before, id, limit)));
                break;
            case "AFTER":
                lines.AddRange(await PageAsync(room, new HistoryQuery(HistoryDirection.After, id, limit)));
                break;
            case "AROUND":
                lines.AddRange(await PageAsync(room, new HistoryQuery(HistoryDirection.Before, id + 1, (limit + 1) / 2)));
                lines.AddRange(await PageAsync(room, new HistoryQuery(HistoryDirection.After, id, limit / 2)));
                break;
        }

        SendBatch("chathistory", IrcFormatter.Channel(room.Name), lines);
    }

    private async ValueTask<IReadOnlyList<ChatEvent>> PageAsync(ChatRoom room, HistoryQuery query)
    {
        var (result, lines) = await session.HistoryAsync(room, query);
        if (!result.IsOk)
        {
            Reply(result, "CHATHISTORY", IrcFormatter.Channel(room.Name));
        }

        return lines;
    }

    /// <summary>A page of history for this member alone: in a batch when it asked for batches, each line with its own time and msgid.</summary>
    private void SendBatch(string type, string channel, IReadOnlyList<ChatEvent> lines)
    {
        var format = (IrcFormatter)Member.Format;
        string? batch = Has("batch") ? NextBatchId() : null;
        if (batch is not null)
        {
            Send(Server, "BATCH", "+" + batch, type, channel);
        }

        foreach (var line in lines)
        {
            var historical = line.History ? line : line with { History = true };
            var tags = format.TagsOf(historical) ?? [];
            if (batch is not null)
            {
                tags.Insert(0, new("batch", batch));
            }

            Member.Send(OutboundMessage.Raw(format.Format(historical, tags)));
        }

        if (batch is not null)
        {
            Send(Server, "BATCH", "-" + batch);
        }
    }
}
