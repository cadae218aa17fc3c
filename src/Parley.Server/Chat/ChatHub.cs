using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Parley.Protocol.Chat;
using Parley.Protocol.Formats;
using Parley.Server.Bus;
using Parley.Server.Connections;
using Parley.Server.History;
using Parley.Server.Hosting;
using Parley.Server.Logging;
using Parley.Server.Names;

namespace Parley.Server.Chat;

/// <summary>
/// Membership and delivery on this node. Names live in the <see cref="INameRegistry"/>, room lines and presence go
/// through the <see cref="IRoomBus"/> (which numbers them and hands them to every node, this one included), and what
/// rooms keep goes to <see cref="IRoomHistory"/>. No lock is held across an await, and no wire text is made here:
/// commands come back as <see cref="ChatResult"/>s and events as <see cref="ChatEvent"/>s for front ends to word.
/// </summary>
internal sealed partial class ChatHub : IRoomBusSubscriber
{
    public const string Lobby = "lobby";

    // /who in a room past the presence limit lists this many names and the count.
    private const int WhoListLimit = 100;

    private readonly ConcurrentDictionary<long, ChatMember> _local = new();
    private readonly ConcurrentDictionary<string, ChatRoom> _rooms = new(StringComparer.Ordinal);
    private readonly Lock _roomsGate = new();
    private readonly Lock _evictionGate = new();
    private readonly ServerOptions _options;
    private readonly INameRegistry _names;
    private readonly IRoomBus _bus;
    private readonly IRoomHistory _history;
    private readonly OutputBudget _budget;
    private readonly ConnectionLimiter? _limiter;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly int _recentCapacity;
    private long _lastMemberNumber;
    private volatile bool _shuttingDown;

    public ChatHub(ServerOptions options, INameRegistry names, IRoomBus bus, IRoomHistory history, OutputBudget budget, TimeProvider time, ILogger<ChatHub> logger, ConnectionLimiter? limiter = null)
    {
        _limiter = limiter;
        _options = options;
        _names = names;
        _bus = bus;
        _history = history;
        _budget = budget;
        _time = time;
        _logger = logger;
        // Replay comes from the room's newest lines in memory when it can (exact, and no disk read on a join); the
        // store supplies older ones. With history off nothing is kept, in memory either.
        _recentCapacity = options.History == HistoryMode.Off ? 0 : Math.Max(options.Replay, 64);
        NodeId = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        bus.Subscribe(this);
        history.LinesNotKept += OnHistoryLoss;
    }

    /// <summary>This node's name: part of every <see cref="MemberRef"/> made here.</summary>
    public string NodeId { get; }

    public OutputBudget Budget => _budget;

    public bool IsShuttingDown => _shuttingDown;

    private DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>
    /// Registers a new chat connection as <c>guest-N</c>, in no room yet. Nobody is told. A front end with a wire format
    /// of its own (IRC, the WebSocket) gives it here, before anything is queued.
    /// </summary>
    public async ValueTask<ChatMember> ConnectAsync(string remote, OutboundQueue queue, ChatFormatter? format = null, CancellationToken cancellation = default)
    {
        var id = new MemberRef(NodeId, Interlocked.Increment(ref _lastMemberNumber));
        string guest;
        do
        {
            guest = $"guest-{await _names.NextGuestNumberAsync(cancellation)}";
        }
        while (!await _names.TryClaimAsync(guest, id, cancellation));

        return Register(new ChatMember(id, remote, guest, queue, _options.SlowReaderWait) { Format = format ?? TextFormatter.Instance });
    }

    /// <summary>Registers a connection that takes no name and joins no room (the raw tutorial room's members).</summary>
    public ChatMember ConnectUnnamed(string remote, OutboundQueue queue) =>
        Register(new ChatMember(new MemberRef(NodeId, Interlocked.Increment(ref _lastMemberNumber)), remote, remote, queue, _options.SlowReaderWait) { IsAnnounced = true, HoldsName = false });

    private ChatMember Register(ChatMember member)
    {
        _local[member.Id.Id] = member;
        if (_shuttingDown)
        {
            member.End("server shutting down", ShutdownNotice());
        }

        return member;
    }

