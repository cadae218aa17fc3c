using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Parley.Protocol.Chat;
using Parley.Server.Connections;
using Parley.Server.History;
using Parley.Server.Hosting;
using Parley.Server.Logging;

namespace Parley.Server.Chat;

/// <summary>
/// The one place where chat commands mean something, for every front end: say, act, nick, join, part, msg, who,
/// rooms, topic, history, oper, kick, ban, quit, and the rule that a guest is introduced when it first speaks or
/// takes a name. Results are typed (<see cref="ChatResult"/>); each front end words them in its own protocol.
/// </summary>
/// <remarks>A session belongs to one connection and is called from its reader loop only, one command at a time.</remarks>
internal sealed class ChatSession(ChatHub hub, ChatMember member, ServerOptions options, ConnectionLimiter limiter, ILogger logger)
{
    /// <summary>The most lines one history page may ask for (PROTOCOL.md).</summary>
    public const int MaxHistoryPage = 500;

    /// <summary>Lines a history page has when the client names no count.</summary>
    public const int DefaultHistoryPage = 20;

    public ChatMember Member { get; } = member;

    /// <summary>The room plain lines go to, for front ends that have one (the line protocol); null before the first room.</summary>
    public ChatRoom? CurrentRoom { get; private set; }

    /// <summary>Enters the lobby, where every new line-protocol connection starts.</summary>
    public async ValueTask<ChatResult> StartAsync() => await JoinAsync(ChatHub.Lobby);

    /// <summary>Lines of text to a room; the first one introduces a guest.</summary>
    /// <param name="code"><c>notice</c> for IRC's NOTICE (see <see cref="ChatHub.PublishAsync"/>).</param>
    public async ValueTask<ChatResult> SayAsync(ChatRoom room, IReadOnlyList<string> texts, string? code = null, IReadOnlyList<KeyValuePair<string, string>>? clientTags = null)
    {
        // A channel operator may have put the member out of its current room.
        if (Member.RoomByKey(room.Key) is null)
        {
            return ChatResult.Fail(ChatError.NotInRoom, room.Name);
        }

        await hub.IntroduceAsync(Member);
        return await hub.PublishAsync(Member, room, ChatEventType.Message, texts, code, clientTags);
    }

    public async ValueTask<ChatResult> ActAsync(ChatRoom room, string text)
    {
        if (text.Length == 0)
        {
            return ChatResult.Fail(ChatError.MissingArgument, "me");
        }

        if (Member.RoomByKey(room.Key) is null)
        {
            return ChatResult.Fail(ChatError.NotInRoom, room.Name);
        }

        await hub.IntroduceAsync(Member);
        return await hub.PublishAsync(Member, room, ChatEventType.Action, [text]);
    }

    /// <summary>Takes a name; a guest is introduced under it, so its rooms only ever see the name it chose.</summary>
    public async ValueTask<ChatResult> NickAsync(string name)
    {
        if (name.Length == 0)
        {
            return ChatResult.Fail(ChatError.MissingArgument, "nick");
        }

        var result = await hub.RenameAsync(Member, name);
        if (result.IsOk)
        {
            ChatLog.NickChanged(logger, Member.Remote, Member.Name);
            await hub.IntroduceAsync(Member);
        }

        return result;
    }

    /// <summary>Enters a room as well as those the member is in (IRC, the web page); it becomes the current room.</summary>
    /// <param name="greet">The front end's own words for entering, queued before the room's replay (see <see cref="ChatHub.EnterAsync"/>).</param>
    public async ValueTask<ChatResult> JoinAsync(string room, Action<ChatRoom>? greet = null)
    {
        if (room.Length == 0)
        {
            return ChatResult.Fail(ChatError.MissingArgument, "join");
        }

        var (result, entered) = await hub.EnterAsync(Member, TrimChannelPrefix(room), greet);
        if (result.IsOk)
        {
            CurrentRoom = entered;
        }

        return result;
    }

