using System.Collections.Concurrent;
using Parley.Protocol.Chat;
using Parley.Server.History;

namespace Parley.Server.Bus;

/// <summary>
/// The bus of a chat that lives in one process: publishing calls every subscribed hub at once, on the publisher's
/// thread. Several hubs may share one (tests make two hubs one chat this way, as SignalR's Redis tests do).
/// </summary>
internal sealed class InProcessRoomBus(IRoomHistory history) : IRoomBus
{
    private readonly ConcurrentDictionary<string, RoomSequence> _rooms = new(StringComparer.Ordinal);
    private IRoomBusSubscriber[] _subscribers = [];

    public void Subscribe(IRoomBusSubscriber subscriber)
    {
        lock (_rooms)
        {
            Volatile.Write(ref _subscribers, [.. _subscribers, subscriber]);
        }
    }

    public async ValueTask OpenRoomAsync(string roomKey, CancellationToken cancellation = default)
    {
        if (_rooms.ContainsKey(roomKey))
        {
            return;
        }

        // Kept for the life of the process, even when the room empties: a room's ids never restart.
        long lastId = await history.LastIdAsync(roomKey, cancellation);
        _rooms.TryAdd(roomKey, new RoomSequence(lastId));
    }

    public ValueTask<IReadOnlyList<ChatEvent>> PublishLinesAsync(string roomKey, ChatEvent[] lines, MemberRef origin)
    {
        var room = _rooms.GetOrAdd(roomKey, static _ => new RoomSequence(0));
        // One gate per room: ids are handed out in the order lines are delivered, so every member sees the room's
        // lines in one order and ids only increase. Delivery only queues, so no I/O happens under it.
        lock (room.Gate)
        {
            for (int i = 0; i < lines.Length; i++)
            {
                lines[i] = lines[i] with { Id = ++room.LastId };
            }

            foreach (var subscriber in Volatile.Read(ref _subscribers))
            {
                subscriber.OnRoomLines(roomKey, lines, origin);
            }
        }

        return ValueTask.FromResult<IReadOnlyList<ChatEvent>>(lines);
    }

    public ValueTask PublishPresenceAsync(string roomKey, PresenceChange change)
    {
        var room = _rooms.GetOrAdd(roomKey, static _ => new RoomSequence(0));
        lock (room.Gate)
        {
            foreach (var subscriber in Volatile.Read(ref _subscribers))
            {
                subscriber.OnPresence(roomKey, change);
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<bool> SendPrivateAsync(MemberRef to, ChatEvent line)
    {
        foreach (var subscriber in Volatile.Read(ref _subscribers))
        {
            if (subscriber.OnPrivate(to, line))
            {
                return ValueTask.FromResult(true);
            }
        }

        return ValueTask.FromResult(false);
    }

    public ValueTask CutOffAsync(MemberRef member, string reason, string message)
    {
        foreach (var subscriber in Volatile.Read(ref _subscribers))
        {
            subscriber.OnCutOff(member, reason, message);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask BanAsync(string address, string by, string originNode)
    {
        foreach (var subscriber in Volatile.Read(ref _subscribers))
        {
            if (subscriber.NodeId != originNode)
            {
                subscriber.OnBan(address, by);
            }
        }

        return ValueTask.CompletedTask;
    }

    private sealed class RoomSequence(long lastId)
    {
        public long LastId = lastId;

        public Lock Gate { get; } = new();
    }
}