    /// <summary>
    /// Enters a room (created on first use): the member is first sent the room's recent lines and its topic, then
    /// receives what is said live; the room is told if the member is announced and the room is small enough.
    /// </summary>
    /// <param name="greet">
    /// A front end's own words for entering, queued before the replay instead of the topic line (IRC's JOIN, topic and
    /// names must come before the channel's lines). The room's roster does not have the member in it yet.
    /// </param>
    public async ValueTask<(ChatResult Result, ChatRoom? Room)> EnterAsync(ChatMember member, string requested, Action<ChatRoom>? greet = null, CancellationToken cancellation = default)
    {
        if (!ChatNames.TryNormalize(requested, out string roomName, out string problem))
        {
            return (ChatResult.Fail(ChatError.InvalidRoom, requested, problem), null);
        }

        string key = ChatNames.Key(roomName);
        if (member.RoomByKey(key) is { } already)
        {
            return (ChatResult.Fail(ChatError.AlreadyInRoom, already.Name), already);
        }

        await _bus.OpenRoomAsync(key, cancellation);
        var room = EnteringRoom(key, roomName);
        try
        {
            if (!room.TopicLoaded)
            {
                room.Topic ??= await ReadTopicAsync(key, cancellation);
                room.TopicLoaded = true;
            }

            int replay = _options.History == HistoryMode.Off ? 0 : _options.Replay;
            // The store is read only while it may hold lines memory lacks: a crowd entering a quiet room would
            // otherwise cost one store read each (about a fifth of a connection's start in the lobby).
            IReadOnlyList<ChatEvent>? stored = replay > room.RecentCount && !room.RecentHoldsAll
                ? await ReadStoredAsync(key, HistoryQuery.Latest(replay), cancellation)
                : null;
            lock (room.DeliveryGate)
            {
                greet?.Invoke(room);
                if (replay > 0)
                {
                    bool storeHadOlder = SendReplay(member, room, replay, stored ?? []);
                    // Fewer lines than asked, none older than memory's: the store holds nothing memory lacks, and
                    // every line from now on is remembered too.
                    if (stored is not null && stored.Count < replay && !storeHadOlder)
                    {
                        room.RecentHoldsAll = true;
                    }
                }

                room.AddLocal(member);
                member.AddRoom(room);
            }

            if (greet is null && room.Topic is { } topic)
            {
                member.Send(new OutboundMessage(topic with { From = string.Empty, Id = null, History = false }));
            }

            var notice = member.IsAnnounced ? new ChatEvent(ChatEventType.Join, Now) { Room = room.Name, From = member.Name } : null;
            await _bus.PublishPresenceAsync(key, new PresenceChange(PresenceKind.Entered, room.Name, member.Id, member.Name, notice));
        }
        finally
        {
            room.EndEntering();
        }

        return (ChatResult.Ok, room);
    }

    // The newest lines of the room up to `count`: from memory, preceded by older ones from the store when memory has
    // too few (after a restart). Lines said while the store was read are in memory, so nothing is missed. True when
    // the store had lines older than all of memory's.
    private static bool SendReplay(ChatMember member, ChatRoom room, int count, IReadOnlyList<ChatEvent> stored)
    {
        var recent = room.Recent(count);
        long firstRecent = recent.Count > 0 ? recent[0].Id ?? long.MaxValue : long.MaxValue;
        var older = stored.Where(line => line.Id < firstRecent).ToList();
        if (older.Count == 0 || recent.Count >= count)
        {
            if (recent.Count > 0)
            {
                member.Send(room.Replay(count, recent));
            }

            return older.Count > 0;
        }

        foreach (var line in older.TakeLast(count - recent.Count).Concat(recent))
        {
            member.Send(new OutboundMessage(line.History ? line : line with { History = true }));
        }

        return true;
    }