    /// <summary>Makes a room the member is already in its current room (the web page's tabs); false when it is not in it.</summary>
    public bool Focus(string room)
    {
        if (Member.RoomByKey(ChatNames.Key(TrimChannelPrefix(room))) is not { } joined)
        {
            return false;
        }

        CurrentRoom = joined;
        return true;
    }

    /// <summary>The line protocol's <c>/join</c>: enters the room and leaves the current one.</summary>
    public async ValueTask<ChatResult> MoveAsync(string room)
    {
        var previous = CurrentRoom;
        var result = await JoinAsync(room);
        if (result.IsOk && previous is not null)
        {
            await hub.LeaveAsync(Member, previous, reason: string.Empty);
        }

        return result;
    }

    public async ValueTask<ChatResult> PartAsync(string room, string reason)
    {
        string key = ChatNames.Key(TrimChannelPrefix(room));
        if (Member.RoomByKey(key) is not { } joined)
        {
            return ChatResult.Fail(ChatError.NotInRoom, TrimChannelPrefix(room));
        }

        var result = await hub.LeaveAsync(Member, joined, reason);
        if (CurrentRoom == joined)
        {
            CurrentRoom = Member.Rooms.LastOrDefault();
        }

        return result;
    }

    /// <summary>A private line to one user, wherever they are.</summary>
    public async ValueTask<ChatResult> MessageAsync(string to, string text, string? code = null, IReadOnlyList<KeyValuePair<string, string>>? clientTags = null)
    {
        if (to.Length == 0 || text.Length == 0)
        {
            return ChatResult.Fail(ChatError.MissingArgument, "msg");
        }

        return await hub.SendPrivateAsync(Member, to, text, code, clientTags);
    }

    /// <summary>IRC's TAGMSG: client tags without text, to a room the member is in or to one user.</summary>
    public async ValueTask<ChatResult> TagAsync(string target, IReadOnlyList<KeyValuePair<string, string>> clientTags)
    {
        if (!target.StartsWith('#'))
        {
            return await hub.SendPrivateAsync(Member, target, string.Empty, ChatEvent.TagsOnlyCode, clientTags);
        }

        if (Member.RoomByKey(ChatNames.Key(target[1..])) is not { } room)
        {
            return FindRoom(target) is null ? ChatResult.Fail(ChatError.InvalidRoom, target) : ChatResult.Fail(ChatError.NotInRoom, target);
        }

        return hub.PublishTags(Member, room, clientTags);
    }

    public ChatEvent Who(ChatRoom room) => hub.Who(room);

    public (string Name, bool Operator, bool Voiced)[] WhoWithModes(ChatRoom room) => hub.WhoWithModes(room);

    public ChatEvent Rooms() => hub.Rooms();

    /// <summary>A room this node knows (someone here is or was in it), joined or not: IRC may ask about any channel.</summary>
    public ChatRoom? FindRoom(string room) => hub.FindRoom(TrimChannelPrefix(room));

    /// <summary>Whether someone holds the name, on any node.</summary>
    public ValueTask<bool> IsOnlineAsync(string name) => hub.IsOnlineAsync(name);

    /// <summary>The member on this node with that name, if there is one (for what only this node knows: its rooms).</summary>
    public ChatMember? FindLocal(string name) => hub.FindLocal(name);

    /// <summary>Members on this node whose names match (IRC's WHO with a mask), at most <paramref name="limit"/>.</summary>
    public ChatMember[] FindLocal(Func<string, bool> match, int limit) => hub.FindLocal(match, limit);

    /// <summary>Members connected to this node.</summary>
    public int LocalMembers => hub.LocalMemberCount;

    /// <summary>The room's topic line, or null when it has none.</summary>
    public static ChatEvent? Topic(ChatRoom room) => room.Topic;

