using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Parley.Protocol.Chat;
using Parley.Server.Bus;
using StackExchange.Redis;

namespace Parley.Redis;

/// <summary>
/// The bus across nodes. A room line is numbered, kept and published by one Lua script (INCRBY the room's id, XADD to
/// its stream, PUBLISH), so Redis runs it atomically: the order of PUBLISH is the order of the ids, and every node
/// hears one channel in that order. Everything every node hears (lines, presence, private lines, cut-offs) and every
/// change this node makes to its view (a node gone, a snapshot read) goes through one serial work loop, so a node's
/// view is changed in one order.
/// </summary>
internal sealed class RedisRoomBus : IRoomBus, IDisposable
{
    // How long a publisher waits to hear its own line come back before it returns anyway (the line did go out).
    private static readonly TimeSpan OwnDeliveryWait = TimeSpan.FromSeconds(2);

    private const string LinesScript = """
        local n = tonumber(ARGV[5])
        local floor = tonumber(ARGV[2])
        local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
        if top[1] then
          local last = tonumber(string.match(top[1][1], '^(%d+)'))
          if last > floor then floor = last end
        end
        local current = tonumber(redis.call('GET', KEYS[1]) or '0')
        if current < floor then redis.call('SET', KEYS[1], floor) end
        local last = redis.call('INCRBY', KEYS[1], n)
        local first = last - n + 1
        local keep = tonumber(ARGV[1])
        for i = 0, n - 1 do
          local a = 6 + i * 5
          local id = (first + i) .. '-0'
          if keep > 0 then
            redis.call('XADD', KEYS[2], 'MAXLEN', '~', keep, id, 't', ARGV[a], 'ts', ARGV[a + 1], 'r', ARGV[a + 2], 'f', ARGV[a + 3], 'x', ARGV[a + 4])
          else
            redis.call('XADD', KEYS[2], id, 't', ARGV[a], 'ts', ARGV[a + 1], 'r', ARGV[a + 2], 'f', ARGV[a + 3], 'x', ARGV[a + 4])
          end
          if ARGV[a] == ARGV[6 + n * 5] then
            redis.call('HSET', KEYS[3], 'id', first + i, 't', ARGV[a], 'ts', ARGV[a + 1], 'r', ARGV[a + 2], 'f', ARGV[a + 3], 'x', ARGV[a + 4])
          end
        end
        redis.call('PUBLISH', ARGV[7 + n * 5], 'L' .. first .. '\t' .. ARGV[3] .. '\n' .. ARGV[4])
        return first
        """;

    private const string PresenceScript = """
        if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        redis.call('PUBLISH', ARGV[5], ARGV[4])
        return 1
        """;

    private const string SnapshotScript = """
        redis.call('DEL', KEYS[1])
        local n = tonumber(ARGV[1])
        for i = 0, n - 1 do redis.call('HSET', KEYS[1], ARGV[4 + i * 2], ARGV[5 + i * 2]) end
        if n > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        redis.call('PUBLISH', ARGV[4 + n * 2], ARGV[3])
        return 1
        """;

    private readonly RedisChatCluster _cluster;
    private readonly Channel<Work> _work = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<long, TaskCompletionSource> _ownDeliveries = new();

    // The last id delivered per room: to see a gap (lines published while this node's subscription was down, read back
    // from the stream) and as the floor under the next id, so ids never go back even if Redis lost its data.
    private readonly ConcurrentDictionary<string, long> _lastDelivered = new(StringComparer.Ordinal);

    // Who sits where, per node, as this node heard it: what goes when a node dies, and what a snapshot is compared to.
    // Only the work loop touches it.
    private readonly Dictionary<string, Dictionary<(long Member, string Room), BusCodec.Seat>> _seats = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _knownNodes = new(StringComparer.Ordinal);

    // Held while this node publishes a presence change or its whole presence, so a snapshot taken before a change is
    // never published after it (the others would undo the change).
    private readonly SemaphoreSlim _presenceGate = new(1, 1);
    private IRoomBusSubscriber? _subscriber;
    private long _lastSeq;
    private Task _loop = Task.CompletedTask;

    public RedisRoomBus(RedisChatCluster cluster) => _cluster = cluster;

    private abstract record Work;

    private sealed record Heard(byte[] Payload) : Work;

    private sealed record LocalPresence(string RoomKey, PresenceChange Change, TaskCompletionSource Done) : Work;

    private sealed record ReadSnapshots(TaskCompletionSource Done) : Work;

    private sealed record NodeGone(string Node) : Work;

    public string NodeId => _subscriber?.NodeId ?? _cluster.FallbackNodeId;