    /// <summary>Leaves one room; the room is told if the member was announced there.</summary>
    public async ValueTask<ChatResult> LeaveAsync(ChatMember member, ChatRoom room, string reason)
    {
        if (!member.RemoveRoom(room))
        {
            return ChatResult.Fail(ChatError.NotInRoom, room.Name);
        }

        room.RemoveLocal(member);
        var notice = member.IsAnnounced && !_shuttingDown
            ? new ChatEvent(ChatEventType.Leave, Now) { Room = room.Name, From = member.Name, Text = reason }
            : null;
        await _bus.PublishPresenceAsync(room.Key, new PresenceChange(PresenceKind.Left, room.Name, member.Id, member.Name, notice));
        return ChatResult.Ok;
    }

    /// <summary>
    /// A guest that spoke or took a name is announced in every room it is in; until then it only listens and costs
    /// its rooms nothing (PROTOCOL.md, presence at scale). Does nothing the second time.
    /// </summary>
    public async ValueTask IntroduceAsync(ChatMember member)
    {
        if (member.IsAnnounced)
        {
            return;
        }

        member.IsAnnounced = true;
        foreach (var room in member.Rooms)
        {
            var notice = new ChatEvent(ChatEventType.Join, Now) { Room = room.Name, From = member.Name };
            await _bus.PublishPresenceAsync(room.Key, new PresenceChange(PresenceKind.Introduced, room.Name, member.Id, member.Name, notice));
        }
    }

    /// <summary>Takes a new name, unique across the chat. Its rooms are told if the member was announced.</summary>
    public async ValueTask<ChatResult> RenameAsync(ChatMember member, string requested, CancellationToken cancellation = default)
    {
        if (!ChatNames.TryNormalize(requested, out string name, out string problem))
        {
            return ChatResult.Fail(ChatError.InvalidName, requested, problem);
        }

        string old = member.Name;
        if (old == name)
        {
            return ChatResult.Ok;
        }

        try
        {
            if (!await _names.TryClaimAsync(name, member.Id, cancellation))
            {
                return ChatResult.Fail(ChatError.NameTaken, name);
            }
        }
        catch (BusUnavailableException ex)
        {
            ChatLog.BusUnavailable(_logger, "/nick", ex.Message);
            return ChatResult.Fail(ChatError.BusUnavailable, name, "your name was not changed");
        }

        if (ChatNames.Key(old) != ChatNames.Key(name))
        {
            await _names.ReleaseAsync(old, member.Id, cancellation);
        }

        await TakeNameAsync(member, old, name);
        return ChatResult.Ok;
    }

    private async ValueTask TakeNameAsync(ChatMember member, string old, string name)
    {
        member.Name = name;
        // One time for every room's notice: a front end that shows a rename once tells them apart from the next rename by it.
        var now = Now;
        foreach (var room in member.Rooms)
        {
            var notice = member.IsAnnounced ? new ChatEvent(ChatEventType.Nick, now) { Room = room.Name, From = old, To = name } : null;
            await _bus.PublishPresenceAsync(room.Key, new PresenceChange(PresenceKind.Renamed, room.Name, member.Id, name, notice));
        }
    }

    /// <summary>
    /// Lines of text (or actions) from a member to everyone else in a room, numbered in order and kept in history.
    /// Returns once every local member that was behind has caught up (or been cut off): that wait is the flow
    /// control that makes a publisher's reader, and through TCP the publisher, slow down.
    /// </summary>
    /// <param name="code">Set on each line (<see cref="ChatEvent.Code"/>): <c>notice</c> for IRC's NOTICE, a message to every other front end.</param>
    /// <param name="clientTags">IRC's client-only tags on each line, for the IRC clients that take them.</param>
    public async ValueTask<ChatResult> PublishAsync(ChatMember member, ChatRoom room, ChatEventType type, IReadOnlyList<string> texts, string? code = null, IReadOnlyList<KeyValuePair<string, string>>? clientTags = null)
    {
        if (texts.Count == 0)
        {
            return ChatResult.Ok;
        }

        var now = Now;
        var lines = new ChatEvent[texts.Count];
        for (int i = 0; i < lines.Length; i++)
        {
            lines[i] = new ChatEvent(type, now) { Room = room.Name, From = member.Name, Text = texts[i], Code = code, ClientTags = clientTags };
        }

        if (await PublishLinesAsync(room, lines, member.Id) is { IsOk: false } failed)
        {
            return failed;
        }

        ParleyMetrics.ChatMessages.Add(lines.Length);
        await HoldForBehindAsync(room);
        return ChatResult.Ok;
    }

