using System.Collections.Concurrent;
using Parley.Protocol.Chat;

namespace Parley.Server.History;

/// <summary>
/// <c>--history memory</c>: each room keeps its newest <c>keep</c> lines in a list, for as long as the process runs.
/// Ids never restart within the process; after a restart they start again (that is what the SQLite store is for).
/// </summary>
internal sealed class MemoryRoomHistory : IRoomHistory
{
    private readonly ConcurrentDictionary<string, Room> _rooms = new(StringComparer.Ordinal);
    private readonly int _keep;

    /// <param name="keep">Lines kept per room; zero keeps all (the user asked for it: memory grows with the chat).</param>
    public MemoryRoomHistory(int keep)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        _keep = keep;
    }

    public bool IsAvailable => true;

    // Keeps every line it is given: never raised.
    public event Action<HistoryLoss>? LinesNotKept
    {
        add { }
        remove { }
    }

    public ValueTask<long> LastIdAsync(string roomKey, CancellationToken cancellation = default)
    {
        if (!_rooms.TryGetValue(roomKey, out var room))
        {
            return ValueTask.FromResult(0L);
        }

        lock (room)
        {
            return ValueTask.FromResult(room.LastId);
        }
    }

    public void Append(string roomKey, ChatEvent line)
    {
        if (line.Id is not long id && line.Type != ChatEventType.Topic)
        {
            return; // nothing to page it by; the hub gives every room line its id
        }

        var room = _rooms.GetOrAdd(roomKey, static _ => new Room());
        lock (room)
        {
            if (line.Type == ChatEventType.Topic)
            {
                room.Topic = line;
            }

            if (line.Id is long lineId)
            {
                room.Add(line, lineId, _keep);
            }
        }
    }

    public ValueTask<IReadOnlyList<ChatEvent>> ReadAsync(string roomKey, HistoryQuery query, CancellationToken cancellation = default)
    {
        if (query.Limit <= 0 || !_rooms.TryGetValue(roomKey, out var room))
        {
            return ValueTask.FromResult<IReadOnlyList<ChatEvent>>([]);
        }

        lock (room)
        {
            return ValueTask.FromResult<IReadOnlyList<ChatEvent>>(room.Read(query));
        }
    }

    public ValueTask<ChatEvent?> TopicAsync(string roomKey, CancellationToken cancellation = default)
    {
        if (!_rooms.TryGetValue(roomKey, out var room))
        {
            return ValueTask.FromResult<ChatEvent?>(null);
        }

        lock (room)
        {
            return ValueTask.FromResult(room.Topic);
        }
    }

    public ValueTask<HistoryStats> StatsAsync(CancellationToken cancellation = default)
    {
        long lines = 0;
        foreach (var room in _rooms.Values)
        {
            lock (room)
            {
                lines += room.Count;
            }
        }

        return ValueTask.FromResult(new HistoryStats(_rooms.Count, lines));
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>One room's lines in id order; a list with a moving start, so trimming the oldest costs no copy each time.</summary>
    private sealed class Room
    {
        private readonly List<ChatEvent> _lines = [];
        private int _start;

        public long LastId { get; private set; }

        public ChatEvent? Topic { get; set; }

        public int Count => _lines.Count - _start;

        public void Add(ChatEvent line, long id, int keep)
        {
            if (id > LastId || Count == 0)
            {
                _lines.Add(line);
            }
            else
            {
                // Out of order (two nodes racing, say): rare, so a search and an insert are fine.
                int at = IndexOfFirstAbove(id - 1);
                if (at < _lines.Count && _lines[at].Id == id)
                {
                    return; // already kept
                }

                _lines.Insert(at, line);
            }

            LastId = Math.Max(LastId, id);
            if (keep > 0 && Count > keep)
            {
                int firstTrimmed = _start;
                _start += Count - keep;
                for (int i = firstTrimmed; i < _start; i++)
                {
                    _lines[i] = null!; // let the newly trimmed lines go before the compaction below
                }

                // Compact once the dead prefix is as large as the live part: each line is moved O(1) times on average.
                if (_start >= Count)
                {
                    _lines.RemoveRange(0, _start);
                    _start = 0;
                }
            }
        }

        public ChatEvent[] Read(HistoryQuery query)
        {
            int from, to; // [from, to) in _lines
            switch (query.Direction)
            {
                case HistoryDirection.Latest:
                    to = _lines.Count;
                    from = Math.Max(_start, to - query.Limit);
                    break;
                case HistoryDirection.Before:
                    to = IndexOfFirstAbove(query.Id - 1);
                    from = Math.Max(_start, to - query.Limit);
                    break;
                case HistoryDirection.After:
                    from = IndexOfFirstAbove(query.Id);
                    to = (int)Math.Min(_lines.Count, (long)from + query.Limit);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(query), query.Direction, "unknown history direction");
            }

            var page = new ChatEvent[Math.Max(0, to - from)];
            for (int i = 0; i < page.Length; i++)
            {
                page[i] = _lines[from + i] with { History = true };
            }

            return page;
        }

        /// <summary>The index of the first live line whose id is above <paramref name="id"/>, or the end.</summary>
        private int IndexOfFirstAbove(long id)
        {
            int low = _start, high = _lines.Count;
            while (low < high)
            {
                int middle = low + ((high - low) / 2);
                if (_lines[middle].Id!.Value <= id)
                {
                    low = middle + 1;
                }
                else
                {
                    high = middle;
                }
            }

            return low;
        }
    }
}