    public IRoomBusSubscriber? Subscriber => _subscriber;

    /// <summary>Nodes this one has seen members of: the ones whose heartbeat it checks.</summary>
    public ICollection<string> KnownNodes => _knownNodes.Keys;

    public void Subscribe(IRoomBusSubscriber subscriber) => _subscriber = subscriber;

    /// <summary>Hears the channel, then reads every node's presence: a node that starts sees who is already here.</summary>
    public async Task StartAsync(ISubscriber subscriber)
    {
        var queue = await subscriber.SubscribeAsync(RedisKeys.Bus);
        // SE.Redis calls a queue's handler for one message at a time, in order; the loop keeps that order.
        queue.OnMessage(message => _work.Writer.TryWrite(new Heard((byte[])message.Message!)));
        _loop = Task.Run(RunAsync);
        await ReadSnapshotsAsync();
    }

    public void Complete() => _work.Writer.TryComplete();

    public void Dispose() => _presenceGate.Dispose();

    public Task Stopped => _loop;

    public ValueTask OpenRoomAsync(string roomKey, CancellationToken cancellation = default) => ValueTask.CompletedTask;

    public async ValueTask<IReadOnlyList<ChatEvent>> PublishLinesAsync(string roomKey, ChatEvent[] lines, MemberRef origin)
    {
        long seq = Interlocked.Increment(ref _lastSeq);
        var delivered = ExpectOwn(seq);
        var args = new RedisValue[7 + (lines.Length * 5)];
        args[0] = _cluster.HistoryKeep;
        args[1] = _lastDelivered.GetValueOrDefault(roomKey);
        args[2] = $"{roomKey}\t{origin.Node}\t{origin.Id}\t{NodeId}\t{seq}";
        args[3] = BusCodec.EncodeLines(lines);
        args[4] = lines.Length;
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            int a = 5 + (i * 5);
            args[a] = (int)line.Type;
            args[a + 1] = line.Timestamp.ToUnixTimeMilliseconds();
            args[a + 2] = line.Room;
            args[a + 3] = line.From;
            args[a + 4] = line.Text;
        }

        args[5 + (lines.Length * 5)] = (int)ChatEventType.Topic;
        args[6 + (lines.Length * 5)] = RedisKeys.BusChannelName;
        long first;
        try
        {
            var result = await _cluster.Database.ScriptEvaluateAsync(LinesScript, [RedisKeys.RoomId(roomKey), RedisKeys.RoomLog(roomKey), RedisKeys.RoomTopic(roomKey)], args);
            first = (long)result;
        }
        catch (Exception ex) when (RedisChatCluster.IsUnreachable(ex))
        {
            _ownDeliveries.TryRemove(seq, out _);
            throw new BusUnavailableException(RedisChatCluster.Describe(ex), ex);
        }

        for (int i = 0; i < lines.Length; i++)
        {
            lines[i] = lines[i] with { Id = first + i };
        }

