using Parley.Protocol.Chat;
using Parley.Protocol.Formats;
using Parley.Protocol.Framing;
using Parley.Server.Chat;

namespace Parley.Server.Irc;

// Channels and messages: JOIN, PART, PRIVMSG, NOTICE, TOPIC, KICK.
internal sealed partial class IrcSink
{
    // A 353 line stays well inside 512 bytes with the prefix, the nick and the channel around the names.
    private const int NamesLineBytes = 400;

    // A burst of PRIVMSGs to one channel from one read is relayed as one run of at most this much text, as the line
    // protocol relays a burst of lines: one fan-out, and one wake-up of each reader, for the run instead of per line.
    private const int MaxRunChars = 16 * 1024;

    private readonly List<string> _pending = [];
    private ChatRoom? _pendingRoom;
    private int _pendingChars;

    // PRIVMSG and NOTICE go to at most this many targets at once (TARGMAX in ISUPPORT).
    private const int MaxTargets = 4;

    private async ValueTask JoinAsync(IrcMessage message)
    {
        if (message.Parameters.Count == 0)
        {
            Numeric("461", "JOIN", "Not enough parameters");
            return;
        }

        if (message[0] == "0")
        {
            foreach (var room in Member.Rooms)
            {
                await PartAsync(IrcFormatter.Channel(room.Name), "left all channels");
            }

            return;
        }

        string[] keys = message[1].Split(',');
        string[] channels = message[0].Split(',', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < channels.Length; i++)
        {
            string channel = channels[i];
            if (i < keys.Length && keys[i].Length > 0)
            {
                Numeric("475", channel, "Cannot join channel (+k): channels here have no keys");
                continue;
            }

            if (!channel.StartsWith('#') || channel.Length == 1)
            {
                Numeric("403", channel, "No such channel (channel names start with #)");
                continue;
            }

            var result = await session.JoinAsync(channel, Greet);
            if (result.Error != ChatError.AlreadyInRoom)
            {
                Reply(result, "JOIN", channel);
            }
        }
    }

    // Queued under the room's delivery gate before its replay: JOIN, the topic and the names, as clients expect them.
    private void Greet(ChatRoom room)
    {
        string channel = IrcFormatter.Channel(room.Name);
        Send(new ChatEvent(ChatEventType.Join, DateTimeOffset.UtcNow) { Room = room.Name, From = Member.Name });
        SendTopic(room, quietWhenNone: true);
        SendNames(room, includeSelf: true);
    }