    /// <summary>Sets the room's topic; everyone in the room is told, the setter too, and history keeps it.</summary>
    public async ValueTask<ChatResult> SetTopicAsync(ChatMember member, ChatRoom room, string text)
    {
        if (room.TopicLocked && !MayRun(member, room))
        {
            return ChatResult.Fail(ChatError.NotChannelOperator, room.Name, "set its topic (+t)");
        }

        var line = new ChatEvent(ChatEventType.Topic, Now) { Room = room.Name, From = member.Name, Text = text };
        return await PublishLinesAsync(room, [line], origin: default);
    }

    private async ValueTask<ChatResult> PublishLinesAsync(ChatRoom room, ChatEvent[] lines, MemberRef origin)
    {
        IReadOnlyList<ChatEvent> numbered;
        try
        {
            numbered = await _bus.PublishLinesAsync(room.Key, lines, origin);
        }
        catch (BusUnavailableException ex)
        {
            ChatLog.BusUnavailable(_logger, room.Name, ex.Message);
            return ChatResult.Fail(ChatError.BusUnavailable, room.Name, lines.Length == 1 ? "your line was not sent" : $"your {lines.Length} lines were not sent");
        }

        foreach (var line in numbered)
        {
            _history.Append(room.Key, line);
        }

        return ChatResult.Ok;
    }

    // Flow control: wait for the members of the room on this node that are behind, all at once (a hundred stalled
    // members cost the room one allowance, not a hundred). Publishers on other nodes cannot be held back this way;
    // their lines count against the member's backlog limit (docs/security.md).
    private static async ValueTask HoldForBehindAsync(ChatRoom room)
    {
        var behind = room.Behind;
        if (behind.Length == 0)
        {
            return;
        }

        List<Task>? waits = null;
        foreach (var member in behind)
        {
            if (member.IsCutOff || !member.Queue.IsBehind)
            {
                room.ClearBehind(member);
                continue;
            }

            (waits ??= []).Add(member.HoldPublisherAsync().AsTask());
        }

        if (waits is not null)
        {
            await Task.WhenAll(waits);
        }
    }

    /// <summary>
    /// IRC's TAGMSG to a room: client tags and no text, delivered at once to the members here whose format takes
    /// client tags (IRC with message-tags), the sender too when it echoes its own lines. It has no room id, is not
    /// kept in history and does not cross nodes: a reaction or a typing notice, not a line of the conversation.
    /// </summary>
    public ChatResult PublishTags(ChatMember member, ChatRoom room, IReadOnlyList<KeyValuePair<string, string>> clientTags)
    {
        var line = new ChatEvent(ChatEventType.Message, Now)
        {
            Room = room.Name,
            From = member.Name,
            Code = ChatEvent.TagsOnlyCode,
            ClientTags = clientTags,
            TagMessageId = NewTagMessageId(),
        };
        lock (room.DeliveryGate)
        {
            Deliver(room, new OutboundMessage(line), except: member.Id, echo: true);
        }

        EnforceBudget();
        return ChatResult.Ok;
    }

    // A TAGMSG's msgid: never one of a room's ids ("dev:42"), and unique without a sequence to keep.
    private static string NewTagMessageId() => "t" + Guid.NewGuid().ToString("N");

    /// <summary>A private line to one user, wherever they are.</summary>
    public async ValueTask<ChatResult> SendPrivateAsync(ChatMember from, string toName, string text, string? code = null, IReadOnlyList<KeyValuePair<string, string>>? clientTags = null, CancellationToken cancellation = default)
    {
        try
        {
            if (await _names.FindAsync(toName, cancellation) is not { } to)
            {
                return ChatResult.Fail(ChatError.NoSuchUser, toName);
            }

            var line = new ChatEvent(ChatEventType.Private, Now)
            {
                From = from.Name,
                To = toName,
                Text = text,
                Code = code,
                ClientTags = clientTags,
                TagMessageId = NewTagMessageId(),
            };
            return await _bus.SendPrivateAsync(to, line) ? ChatResult.Ok : ChatResult.Fail(ChatError.NoSuchUser, toName);
        }
        catch (BusUnavailableException ex)
        {
            ChatLog.BusUnavailable(_logger, "/msg", ex.Message);
            return ChatResult.Fail(ChatError.BusUnavailable, toName, "your message was not sent");
        }
    }