        // Back from the channel means this node's members have it too: the publisher's flow control and its next
        // command (/history) see the line where they expect it.
        await WaitOwnAsync(seq, delivered);
        return lines;
    }

    public async ValueTask PublishPresenceAsync(string roomKey, PresenceChange change)
    {
        long seq = Interlocked.Increment(ref _lastSeq);
        var delivered = ExpectOwn(seq);
        var seat = new BusCodec.Seat(change.Member.Id, roomKey, change.RoomName, change.Name, change.Kind == PresenceKind.Introduced || change.Notice is not null);
        await _presenceGate.WaitAsync();
        try
        {
            await _cluster.Database.ScriptEvaluateAsync(PresenceScript, [RedisKeys.NodeMembers(NodeId)],
            [
                seat.Field, change.Kind == PresenceKind.Left ? string.Empty : seat.Value, (long)RedisChatCluster.NodeTimeToLive.TotalMilliseconds,
                BusCodec.EncodePresence(NodeId, seq, roomKey, change), RedisKeys.BusChannelName,
            ]);
        }
        catch (Exception ex) when (RedisChatCluster.IsUnreachable(ex))
        {
            // Presence is never refused: this node's members see it at once, and the others catch up when Redis is back
            // (the node publishes its whole presence then).
            _ownDeliveries.TryRemove(seq, out _);
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _work.Writer.TryWrite(new LocalPresence(roomKey, change, done));
            delivered = done;
        }
        finally
        {
            _presenceGate.Release();
        }

        await WaitOwnAsync(seq, delivered);
    }

    public async ValueTask<bool> SendPrivateAsync(MemberRef to, ChatEvent line)
    {
        if (to.Node == NodeId)
        {
            return _subscriber?.OnPrivate(to, line) ?? false;
        }

        await PublishAsync(BusCodec.EncodePrivate(to, line));
        return true;
    }

    public async ValueTask CutOffAsync(MemberRef member, string reason, string message)
    {
        if (member.Node == NodeId)
        {
            _subscriber?.OnCutOff(member, reason, message);
            return;
        }

        await PublishAsync(BusCodec.EncodeCutOff(member, reason, message));
    }

    public async ValueTask BanAsync(string address, string by, string originNode) => await PublishAsync(BusCodec.EncodeBan(address, by, originNode));

    /// <summary>
    /// After Redis comes back (or took this node for dead): writes this node's whole presence again and tells the others,
    /// then reads theirs. Returns how many seats this node has.
    /// </summary>
    public async Task<int> RepublishAsync()
    {
        var subscriber = _subscriber;
        long seq = Interlocked.Increment(ref _lastSeq);
        var delivered = ExpectOwn(seq);
        int count;
        await _presenceGate.WaitAsync();
        try
        {
            var seats = (subscriber?.LocalPresence() ?? [])
                .Select(c => new BusCodec.Seat(c.Member.Id, ChatNames.Key(c.RoomName), c.RoomName, c.Name, c.Notice is not null))
                .ToList();
            count = seats.Count;
            var args = new List<RedisValue> { seats.Count, (long)RedisChatCluster.NodeTimeToLive.TotalMilliseconds, BusCodec.EncodeSnapshot(NodeId, seq, seats) };
            foreach (var seat in seats)
            {
                args.Add(seat.Field);
                args.Add(seat.Value);
            }

            args.Add(RedisKeys.BusChannelName);
            await _cluster.Database.ScriptEvaluateAsync(SnapshotScript, [RedisKeys.NodeMembers(NodeId)], [.. args]);
        }
        catch
        {
            _ownDeliveries.TryRemove(seq, out _);
            throw;
        }
        finally
        {
            _presenceGate.Release();
        }

        await WaitOwnAsync(seq, delivered);
        await ReadSnapshotsAsync();
        return count;
    }

    /// <summary>Has the work loop read every live node's presence, and drop the nodes that are gone.</summary>
    public async Task ReadSnapshotsAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Writer.TryWrite(new ReadSnapshots(done));
        await done.Task;
    }

    /// <summary>A node's lease is gone: every node is told on the channel, or, with Redis out of reach, this one alone.</summary>
    public async Task DropNodeAsync(string node)
    {
        try
        {
            await _cluster.Database.PublishAsync(RedisKeys.Bus, Encoding.UTF8.GetBytes("G" + node));
        }
        catch (Exception ex) when (RedisChatCluster.IsUnreachable(ex))
        {
            _work.Writer.TryWrite(new NodeGone(node));
        }
    }

    private async Task PublishAsync(byte[] message)
    {
        try
        {
            await _cluster.Database.PublishAsync(RedisKeys.Bus, message);
        }
        catch (Exception ex) when (RedisChatCluster.IsUnreachable(ex))
        {
            throw new BusUnavailableException(RedisChatCluster.Describe(ex), ex);
        }
    }

    private TaskCompletionSource ExpectOwn(long seq)
    {
        var delivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _ownDeliveries[seq] = delivered;
        return delivered;
    }

    private async Task WaitOwnAsync(long seq, TaskCompletionSource delivered)
    {
        try
        {
            await delivered.Task.WaitAsync(OwnDeliveryWait);
        }
        catch (TimeoutException)
        {
            // The subscription is reconnecting; the line is in the stream, and the gap is filled from there.
        }
        finally
        {
            _ownDeliveries.TryRemove(seq, out _);
        }
    }

    private void Delivered(string node, long seq)
    {
        if (node == NodeId && _ownDeliveries.TryRemove(seq, out var delivered))
        {
            delivered.TrySetResult();
        }
    }

    private async Task RunAsync()
    {
        await foreach (var work in _work.Reader.ReadAllAsync())
        {
            try
            {
                switch (work)
                {
                    case Heard heard:
                        await HandleAsync(heard.Payload);
                        break;
                    case LocalPresence local:
                        ApplyPresence(NodeId, local.RoomKey, local.Change);
                        local.Done.TrySetResult();
                        break;
                    case ReadSnapshots read:
                        try
                        {
                            await ApplySnapshotsAsync();
                            read.Done.TrySetResult();
                        }
                        catch (Exception ex)
                        {
                            read.Done.TrySetException(ex);
                        }

                        break;
                    case NodeGone gone:
                        int seats = ApplySnapshot(gone.Node, [], "server lost");
                        _knownNodes.TryRemove(gone.Node, out _);
                        RedisLog.NodeGone(_cluster.Logger, gone.Node, seats);
                        break;
                    default:
                        throw new InvalidOperationException($"unknown bus work {work.GetType().Name}");
                }
            }
            catch (Exception ex) when (RedisChatCluster.IsUnreachable(ex))
            {
                RedisLog.ResyncFailed(_cluster.Logger, RedisChatCluster.Describe(ex));
            }
            catch (Exception ex)
            {
                RedisLog.MessageFailed(_cluster.Logger, ex);
            }
        }
    }

    private async Task HandleAsync(byte[] payload)
    {
        if (payload.Length == 0)
        {
            return;
        }

        if (payload[0] == BusCodec.Lines)
        {
            await HandleLinesAsync(payload);
            return;
        }

        if (payload[0] == BusCodec.NodeGone)
        {
            // Said by whoever found the node's lease gone first, so every node drops its members at one point in the
            // channel's order: before that node's names are announced again under their new holders.
            string gone = Encoding.UTF8.GetString(payload.AsSpan(1));
            if (gone != NodeId && _seats.ContainsKey(gone))
            {
                RedisLog.NodeGone(_cluster.Logger, gone, ApplySnapshot(gone, [], "server lost"));
            }

            return;
        }

        using var document = JsonDocument.Parse(payload.AsMemory(1));
        var root = document.RootElement;
        switch (payload[0])
        {
            case BusCodec.Presence:
                var (node, seq, roomKey, change) = BusCodec.DecodePresence(root);
                ApplyPresence(node, roomKey, change);
                Delivered(node, seq);
                break;
            case BusCodec.Snapshot:
                var (from, snapshotSeq, seats) = BusCodec.DecodeSnapshot(root);
                if (from != NodeId)
                {
                    ApplySnapshot(from, seats, string.Empty);
                }

                Delivered(from, snapshotSeq);
                break;
            case BusCodec.Private:
                var to = BusCodec.Target(root);
                if (to.Node == NodeId)
                {
                    _subscriber?.OnPrivate(to, BusCodec.ReadEvent(root.GetProperty("e")));
                }

                break;
            case BusCodec.CutOff:
                var member = BusCodec.Target(root);
                if (member.Node == NodeId)
                {
                    _subscriber?.OnCutOff(member, root.GetProperty("why").GetString()!, root.GetProperty("say").GetString()!);
                }

                break;
            case BusCodec.Ban:
                if (root.GetProperty("n").GetString() != NodeId)
                {
                    _subscriber?.OnBan(root.GetProperty("a").GetString()!, root.GetProperty("by").GetString()!);
                }

                break;
            default:
                throw new InvalidDataException($"unknown bus message kind '{(char)payload[0]}'");
        }
    }

    private async Task HandleLinesAsync(byte[] payload)
    {
        int newline = Array.IndexOf(payload, (byte)'\n');
        var header = Encoding.UTF8.GetString(payload, 1, newline - 1).Split('\t');
        long first = long.Parse(header[0], CultureInfo.InvariantCulture);
        string roomKey = header[1];
        var origin = new MemberRef(header[2], long.Parse(header[3], CultureInfo.InvariantCulture));
        var lines = BusCodec.DecodeLines(payload.AsSpan(newline + 1), first);
        if (_lastDelivered.TryGetValue(roomKey, out long last) && first > last + 1)
        {
            await FillGapAsync(roomKey, last, first);
        }

        if (!_lastDelivered.TryGetValue(roomKey, out last) || last < lines[^1].Id)
        {
            _subscriber?.OnRoomLines(roomKey, lines, origin);
            _lastDelivered[roomKey] = lines[^1].Id!.Value;
        }

        Delivered(header[4], long.Parse(header[5], CultureInfo.InvariantCulture));
    }

    // Pub/sub is at most once: lines published while this node's subscription was reconnecting never come. They are in
    // the room's stream, so the members here get them from there, in order, before the line that showed the gap.
    private async Task FillGapAsync(string roomKey, long last, long next)
    {
        const int MaxGap = 1000;
        long from = Math.Max(last + 1, next - MaxGap);
        var entries = await _cluster.Database.StreamRangeAsync(RedisKeys.RoomLog(roomKey), $"{from}-0", $"{next - 1}-0");
        var missed = entries.Select(e => RedisRoomHistory.ToEvent(e) with { History = false }).ToArray();
        if (missed.Length > 0)
        {
            RedisLog.GapFilled(_cluster.Logger, roomKey, from, next - 1);
            _subscriber?.OnRoomLines(roomKey, missed, origin: default);
            _lastDelivered[roomKey] = missed[^1].Id!.Value;
        }
    }

    private void ApplyPresence(string node, string roomKey, PresenceChange change)
    {
        var seats = SeatsOf(change.Member.Node);
        var key = (change.Member.Id, roomKey);
        if (change.Kind == PresenceKind.Left)
        {
            seats.Remove(key);
        }
        else
        {
            bool announced = change.Kind == PresenceKind.Introduced || change.Notice is not null || (seats.TryGetValue(key, out var old) && old.Announced);
            seats[key] = new BusCodec.Seat(change.Member.Id, roomKey, change.RoomName, change.Name, announced);
        }

        _subscriber?.OnPresence(roomKey, change);
    }

    private Dictionary<(long Member, string Room), BusCodec.Seat> SeatsOf(string node)
    {
        if (!_seats.TryGetValue(node, out var seats))
        {
            seats = [];
            _seats[node] = seats;
            if (node != NodeId)
            {
                _knownNodes[node] = 0;
            }
        }

        return seats;
    }

    // Makes this node's view of another node's seats what the snapshot says, telling the rooms what changed (a member
    // that left or came while the two could not hear each other). Returns how many seats the node had before.
    private int ApplySnapshot(string node, IReadOnlyList<BusCodec.Seat> snapshot, string leaveReason)
    {
        var seats = SeatsOf(node);
        int before = seats.Count;
        var now = DateTimeOffset.UtcNow;
        var next = snapshot.ToDictionary(s => (s.Member, s.Room));
        foreach (var (key, seat) in seats.Where(s => !next.ContainsKey(s.Key)).ToList())
        {
            seats.Remove(key);
            var notice = seat.Announced ? new ChatEvent(ChatEventType.Leave, now) { Room = seat.RoomName, From = seat.Name, Text = leaveReason } : null;
            _subscriber?.OnPresence(seat.Room, new PresenceChange(PresenceKind.Left, seat.RoomName, new MemberRef(node, seat.Member), seat.Name, notice));
        }

        foreach (var (key, seat) in next)
        {
            var member = new MemberRef(node, seat.Member);
            if (!seats.TryGetValue(key, out var old))
            {
                var notice = seat.Announced ? new ChatEvent(ChatEventType.Join, now) { Room = seat.RoomName, From = seat.Name } : null;
                _subscriber?.OnPresence(seat.Room, new PresenceChange(PresenceKind.Entered, seat.RoomName, member, seat.Name, notice));
            }
            else if (old.Name != seat.Name)
            {
                var notice = seat.Announced ? new ChatEvent(ChatEventType.Nick, now) { Room = seat.RoomName, From = old.Name, To = seat.Name } : null;
                _subscriber?.OnPresence(seat.Room, new PresenceChange(PresenceKind.Renamed, seat.RoomName, member, seat.Name, notice));
            }
            else if (seat.Announced && !old.Announced)
            {
                var notice = new ChatEvent(ChatEventType.Join, now) { Room = seat.RoomName, From = seat.Name };
                _subscriber?.OnPresence(seat.Room, new PresenceChange(PresenceKind.Introduced, seat.RoomName, member, seat.Name, notice));
            }

            seats[key] = seat;
        }

        if (seats.Count == 0)
        {
            _seats.Remove(node);
            _knownNodes.TryRemove(node, out _);
        }
        else if (node != NodeId)
        {
            _knownNodes[node] = 0;
        }

        return before;
    }

    // Every live node's presence from its hash; nodes that are gone are dropped (and their hashes and ids cleared).
    private async Task ApplySnapshotsAsync()
    {
        var db = _cluster.Database;
        var listed = (await db.SetMembersAsync(RedisKeys.Nodes)).Select(v => (string)v!).ToHashSet(StringComparer.Ordinal);
        foreach (string node in listed.Union(_seats.Keys).ToList())
        {
            if (node == NodeId)
            {
                continue;
            }

            if (await db.KeyExistsAsync(RedisKeys.Node(node)))
            {
                var entries = await db.HashGetAllAsync(RedisKeys.NodeMembers(node));
                ApplySnapshot(node, [.. entries.Select(e => BusCodec.Seat.Parse(e.Name!, e.Value!))], string.Empty);
            }
            else
            {
                if (_seats.ContainsKey(node))
                {
                    int seats = ApplySnapshot(node, [], "server lost");
                    RedisLog.NodeGone(_cluster.Logger, node, seats);
                }

                await db.SetRemoveAsync(RedisKeys.Nodes, node);
                await db.KeyDeleteAsync(RedisKeys.NodeMembers(node));
            }
        }
    }
}
