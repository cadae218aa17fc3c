using Parley.Protocol.Chat;

namespace Parley.Server.Chat;

/// <summary>
/// A room as one node sees it: its members on this node (whom it delivers to), the roster of every member on every
/// node (for <c>/who</c>, <c>/rooms</c> and the presence limit), its recent lines (replayed on entry) and its topic.
/// </summary>
internal sealed class ChatRoom
{
    private readonly Lock _gate = new();
    private readonly HashSet<ChatMember> _local = [];
    private readonly Dictionary<MemberRef, string> _roster = [];
    private readonly HashSet<MemberRef> _operators = [];
    private readonly HashSet<MemberRef> _voiced = [];
    private readonly int _recentCapacity;

    // Grown as lines come, up to the capacity: a room nobody speaks in (a member alone in its own room, thousands of
    // them) holds no 64-slot array, about 530 B a room.
    private ChatEvent?[] _recent = [];
    private ChatMember[]? _localSnapshot = [];
    private ChatMember[] _behind = [];
    private int _recentCount;
    private int _recentNext;
    private int _entering;
    private bool _recentHoldsAll;
    private OutboundMessage? _replay;
    private int _replayCount;

    public ChatRoom(string key, string name, int recentCapacity)
    {
        Key = key;
        Name = name;
        _recentCapacity = recentCapacity;
    }

    /// <summary>The room's key (<see cref="ChatNames.Key"/>): what the bus, history and lookups use.</summary>
    public string Key { get; }

    /// <summary>The room's name as first given, as members see it.</summary>
    public string Name { get; }

    /// <summary>
    /// Held while lines are delivered to the local members, and while a member enters (its replay is queued, then it
    /// joins the delivery): lines and notices reach every member in one order, and an entering member misses none and
    /// sees none twice. Queueing never blocks, so no I/O happens under it.
    /// </summary>
    public Lock DeliveryGate { get; } = new();

    /// <summary>
    /// Channel mode +t (on by default, as Ergo has it): only channel operators may set the topic. Kept by every node
    /// from the room's presence changes, in the room's one order.
    /// </summary>
    public bool TopicLocked { get; private set; } = true;

    /// <summary>The latest topic line, or null.</summary>
    public ChatEvent? Topic { get; set; }

    /// <summary>
    /// When (<see cref="TimeProvider.GetTimestamp"/>) history last reported lines of this room not kept, or null: the
    /// room is told once per episode of losses. Read and written under <see cref="DeliveryGate"/>.
    /// </summary>
    public long? LastHistoryLoss { get; set; }

    /// <summary>True once the room's topic was looked up in history (when the room was first used here).</summary>
    public bool TopicLoaded { get; set; }

    /// <summary>
    /// True once a read of the store found nothing older than the lines kept in memory: since every later line is
    /// remembered as well, a replay needs no store read. Set under <see cref="DeliveryGate"/>; read without it (a stale
    /// false costs one read more).
    /// </summary>
    public bool RecentHoldsAll
    {
        get => Volatile.Read(ref _recentHoldsAll);
        set => Volatile.Write(ref _recentHoldsAll, value);
    }

    /// <summary>
    /// The members on this node, as a snapshot. Rebuilt on first read after a change rather than on every change, so
    /// thousands of members leaving at once cost O(N) in all instead of one array copy each.
    /// </summary>
    public ChatMember[] LocalMembers => Volatile.Read(ref _localSnapshot) ?? RebuildLocal();

    /// <summary>Members on every node.</summary>
    public int RosterCount
    {
        get
        {
            lock (_gate)
            {
                return _roster.Count;
            }
        }
    }

    /// <summary>True while nobody is in the room and nobody is on the way in: it may be forgotten.</summary>
    public bool IsDeserted
    {
        get
        {
            lock (_gate)
            {
                return _roster.Count == 0 && _local.Count == 0 && _entering == 0;
            }
        }
    }

    /// <summary>Members that were behind when a line was queued for them: the room's publishers wait for them.</summary>
    public ChatMember[] Behind => Volatile.Read(ref _behind);

    public void BeginEntering()
    {
        lock (_gate)
        {
            _entering++;
        }
    }

    public void EndEntering()
    {
        lock (_gate)
        {
            _entering--;
        }
    }

    public void AddLocal(ChatMember member)
    {
        lock (_gate)
        {
            _local.Add(member);
            Volatile.Write(ref _localSnapshot, null);
        }
    }

    public void RemoveLocal(ChatMember member)
    {
        lock (_gate)
        {
            _local.Remove(member);
            Volatile.Write(ref _localSnapshot, null);
            if (Array.IndexOf(_behind, member) >= 0)
            {
                Volatile.Write(ref _behind, Array.FindAll(_behind, m => m != member));
            }
        }
    }

    public void MarkBehind(ChatMember member)
    {
        lock (_gate)
        {
            if (Array.IndexOf(_behind, member) < 0 && _local.Contains(member))
            {
                Volatile.Write(ref _behind, [.. _behind, member]);
            }
        }
    }

    public void ClearBehind(ChatMember member)
    {
        lock (_gate)
        {
            Volatile.Write(ref _behind, Array.FindAll(_behind, m => m != member));
        }
    }

