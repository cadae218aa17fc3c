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
    private readonly ChatEvent?[] _recent;
    private ChatMember[]? _localSnapshot = [];
    private ChatMember[] _behind = [];
    private int _recentCount;
    private int _recentNext;
    private int _entering;

    public ChatRoom(string key, string name, int recentCapacity)
    {
        Key = key;
        Name = name;
        _recent = new ChatEvent?[recentCapacity];
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
                case Bus.PresenceKind.Renamed:
                case Bus.PresenceKind.Introduced:
                    _roster[change.Member] = change.Name;
                    break;
                case Bus.PresenceKind.Left:
                    _roster.Remove(change.Member);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(change), change.Kind, "unknown presence change");
            }
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
        if (_recent.Length == 0)
        {
            return;
        }

        foreach (var line in lines)
        {
            _recent[_recentNext] = line;
            _recentNext = (_recentNext + 1) % _recent.Length;
            _recentCount = Math.Min(_recentCount + 1, _recent.Length);
        }
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