    public async ValueTask<ChatResult> SetTopicAsync(ChatRoom room, string text)
    {
        await hub.IntroduceAsync(Member);
        return await hub.SetTopicAsync(Member, room, text);
    }

    /// <summary>A page of the room's history, oldest first; <paramref name="query"/>'s limit must be 1 to 500.</summary>
    public async ValueTask<(ChatResult Result, IReadOnlyList<ChatEvent> Lines)> HistoryAsync(ChatRoom room, HistoryQuery query)
    {
        if (query.Limit is < 1 or > MaxHistoryPage)
        {
            return (ChatResult.Fail(ChatError.InvalidHistoryRequest, "count", $"between 1 and {MaxHistoryPage}"), []);
        }

        if (query.Direction != HistoryDirection.Latest && query.Id < 0)
        {
            return (ChatResult.Fail(ChatError.InvalidHistoryRequest, "id", "a message id, 0 or more"), []);
        }

        return await hub.ReadHistoryAsync(room, query);
    }

    /// <summary>Grants operator rights for the right password; without an operator password nobody can become one.</summary>
    public ChatResult Oper(string secret)
    {
        bool right = options.OperatorPassword is { } password
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(password));
        Member.IsOperator |= right;
        ChatLog.OperatorAttempt(logger, Member.Remote, Member.Name, right);
        return right ? ChatResult.Ok : ChatResult.Fail(ChatError.WrongOperatorPassword);
    }

    public async ValueTask<ChatResult> KickAsync(string name, string reason)
    {
        if (!Member.IsOperator)
        {
            return ChatResult.Fail(ChatError.NotOperator, "kick");
        }

        return name.Length == 0 ? ChatResult.Fail(ChatError.MissingArgument, "kick") : await hub.KickAsync(Member, name, reason);
    }

    /// <summary>A channel mode change (<c>+o</c>, <c>-v</c>, <c>+t</c>, …) by a channel or server operator.</summary>
    public ValueTask<ChatResult> SetModeAsync(ChatRoom room, string mode, string? name) => hub.SetModeAsync(Member, room, mode, name);

    /// <summary>Puts a member out of one room; only its channel operators and server operators may.</summary>
    public ValueTask<ChatResult> KickFromRoomAsync(ChatRoom room, string name, string reason) => hub.KickFromRoomAsync(Member, room, name, reason);

    /// <summary>Refuses an address until the server restarts and cuts off whoever is connected from it.</summary>
    public (ChatResult Result, IPAddress? Address, int CutOff) Ban(string address)
    {
        if (!Member.IsOperator)
        {
            return (ChatResult.Fail(ChatError.NotOperator, "ban"), null, 0);
        }

        if (!IPAddress.TryParse(address, out var ip))
        {
            return (ChatResult.Fail(ChatError.InvalidAddress, address), null, 0);
        }

        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }

        limiter.Ban(ip);
        return (ChatResult.Ok, ip, hub.KickAddress(ip, Member));
    }

    /// <summary>
    /// <see cref="Ban"/>, then the same on every other node of the chat. When they cannot be reached the ban holds here
    /// and the result says so (<see cref="ChatError.BusUnavailable"/>).
    /// </summary>
    public async ValueTask<(ChatResult Result, IPAddress? Address, int CutOff)> BanAsync(string address)
    {
        var (result, ip, cutOff) = Ban(address);
        if (result.IsOk && !await hub.SpreadBanAsync(ip!, Member))
        {
            result = ChatResult.Fail(ChatError.BusUnavailable, address, "the ban holds on this server only");
        }

        return (result, ip, cutOff);
    }

    /// <summary>The member leaves every room and frees its name; the rooms are told why.</summary>
    public ValueTask EndAsync(string reason) => hub.DisconnectAsync(Member, reason);

    // IRC users and line users alike write #dev; the room is dev.
    private static string TrimChannelPrefix(string room) => room.StartsWith('#') ? room[1..] : room;
}