    public void ApplyToRoster(Bus.PresenceChange change)
    {
        lock (_gate)
        {
            switch (change.Kind)
            {
                case Bus.PresenceKind.Entered:
                    // Whoever finds the room empty created it and is its channel operator (Ergo's rule). Every node
                    // applies presence in the room's one order, so every node agrees on who that was.
                    if (_roster.Count == 0)
                    {
                        _operators.Add(change.Member);
                    }

                    _roster[change.Member] = change.Name;
                    break;
                case Bus.PresenceKind.Renamed:
                case Bus.PresenceKind.Introduced:
                    _roster[change.Member] = change.Name;
                    break;
                case Bus.PresenceKind.Left:
                    _roster.Remove(change.Member);
                    _operators.Remove(change.Member);
                    _voiced.Remove(change.Member);
                    break;
                case Bus.PresenceKind.ModeChanged:
                    ApplyMode(change.Member, change.Notice?.Text ?? string.Empty);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(change), change.Kind, "unknown presence change");
            }
        }
    }

    // Callers hold _gate.
    private void ApplyMode(MemberRef member, string mode)
    {
        bool on = mode.StartsWith('+');
        switch (mode.TrimStart('+', '-'))
        {
            case "o" when _roster.ContainsKey(member):
                _ = on ? _operators.Add(member) : _operators.Remove(member);
                break;
            case "v" when _roster.ContainsKey(member):
                _ = on ? _voiced.Add(member) : _voiced.Remove(member);
                break;
            case "t":
                TopicLocked = on;
                break;
        }
    }

    public bool IsChannelOperator(MemberRef member)
    {
        lock (_gate)
        {
            return _operators.Contains(member);
        }
    }

    public bool IsVoiced(MemberRef member)
    {
        lock (_gate)
        {
            return _voiced.Contains(member);
        }
    }

    /// <summary>The member on the roster with that name key (<see cref="ChatNames.Key"/>), on any node, or null.</summary>
    public (MemberRef Member, string Name)? FindOnRoster(string nameKey)
    {
        lock (_gate)
        {
            foreach (var (member, name) in _roster)
            {
                if (ChatNames.Key(name) == nameKey)
                {
                    return (member, name);
                }
            }

            return null;
        }
    }

    /// <summary>
    /// The names on the roster (at most <paramref name="limit"/>) with their channel prefixes, operators' <c>@</c>
    /// before voices' <c>+</c> (IRC's NAMES and WHO; multi-prefix shows both).
    /// </summary>
    public (string Name, bool Operator, bool Voiced)[] RosterWithModes(int limit)
    {
        lock (_gate)
        {
            return [.. _roster.Take(limit).Select(entry => (entry.Value, _operators.Contains(entry.Key), _voiced.Contains(entry.Key)))];
        }
    }

    /// <summary>The names on the roster (at most <paramref name="limit"/>) and how many there are in all.</summary>
    public (string[] Names, int Count) RosterNames(int limit)
    {
        lock (_gate)
        {
            return ([.. _roster.Values.Take(limit)], _roster.Count);
        }
    }

    /// <summary>Keeps the room's newest lines for replay. Callers hold <see cref="DeliveryGate"/>.</summary>
    public void Remember(IReadOnlyList<ChatEvent> lines)
    {
        if (_recentCapacity == 0)
        {
            return;
        }

        foreach (var line in lines)
        {
            if (_recentCount == _recent.Length && _recent.Length < _recentCapacity)
            {
                // Below the capacity the ring has never wrapped: its lines are in order from slot 0.
                Array.Resize(ref _recent, Math.Min(_recentCapacity, Math.Max(4, _recent.Length * 2)));
                _recentNext = _recentCount;
            }

            _recent[_recentNext] = line;
            _recentNext = (_recentNext + 1) % _recent.Length;
            _recentCount = Math.Min(_recentCount + 1, _recent.Length);
        }

        _replay = null;
    }

    /// <summary>
    /// <paramref name="recent"/> (what <see cref="Recent"/> just gave for <paramref name="count"/>) as one message of
    /// history lines, made once and shared by every newcomer until the room's next line: a crowd entering a busy room
    /// would otherwise format the whole replay once per newcomer, and that was a fifth of what a newcomer cost while
    /// 5,000 arrived at once. Callers hold <see cref="DeliveryGate"/>.
    /// </summary>
    public OutboundMessage Replay(int count, List<ChatEvent> recent)
    {
        if (_replay is { } cached && _replayCount == count)
        {
            return cached;
        }

        var parts = new OutboundMessage[recent.Count];
        for (int i = 0; i < parts.Length; i++)
        {
            parts[i] = new OutboundMessage(recent[i].History ? recent[i] : recent[i] with { History = true });
        }

        _replayCount = count;
        return _replay = OutboundMessage.Together(parts);
    }

    /// <summary>Up to <paramref name="count"/> of the newest lines, oldest first. Callers hold <see cref="DeliveryGate"/>.</summary>
    public List<ChatEvent> Recent(int count)
    {
        int n = Math.Min(count, _recentCount);
        var lines = new List<ChatEvent>(n);
        for (int i = n; i > 0; i--)
        {
            lines.Add(_recent[(_recentNext - i + _recent.Length) % _recent.Length]!);
        }

        return lines;
    }

    public int RecentCount => Volatile.Read(ref _recentCount);

    private ChatMember[] RebuildLocal()
    {
        lock (_gate)
        {
            var snapshot = _localSnapshot ?? [.. _local];
            Volatile.Write(ref _localSnapshot, snapshot);
            return snapshot;
        }
    }
}