    private void SendTopic(ChatRoom room, bool quietWhenNone)
    {
        string channel = IrcFormatter.Channel(room.Name);
        if (ChatSession.Topic(room) is { } topic)
        {
            Numeric("332", channel, topic.Text);
            if (topic.From.Length > 0)
            {
                Numeric("333", channel, IrcFormatter.Prefix(topic.From, Server), topic.Timestamp.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        else if (!quietWhenNone)
        {
            Numeric("331", channel, "No topic is set");
        }
    }

    // Past the presence limit the room lists its first names only, as /who does: listing everyone on every join costs N².
    private void SendNames(ChatRoom room, bool includeSelf)
    {
        string channel = IrcFormatter.Channel(room.Name);
        var who = session.WhoWithModes(room);
        var names = who.Select(m => ChannelPrefix(m.Operator, m.Voiced) + m.Name).ToList();
        if (includeSelf && !who.Any(m => m.Name == Member.Name))
        {
            // Greeted before the room's roster has the member: one who finds the room empty is creating it, and is its operator.
            names.Add((who.Length == 0 ? "@" : string.Empty) + Member.Name);
        }

        var line = new System.Text.StringBuilder();
        foreach (string name in names.Select(n => Has("userhost-in-names") ? UserHostInNames(n) : n))
        {
            if (line.Length > 0 && line.Length + name.Length > NamesLineBytes)
            {
                Numeric("353", "=", channel, line.ToString());
                line.Clear();
            }

            line.Append(line.Length > 0 ? " " : string.Empty).Append(name);
        }

        if (line.Length > 0)
        {
            Numeric("353", "=", channel, line.ToString());
        }

        Numeric("366", channel, "End of /NAMES list");
    }

    /// <summary>A member's channel prefix: <c>@</c> for an operator, <c>+</c> for a voice; both with multi-prefix.</summary>
    private string ChannelPrefix(bool op, bool voiced) =>
        Has("multi-prefix") ? (op ? "@" : string.Empty) + (voiced ? "+" : string.Empty) : op ? "@" : voiced ? "+" : string.Empty;

    private string UserHostInNames(string prefixedName)
    {
        string name = prefixedName.TrimStart('@', '+');
        string prefix = prefixedName[..(prefixedName.Length - name.Length)];
        return $"{prefix}{name}!{UserOf(session.FindLocal(name), name)}@{Server}";
    }

    private async ValueTask PartAsync(IrcMessage message)
    {
        if (message.Parameters.Count == 0)
        {
            Numeric("461", "PART", "Not enough parameters");
            return;
        }

        string reason = TextSanitizer(message[1]);
        foreach (string channel in message[0].Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            await PartAsync(channel, reason);
        }
    }

    private async ValueTask PartAsync(string channel, string reason)
    {
        if (!channel.StartsWith('#') || session.FindRoom(channel) is null)
        {
            Numeric("403", channel, "No such channel");
            return;
        }

        string room = Member.RoomByKey(ChatNames.Key(channel[1..]))?.Name ?? channel[1..];
        var result = await session.PartAsync(channel, reason);
        if (result.IsOk)
        {
            // The room is told through the hub; the member is no longer in it, so it hears its own PART from here.
            Send(new ChatEvent(ChatEventType.Leave, DateTimeOffset.UtcNow) { Room = room, From = Member.Name, Text = reason });
        }
        else
        {
            Reply(result, "PART", channel);
        }
    }

    private async ValueTask SayAsync(IrcMessage message, bool notice)
    {
        string command = notice ? "NOTICE" : "PRIVMSG";
        if (message.Parameters.Count == 0 || message[0].Length == 0)
        {
            Numeric("411", $"No recipient given ({command})");
            return;
        }

        bool action = false;
        string text = message[1];
        if (IrcCtcp.TryParse(text, out string ctcp, out string arguments))
        {
            if (ctcp != "ACTION")
            {
                // Other CTCP (VERSION, PING, DCC) has no meaning for line and web users: said, not silently dropped.
                if (!notice)
                {
                    Send(Server, "NOTICE", Target, $"CTCP {ctcp} is not relayed here; only ACTION (/me) is");
                }

                return;
            }

            action = true;
            text = arguments;
        }

        text = TextSanitizer(text);
        if (text.Length == 0)
        {
            if (!notice)
            {
                Numeric("412", "No text to send");
            }

            return;
        }

        string[] targets = message[0].Split(',', StringSplitOptions.RemoveEmptyEntries);
        if (targets.Length > MaxTargets)
        {
            // Refused whole rather than sent to some: nothing is dropped in silence.
            if (!notice)
            {
                Numeric("407", message[0], $"Too many recipients (at most {MaxTargets})");
            }

            return;
        }

        var clientTags = ClientTagsOf(message);
        if (!notice && !action && clientTags is null && targets.Length == 1 && targets[0].StartsWith('#')
            && Member.RoomByKey(ChatNames.Key(targets[0][1..])) is { } sameRoom)
        {
            await HoldForRunAsync(sameRoom, text);
            return;
        }

        await SayPendingAsync();
        foreach (string target in targets)
        {
            var result = target.StartsWith('#')
                ? await SayToRoomAsync(target, text, action, notice, clientTags)
                : await SayPrivatelyAsync(target, text, action, notice, clientTags);
            if (!notice)
            {
                Reply(result, command, target);
            }
        }
    }

    private async ValueTask HoldForRunAsync(ChatRoom room, string text)
    {
        if (_pendingRoom != room)
        {
            await SayPendingAsync();
            _pendingRoom = room;
        }

        _pending.Add(text);
        _pendingChars += text.Length;
        if (_pendingChars >= MaxRunChars)
        {
            await SayPendingAsync();
        }
    }

    /// <summary>Relays the lines held for a run, and words a refusal once for the run (its sender hears why).</summary>
    private async ValueTask SayPendingAsync()
    {
        if (_pendingRoom is not { } room)
        {
            return;
        }

        var texts = _pending.ToArray();
        _pending.Clear();
        _pendingChars = 0;
        _pendingRoom = null;
        Reply(await session.SayAsync(room, texts), "PRIVMSG", IrcFormatter.Channel(room.Name));
    }

    private async ValueTask<ChatResult> SayToRoomAsync(string channel, string text, bool action, bool notice, IReadOnlyList<KeyValuePair<string, string>>? clientTags)
    {
        if (Member.RoomByKey(ChatNames.Key(channel[1..])) is not { } room)
        {
            return session.FindRoom(channel) is null
                ? ChatResult.Fail(ChatError.InvalidRoom, channel)
                : ChatResult.Fail(ChatError.NotInRoom, channel);
        }

        return action ? await session.ActAsync(room, text) : await session.SayAsync(room, [text], notice ? IrcFormatter.NoticeCode : null, clientTags);
    }

    // A private line has no action kind: a /me travels as "/me text", which the line protocol shows as it is and IRC
    // turns back into an ACTION.
    private async ValueTask<ChatResult> SayPrivatelyAsync(string nick, string text, bool action, bool notice, IReadOnlyList<KeyValuePair<string, string>>? clientTags)
    {
        string line = action ? "/me " + text : text;
        string? code = notice ? IrcFormatter.NoticeCode : null;
        var result = await session.MessageAsync(nick, line, code, clientTags);
        if (result.IsOk && !notice && session.FindLocal(nick)?.AwayMessage is { } away)
        {
            Numeric("301", nick, away);
        }

        if (result.IsOk && Has("echo-message"))
        {
            Send(new ChatEvent(ChatEventType.Private, DateTimeOffset.UtcNow) { From = Member.Name, To = nick, Text = line, Code = code, ClientTags = clientTags });
        }

        return result;
    }

    /// <summary>
    /// TAGMSG (IRCv3 message-tags): client-only tags without text, to a channel or a nick, for the IRC clients that
    /// take client tags; the others, and line and web users, never see it.
    /// </summary>
    private async ValueTask TagAsync(IrcMessage message)
    {
        if (message.Parameters.Count == 0 || message[0].Length == 0)
        {
            Numeric("411", "No recipient given (TAGMSG)");
            return;
        }

        var clientTags = ClientTagsOf(message);
        if (clientTags is null)
        {
            return; // nothing to relay: a TAGMSG is its tags
        }

        string target = message[0];
        var result = await session.TagAsync(target, clientTags);
        if (result.IsOk && !target.StartsWith('#') && Has("echo-message") && Has("message-tags"))
        {
            Send(new ChatEvent(ChatEventType.Private, DateTimeOffset.UtcNow) { From = Member.Name, To = target, Code = ChatEvent.TagsOnlyCode, ClientTags = clientTags });
        }

        Reply(result, "TAGMSG", target);
    }

    // The client-only tags ("+name") of a message, in the order sent; the others are the server's to set, never relayed.
    private static List<KeyValuePair<string, string>>? ClientTagsOf(IrcMessage message)
    {
        List<KeyValuePair<string, string>>? tags = null;
        foreach (var tag in message.Tags)
        {
            if (tag.Key.StartsWith('+'))
            {
                (tags ??= []).Add(tag);
            }
        }

        return tags;
    }

    private async ValueTask TopicAsync(IrcMessage message)
    {
        if (message.Parameters.Count == 0)
        {
            Numeric("461", "TOPIC", "Not enough parameters");
            return;
        }

        string channel = message[0];
        if (!channel.StartsWith('#') || session.FindRoom(channel) is not { } known)
        {
            Numeric("403", channel, "No such channel");
            return;
        }

        if (message.Parameters.Count == 1)
        {
            SendTopic(known, quietWhenNone: false);
            return;
        }

        if (Member.RoomByKey(known.Key) is not { } room)
        {
            Numeric("442", channel, "You're not on that channel");
            return;
        }

        Reply(await session.SetTopicAsync(room, TextSanitizer(message[1])), "TOPIC", channel);
    }

    // KICK #chan nick[,nick] [:reason]: out of that channel only, by its channel operators (or a server operator).
    // A server operator's whole-chat kick is KILL, as the line protocol's /kick.
    private async ValueTask KickAsync(IrcMessage message)
    {
        if (message.Parameters.Count < 2)
        {
            Numeric("461", "KICK", "Not enough parameters");
            return;
        }

        string channel = message[0];
        if (!channel.StartsWith('#') || session.FindRoom(channel) is not { } room)
        {
            Numeric("403", channel, "No such channel");
            return;
        }

        if (Member.RoomByKey(room.Key) is null && !Member.IsOperator)
        {
            Numeric("442", channel, "You're not on that channel");
            return;
        }

        string reason = message.Parameters.Count > 2 && message[2].Length > 0 ? TextSanitizer(message[2]) : Member.Name;
        foreach (string nick in message[1].Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            Reply(await session.KickFromRoomAsync(room, nick, reason), "KICK", channel);
        }
    }

    // KILL nick :reason: a server operator cuts a user off the whole chat, as the line protocol's /kick does.
    private async ValueTask KillAsync(IrcMessage message)
    {
        if (message.Parameters.Count < 1 || message[0].Length == 0)
        {
            Numeric("461", "KILL", "Not enough parameters");
            return;
        }

        var result = await session.KickAsync(message[0], TextSanitizer(message[1]));
        if (result.Error == ChatError.NotOperator)
        {
            Numeric("481", "Permission Denied- You're not an IRC operator");
        }
        else
        {
            Reply(result, "KILL", message[0]);
        }
    }
}