    /// <summary>The member leaves the server: every room it was in is told why, and its name is free again.</summary>
    public async ValueTask DisconnectAsync(ChatMember member, string reason)
    {
        foreach (var room in member.Rooms)
        {
            await LeaveAsync(member, room, reason);
            ForgetIfDeserted(room);
        }

        if (_local.TryRemove(member.Id.Id, out _) && member.HoldsName)
        {
            await _names.ReleaseAsync(member.Name, member.Id);
        }
    }

    /// <summary>Cuts off the member with that name, wherever it is, telling it and its rooms who did it and why.</summary>
    public async ValueTask<ChatResult> KickAsync(ChatMember by, string name, string reason, CancellationToken cancellation = default)
    {
        try
        {
            if (await _names.FindAsync(name, cancellation) is not { } target)
            {
                return ChatResult.Fail(ChatError.NoSuchUser, name);
            }

            string why = reason.Length > 0 ? $"kicked by {by.Name}: {reason}" : $"kicked by {by.Name}";
            await _bus.CutOffAsync(target, why, $"disconnected: {why}");
            return ChatResult.Ok;
        }
        catch (BusUnavailableException ex)
        {
            ChatLog.BusUnavailable(_logger, "/kick", ex.Message);
            return ChatResult.Fail(ChatError.BusUnavailable, name, $"{name} was not kicked");
        }
    }

    /// <summary>Cuts off every member on this node connected from <paramref name="address"/>; returns how many.</summary>
    public int KickAddress(System.Net.IPAddress address, ChatMember by) => KickAddress(address, by.Name);

    private int KickAddress(System.Net.IPAddress address, string by)
    {
        var targets = _local.Values.Where(m => m.RemoteAddress?.Equals(address) == true).ToArray();
        foreach (var target in targets)
        {
            target.CutOff($"banned by {by}", $"disconnected: banned by {by}");
        }

        return targets.Length;
    }

    /// <summary>Has the other nodes ban an address this node has banned; false when they cannot be reached.</summary>
    public async ValueTask<bool> SpreadBanAsync(System.Net.IPAddress address, ChatMember by)
    {
        try
        {
            await _bus.BanAsync(address.ToString(), by.Name, NodeId);
            return true;
        }
        catch (BusUnavailableException ex)
        {
            ChatLog.BusUnavailable(_logger, "/ban", ex.Message);
            return false;
        }
    }

    public void OnBan(string address, string by)
    {
        if (System.Net.IPAddress.TryParse(address, out var ip))
        {
            _limiter?.Ban(ip);
            KickAddress(ip, by);
        }
    }

    /// <summary>Who is in the room, on every node; past the presence limit, the count and the first names.</summary>
    public ChatEvent Who(ChatRoom room)
    {
        int limit = room.RosterCount > _options.PresenceLimit ? WhoListLimit : int.MaxValue;
        var (names, count) = room.RosterNames(limit);
        return new ChatEvent(ChatEventType.Who, Now) { Room = room.Name, Members = names, MemberCount = count > names.Length ? count : null };
    }

    /// <summary><see cref="Who"/> with each member's channel operator and voice, for IRC's NAMES and WHO.</summary>
    public (string Name, bool Operator, bool Voiced)[] WhoWithModes(ChatRoom room) =>
        room.RosterWithModes(room.RosterCount > _options.PresenceLimit ? WhoListLimit : int.MaxValue);

    public ChatRoom? FindRoom(string name) => _rooms.GetValueOrDefault(ChatNames.Key(name));

    public async ValueTask<bool> IsOnlineAsync(string name, CancellationToken cancellation = default) =>
        ChatNames.TryNormalize(name, out string normalized, out _) && await _names.FindAsync(normalized, cancellation) is not null;

