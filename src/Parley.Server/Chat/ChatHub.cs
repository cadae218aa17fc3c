using Parley.Protocol.Chat;
using Parley.Server.Connections;
using Parley.Server.Logging;

namespace Parley.Server.Chat;

/// <summary>
/// Owns names (unique server-wide), rooms and membership. Changes happen under one lock and publish new
/// immutable snapshots; relaying a message takes only its room's gate and never waits on a member.
/// </summary>
internal sealed partial class ChatHub
{
    public const string Lobby = "lobby";

    private readonly Lock _gate = new();
    private readonly Dictionary<string, ChatMember> _membersByKey = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ChatRoom> _roomsByKey = new(StringComparer.Ordinal);
    private readonly ChatRoom _rawRoom = new("raw");
    private readonly TimeProvider _time;
    private long _lastGuestNumber;
    private bool _shuttingDown;

    public ChatHub(TimeProvider time)
    {
        _time = time;
        _roomsByKey[ChatNames.Key(Lobby)] = new ChatRoom(Lobby);
    }

    private DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Registers a new connection as <c>guest-N</c> in the lobby. It hears the room at once; the room hears of it later.</summary>
    public ChatMember Connect(string remote, OutboundQueue queue)
    {
        lock (_gate)
        {
            string guest;
            do
            {
                guest = $"guest-{++_lastGuestNumber}";
            }
            while (_membersByKey.ContainsKey(ChatNames.Key(guest)));

            var member = new ChatMember(remote, guest, queue);
            _membersByKey[ChatNames.Key(guest)] = member;
            var lobby = _roomsByKey[ChatNames.Key(Lobby)];
            lobby.Add(member);
            member.Room = lobby;
            if (_shuttingDown)
            {
                member.End("server shutting down", ShutdownNotice());
            }

            return member;
        }
    }

    /// <summary>Tells the room, and the member itself, that it joined. Does nothing the second time.</summary>
    public void AnnounceJoin(ChatMember member)
    {
        lock (_gate)
        {
            if (member.IsAnnounced || member.Room is not { } room)
            {
                return;
            }

            member.IsAnnounced = true;
            Broadcast(room, new ChatEvent(ChatEventType.Join, Now) { Room = room.Name, From = member.Name }, except: null);
        }
    }

    /// <summary>A line of text from a member to everyone else in its room.</summary>
    public void Say(ChatMember member, string text) => Relay(member, ChatEventType.Message, text);

    /// <summary>
    /// Lines of text one read brought from a member, relayed as one: each recipient gets them in one queue entry,
    /// in order and under consecutive ids, so a burst costs each recipient one enqueue instead of one per line.
    /// </summary>
    public void Say(ChatMember member, IReadOnlyList<string> texts)
    {
        if (texts.Count == 1)
        {
            Say(member, texts[0]);
            return;
        }

        var room = member.Room;
        if (room is null || texts.Count == 0)
        {
            return;
        }

        ParleyMetrics.ChatMessages.Add(texts.Count);
        lock (room.BroadcastGate)
        {
            var lines = new OutboundMessage[texts.Count];
            var now = Now;
            for (int i = 0; i < lines.Length; i++)
            {
                lines[i] = RoomLine(room, member, ChatEventType.Message, texts[i], now);
            }

            SendToRoom(room, OutboundMessage.Together(lines), except: member);
        }
    }

    /// <summary>An action (<c>/me</c>) to everyone else in the member's room.</summary>
    public void Act(ChatMember member, string text) => Relay(member, ChatEventType.Action, text);

    /// <summary>Takes a new name; returns what is wrong, or null.</summary>
    public string? Rename(ChatMember member, string requested)
    {
        if (!ChatNames.TryNormalize(requested, out string name, out string problem))
        {
            return $"invalid name: {problem}";
        }

        lock (_gate)
        {
            string key = ChatNames.Key(name);
            if (_membersByKey.TryGetValue(key, out var holder) && holder != member)
            {
                return $"the name {name} is taken";
            }

            string old = member.Name;
            if (old == name)
            {
                return null;
            }

            _membersByKey.Remove(ChatNames.Key(old));
            _membersByKey[key] = member;
            member.Name = name;
            if (member.IsAnnounced && member.Room is { } room)
            {
                Broadcast(room, new ChatEvent(ChatEventType.Nick, Now) { Room = room.Name, From = old, To = name }, except: null);
            }

            return null;
        }
    }

    /// <summary>Leaves the current room for another, created on first use. Returns what is wrong, or null.</summary>
    public string? Join(ChatMember member, string requested)
    {
        if (!ChatNames.TryNormalize(requested.TrimStart('#'), out string roomName, out string problem))
        {
            return $"invalid room name: {problem.Replace("a name", "a room name", StringComparison.Ordinal)}";
        }

        lock (_gate)
        {
            string key = ChatNames.Key(roomName);
            if (member.Room is { } current && ChatNames.Key(current.Name) == key)
            {
                return $"you are already in #{current.Name}";
            }

            RemoveFromRoom(member, reason: string.Empty);
            if (!_roomsByKey.TryGetValue(key, out var room))
            {
                room = new ChatRoom(roomName);
                _roomsByKey[key] = room;
            }

            room.Add(member);
            member.Room = room;
            member.IsAnnounced = true;
            Broadcast(room, new ChatEvent(ChatEventType.Join, Now) { Room = room.Name, From = member.Name }, except: null);
            return null;
        }
    }

