using Parley.Protocol.Chat;

namespace Parley.Server.Bus;

/// <summary>What a presence change does to a room's roster.</summary>
public enum PresenceKind
{
    /// <summary>The member is now in the room.</summary>
    Entered,

    /// <summary>A member that was listening as a guest spoke or took a name: the room may now be told it is there.</summary>
    Introduced,

    /// <summary>The member left the room.</summary>
    Left,

    /// <summary>The member's name changed (<see cref="PresenceChange.Name"/> is the new one).</summary>
    Renamed,
}

/// <summary>
/// A change to who is in a room. Every node applies it to its roster; <see cref="Notice"/>, when there is one, is the
/// line members are shown (a join, a leave, a rename), and null when nobody is to be told (a guest that only listens).
/// </summary>
public sealed record PresenceChange(PresenceKind Kind, string RoomName, MemberRef Member, string Name, ChatEvent? Notice);

/// <summary>What every node does with what the bus carries: its hub delivers to its own members.</summary>
public interface IRoomBusSubscriber
{
    /// <summary>Numbered room lines (messages, actions, topics), in the room's one order, to every member but the origin.</summary>
    void OnRoomLines(string roomKey, IReadOnlyList<ChatEvent> lines, MemberRef origin);

    void OnPresence(string roomKey, PresenceChange change);

    /// <summary>A private line for <paramref name="to"/>; true if this node holds it and delivered the line.</summary>
    bool OnPrivate(MemberRef to, ChatEvent line);

    /// <summary>An operator cut off a member (<c>/kick</c>); the node that holds it ends its session.</summary>
    void OnCutOff(MemberRef member, string reason, string message);
}

/// <summary>
/// Carries rooms between the nodes of one chat: in process by default, Redis pub/sub across processes. Every node
/// (this one included) delivers a room's lines to its local members, and all nodes see them in one order with the
/// same ids.
/// </summary>
public interface IRoomBus
{
    void Subscribe(IRoomBusSubscriber subscriber);

    /// <summary>Readies a room before its first use in this process, so its ids carry on above every id it gave before.</summary>
    ValueTask OpenRoomAsync(string roomKey, CancellationToken cancellation = default);

    /// <summary>
    /// Gives each line the room's next id, in order, and hands the numbered lines to every subscriber. Returns them
    /// numbered (for history). Throws <see cref="BusUnavailableException"/> when the other nodes cannot be reached.
    /// </summary>
    ValueTask<IReadOnlyList<ChatEvent>> PublishLinesAsync(string roomKey, ChatEvent[] lines, MemberRef origin);

    ValueTask PublishPresenceAsync(string roomKey, PresenceChange change);

    /// <summary>Sends a private line to whichever node holds <paramref name="to"/>; false if no node did.</summary>
    ValueTask<bool> SendPrivateAsync(MemberRef to, ChatEvent line);

    ValueTask CutOffAsync(MemberRef member, string reason, string message);
}

/// <summary>The bus cannot reach the other nodes: the sender is told its line did not go out.</summary>
public sealed class BusUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
