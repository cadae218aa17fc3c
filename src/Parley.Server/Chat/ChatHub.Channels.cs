using Parley.Protocol.Chat;
using Parley.Server.Bus;
using Parley.Server.Logging;

namespace Parley.Server.Chat;

// Channel operators and channel modes, as Ergo has them: whoever creates a room is its channel operator; channel
// operators (and server operators) give and take +o and +v, set +t/-t, and kick members out of the room. The state
// lives on each room's roster and travels as presence changes, so every node and every front end agrees on it.
internal sealed partial class ChatHub
{
    /// <summary>Whether the member may run the room: one of its channel operators, or a server operator.</summary>
    public static bool MayRun(ChatMember member, ChatRoom room) => member.IsOperator || room.IsChannelOperator(member.Id);

    /// <summary>
    /// One mode change on a room: <c>+o</c>/<c>-o</c>/<c>+v</c>/<c>-v</c> with a member's name, or <c>+t</c>/<c>-t</c>.
    /// A change that changes nothing is done without telling anyone, as Ergo does.
    /// </summary>
    public async ValueTask<ChatResult> SetModeAsync(ChatMember by, ChatRoom room, string mode, string? name)
    {
        if (!MayRun(by, room))
        {
            return ChatResult.Fail(ChatError.NotChannelOperator, room.Name, "change its modes");
        }

        bool on = mode[0] == '+';
        MemberRef target = by.Id;
        string? targetName = null;
        if (mode[1] is 'o' or 'v')
        {
            if (room.FindOnRoster(ChatNames.Key(name ?? string.Empty)) is not { } found)
            {
                return ChatResult.Fail(ChatError.UserNotInRoom, name ?? string.Empty, room.Name);
            }

            (target, targetName) = found;
            bool has = mode[1] == 'o' ? room.IsChannelOperator(target) : room.IsVoiced(target);
            if (has == on)
            {
                return ChatResult.Ok;
            }
        }
        else if (room.TopicLocked == on)
        {
            return ChatResult.Ok;
        }

        var notice = new ChatEvent(ChatEventType.Mode, Now) { Room = room.Name, From = by.Name, To = targetName, Text = mode };
        return await PublishChannelChangeAsync(room, new PresenceChange(PresenceKind.ModeChanged, room.Name, target, targetName ?? by.Name, notice), "MODE");
    }

    /// <summary>Puts a member out of one room (IRC's KICK); the room, the member included, is told who did it and why.</summary>
    public async ValueTask<ChatResult> KickFromRoomAsync(ChatMember by, ChatRoom room, string name, string reason)
    {
        if (!MayRun(by, room))
        {
            return ChatResult.Fail(ChatError.NotChannelOperator, room.Name, "kick its members");
        }

        if (room.FindOnRoster(ChatNames.Key(name)) is not { } found)
        {
            return ChatResult.Fail(ChatError.UserNotInRoom, name, room.Name);
        }

        var notice = new ChatEvent(ChatEventType.Kick, Now) { Room = room.Name, From = by.Name, To = found.Name, Text = reason };
        return await PublishChannelChangeAsync(room, new PresenceChange(PresenceKind.Left, room.Name, found.Member, found.Name, notice), "KICK");
    }

    private async ValueTask<ChatResult> PublishChannelChangeAsync(ChatRoom room, PresenceChange change, string command)
    {
        try
        {
            await _bus.PublishPresenceAsync(room.Key, change);
            return ChatResult.Ok;
        }
        catch (BusUnavailableException ex)
        {
            ChatLog.BusUnavailable(_logger, command, ex.Message);
            return ChatResult.Fail(ChatError.BusUnavailable, room.Name, $"the {command} was not done");
        }
    }

    // A member of this node kicked out of a room leaves its delivery; returns it when it was in the room, to be told.
    // Callers hold the room's delivery gate.
    private ChatMember? PutOut(ChatRoom room, PresenceChange change)
    {
        if (change.Member.Node != NodeId || !_local.TryGetValue(change.Member.Id, out var member) || !member.RemoveRoom(room))
        {
            return null;
        }

        room.RemoveLocal(member);
        return member;
    }
}
