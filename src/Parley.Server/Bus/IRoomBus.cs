using Microsoft.Extensions.Logging;
using Parley.Protocol.Chat;
using Parley.Server.History;
using Parley.Server.Hosting;
using Parley.Server.Names;

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

    /// <summary>
    /// A channel mode changed (the notice, a <see cref="ChatEventType.Mode"/> event, says which): <c>+o</c>/<c>-o</c>
    /// and <c>+v</c>/<c>-v</c> for <see cref="PresenceChange.Member"/>, <c>+t</c>/<c>-t</c> for the room.
    /// </summary>
    ModeChanged,
}

/// <summary>
/// A change to who is in a room. Every node applies it to its roster; <see cref="Notice"/>, when there is one, is the
/// line members are shown (a join, a leave, a rename), and null when nobody is to be told (a guest that only listens).
/// </summary>
public sealed record PresenceChange(PresenceKind Kind, string RoomName, MemberRef Member, string Name, ChatEvent? Notice);

/// <summary>What every node does with what the bus carries: its hub delivers to its own members.</summary>
public interface IRoomBusSubscriber
{
    /// <summary>This node's name, as in every <see cref="MemberRef"/> made here.</summary>
    string NodeId { get; }

    /// <summary>Numbered room lines (messages, actions, topics), in the room's one order, to every member but the origin.</summary>
    void OnRoomLines(string roomKey, IReadOnlyList<ChatEvent> lines, MemberRef origin);

    void OnPresence(string roomKey, PresenceChange change);

    /// <summary>A private line for <paramref name="to"/>; true if this node holds it and delivered the line.</summary>
    bool OnPrivate(MemberRef to, ChatEvent line);

    /// <summary>An operator cut off a member (<c>/kick</c>); the node that holds it ends its session.</summary>
    void OnCutOff(MemberRef member, string reason, string message);

    /// <summary>An operator banned an address (<c>/ban</c>): every node refuses it and cuts off whoever it holds from there.</summary>
    void OnBan(string address, string by);

    /// <summary>
    /// Every local member in every room it is in, as <see cref="PresenceKind.Entered"/> changes (with a join notice when
    /// it is announced): what a bus across nodes publishes again when it reconnects, so the others' rosters catch up.
    /// </summary>
    IReadOnlyList<PresenceChange> LocalPresence();

    /// <summary>
    /// A local member's name was taken on another node while this one could not reach the registry (a Redis outage
    /// long enough for this node to be taken for dead): the member gets a guest name and is told why.
    /// </summary>
    ValueTask OnNameLostAsync(MemberRef member, string name);
}

/// <summary>
/// What makes several <c>parley serve</c> processes one chat (<c>--redis</c>): a bus, a name registry and a history
/// store that span the nodes, in place of the in-process ones. Parley.Server knows it only through this interface,
/// so the code that talks to Redis lives in its own project and the host that wants it (the CLI) plugs it in.
/// </summary>
public interface IChatCluster : IAsyncDisposable
{
    IRoomBus Bus { get; }

    INameRegistry Names { get; }

    IRoomHistory History { get; }

    /// <summary>
    /// Connects before anything listens. Throws <see cref="ServerStartException"/> with one line for the user when the
    /// cluster cannot be reached.
    /// </summary>
    Task ConnectAsync(ILoggerFactory loggers, CancellationToken cancellation);
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

    /// <summary>Bans an address on every other node (<see cref="IRoomBusSubscriber.OnBan"/>); the caller's node has banned it already.</summary>
    ValueTask BanAsync(string address, string by, string originNode);
}

/// <summary>The bus cannot reach the other nodes: the sender is told its line did not go out.</summary>
public sealed class BusUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