    public ChatMember? FindLocal(string name)
    {
        string key = ChatNames.Key(name);
        return _local.Values.FirstOrDefault(m => m.HoldsName && ChatNames.Key(m.Name) == key);
    }

    public int LocalMemberCount => _local.Count;

    /// <summary>Named members on this node whose names match <paramref name="match"/>, at most <paramref name="limit"/> of them.</summary>
    public ChatMember[] FindLocal(Func<string, bool> match, int limit) =>
        [.. _local.Values.Where(m => m.HoldsName && m.IsAnnounced && match(m.Name)).Take(limit)];

    public ChatEvent Rooms()
    {
        var rooms = _rooms.Values
            .Select(r => new RoomCount(r.Name, r.RosterCount))
            .Where(r => r.Members > 0 || r.Room == Lobby)
            .OrderBy(r => r.Room, StringComparer.Ordinal)
            .ToArray();
        return new ChatEvent(ChatEventType.Rooms, Now) { Rooms = rooms };
    }

    /// <summary>A page of a room's history, oldest first, each line marked as history.</summary>
    public async ValueTask<(ChatResult Result, IReadOnlyList<ChatEvent> Lines)> ReadHistoryAsync(ChatRoom room, HistoryQuery query, CancellationToken cancellation = default)
    {
        if (!_history.IsAvailable)
        {
            return (ChatResult.Fail(ChatError.HistoryUnavailable, room.Name), []);
        }

        try
        {
            return (ChatResult.Ok, await _history.ReadAsync(room.Key, query, cancellation));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            ChatLog.HistoryFailed(_logger, room.Name, ex.Message);
            return (ChatResult.Fail(ChatError.HistoryUnavailable, room.Name), []);
        }
    }

    /// <summary>Sends every chat connection <c>* server shutting down</c> and ends its session; new ones get the same.</summary>
    public int ShutDown()
    {
        _shuttingDown = true;
        var everyone = _local.Values.ToArray();
        var notice = ShutdownNotice();
        foreach (var member in everyone)
        {
            member.End("server shutting down", notice);
        }

        return everyone.Length;
    }

    private static OutboundMessage ShutdownNotice() =>
        new(new ChatEvent(ChatEventType.Notice, DateTimeOffset.UtcNow) { Text = "server shutting down", Code = "shutting_down" });

    // Null when the store could not be read: that says nothing of what it holds.
    private async ValueTask<IReadOnlyList<ChatEvent>?> ReadStoredAsync(string key, HistoryQuery query, CancellationToken cancellation)
    {
        if (!_history.IsAvailable)
        {
            return null;
        }

        try
        {
            return await _history.ReadAsync(key, query, cancellation);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            ChatLog.HistoryFailed(_logger, key, ex.Message);
            return null;
        }
    }

    private async ValueTask<ChatEvent?> ReadTopicAsync(string key, CancellationToken cancellation)
    {
        try
        {
            return await _history.TopicAsync(key, cancellation);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            ChatLog.HistoryFailed(_logger, key, ex.Message);
            return null;
        }
    }

    // The room a member is about to enter; it cannot be forgotten until the member is in it.
    private ChatRoom EnteringRoom(string key, string name)
    {
        lock (_roomsGate)
        {
            var room = _rooms.GetOrAdd(key, _ => new ChatRoom(key, name, _recentCapacity));
            room.BeginEntering();
            return room;
        }
    }

    private ChatRoom RoomFor(string key, string name)
    {
        if (_rooms.TryGetValue(key, out var room))
        {
            return room;
        }

        lock (_roomsGate)
        {
            return _rooms.GetOrAdd(key, _ => new ChatRoom(key, name, _recentCapacity));
        }
    }

    private void ForgetIfDeserted(ChatRoom room)
    {
        if (room.Name == Lobby || !room.IsDeserted)
        {
            return;
        }

        lock (_roomsGate)
        {
            if (room.IsDeserted)
            {
                _rooms.TryRemove(new KeyValuePair<string, ChatRoom>(room.Key, room));
            }
        }
    }
}