    /// <summary>A private line to one user, wherever they are. Returns what is wrong, or null.</summary>
    public string? SendPrivate(ChatMember from, string toName, string text)
    {
        if (Find(toName) is not { } target)
        {
            return $"no such user: {toName}";
        }

        target.Send(new OutboundMessage(new ChatEvent(ChatEventType.Private, Now) { From = from.Name, Text = text }));
        return null;
    }

    /// <summary>The member leaves the server: its name is free again and its room is told why.</summary>
    public void Disconnect(ChatMember member, string reason)
    {
        lock (_gate)
        {
            if (_membersByKey.TryGetValue(ChatNames.Key(member.Name), out var holder) && holder == member)
            {
                _membersByKey.Remove(ChatNames.Key(member.Name));
            }

            RemoveFromRoom(member, reason);
        }
    }

    /// <summary>Cuts off the member with that name, telling it and its room who did it and why. Returns what is wrong, or null.</summary>
    public string? Kick(ChatMember by, string name, string reason)
    {
        if (Find(name) is not { } target)
        {
            return $"no such user: {name}";
        }

        string why = reason.Length > 0 ? $"kicked by {by.Name}: {reason}" : $"kicked by {by.Name}";
        target.CutOff(why, $"disconnected: {why}");
        return null;
    }

    /// <summary>Cuts off every member connected from <paramref name="address"/>; returns how many.</summary>
    public int KickAddress(System.Net.IPAddress address, ChatMember by)
    {
        ChatMember[] targets;
        lock (_gate)
        {
            targets = [.. _membersByKey.Values.Concat(_rawRoom.Members).Where(m => m.RemoteAddress?.Equals(address) == true)];
        }

        foreach (var target in targets)
        {
            target.CutOff($"banned by {by.Name}", $"disconnected: banned by {by.Name}");
        }

        return targets.Length;
    }

    public ChatEvent Who(ChatMember member)
    {
        var room = member.Room ?? throw new InvalidOperationException("a connected member is always in a room");
        return new ChatEvent(ChatEventType.Who, Now) { Room = room.Name, Members = [.. room.Members.Select(m => m.Name)] };
    }

    public ChatEvent Rooms()
    {
        lock (_gate)
        {
            var rooms = _roomsByKey.Values
                .Select(r => new RoomCount(r.Name, r.Members.Length))
                .OrderBy(r => r.Room, StringComparer.Ordinal)
                .ToArray();
            return new ChatEvent(ChatEventType.Rooms, Now) { Rooms = rooms };
        }
    }

    /// <summary>Sends every chat connection <c>* server shutting down</c> and ends its session; new ones get the same.</summary>
    public int ShutDown()
    {
        lock (_gate)
        {
            _shuttingDown = true;
            var everyone = _membersByKey.Values.Concat(_rawRoom.Members).ToArray();
            var notice = ShutdownNotice();
            foreach (var member in everyone)
            {
                member.End("server shutting down", notice);
            }

            return everyone.Length;
        }
    }

    private static OutboundMessage ShutdownNotice() =>
        new(new ChatEvent(ChatEventType.Notice, DateTimeOffset.UtcNow) { Text = "server shutting down" });

    private void Relay(ChatMember member, ChatEventType type, string text)
    {
        var room = member.Room;
        if (room is null)
        {
            return;
        }

        ParleyMetrics.ChatMessages.Add(1);
        lock (room.BroadcastGate)
        {
            SendToRoom(room, RoomLine(room, member, type, text, Now), except: member);
        }
    }

    // A member's line in its room. Callers hold the room's broadcast gate: ids are handed out in the order sent.
    private static OutboundMessage RoomLine(ChatRoom room, ChatMember member, ChatEventType type, string text, DateTimeOffset at) =>
        new(new ChatEvent(type, at)
        {
            Room = room.Name,
            From = member.Name,
            Text = text,
            Id = room.NextMessageId(),
        });

    // Callers hold _gate, so membership cannot change underneath; the room gate keeps notices in line with messages.
    private static void Broadcast(ChatRoom room, ChatEvent chatEvent, ChatMember? except)
    {
        lock (room.BroadcastGate)
        {
            SendToRoom(room, new OutboundMessage(chatEvent), except);
        }
    }

    // Callers hold the room's broadcast gate, so every member sees the room's lines in one order.
    private static void SendToRoom(ChatRoom room, OutboundMessage message, ChatMember? except)
    {
        foreach (var recipient in room.Members)
        {
            if (recipient != except)
            {
                recipient.Send(message);
            }
        }
    }

    private ChatMember? Find(string name)
    {
        lock (_gate)
        {
            return _membersByKey.GetValueOrDefault(ChatNames.Key(name));
        }
    }

    private void RemoveFromRoom(ChatMember member, string reason)
    {
        if (member.Room is not { } room)
        {
            return;
        }

        room.Remove(member);
        member.Room = null;
        if (member.IsAnnounced && !_shuttingDown)
        {
            Broadcast(room, new ChatEvent(ChatEventType.Leave, Now) { Room = room.Name, From = member.Name, Text = reason }, except: null);
        }

        if (room.Members.Length == 0 && room.Name != Lobby)
        {
            _roomsByKey.Remove(ChatNames.Key(room.Name));
        }
    }
}
