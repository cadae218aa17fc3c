using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Parley.Protocol.Chat;
using Parley.Server.Logging;

namespace Parley.Server.History;

/// <summary>
/// The default store: one SQLite file in WAL mode. <see cref="Append"/> only queues the line on its room, under the
/// room's lock the relay holds for it anyway; one background writer takes each room's queued lines at once, writes a
/// batch in one transaction, and prunes between batches. Reads use
/// their own connections (WAL lets them run beside the writer) and merge in the lines still queued, so a page
/// never misses a line that was relayed but is not on disk yet.
/// </summary>
/// <remarks>
/// Files: <c>SqliteRoomHistory.Open.cs</c> (opening, checks, the schema and the one-line faults),
/// <c>SqliteRoomHistory.Writer.cs</c> (the writer, batches and pruning), this file (appending and reading).
/// </remarks>
internal sealed partial class SqliteRoomHistory : IRoomHistory
{
    private const string LineColumns = "id, type, ts, \"from\", text, room_name";

    private static readonly KeyValuePair<string, object?> QueueFullTag = new("reason", "queue_full");

    private readonly string _path;
    private readonly int _keep;
    private readonly int _days;
    private readonly ILogger _logger;
    private readonly SqliteHistoryTuning _tuning;
    private readonly FileStream _lockFile;
    private readonly string _readConnectionString;
    private readonly ConcurrentDictionary<string, RoomState> _rooms = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<RoomState> _roomsWithLines = new();
    private readonly ConcurrentQueue<WriterRequest> _requests = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly ConcurrentQueue<RoomState> _roomsWithLostIds = new();
    private readonly ConcurrentBag<ReadConnection> _readers = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _writing;
    private readonly Task _pruning;
    private volatile bool _available = true;
    private long _notKeptSinceLog;
    private int _disposed;

    // Lines queued on their rooms and not yet taken by the writer: at most QueueCapacity.
    private int _waiting;

    // 1 while the writer waits for work: the append that finds it so wakes it, and the others cost no wake-up.
    private int _writerIdle;
    private volatile bool _closing;

    private SqliteRoomHistory(string path, int keep, int days, ILogger logger, SqliteHistoryTuning tuning, FileStream lockFile, SqliteConnection writer)
    {
        _path = path;
        _keep = keep;
        _days = days;
        _logger = logger;
        _tuning = tuning;
        _lockFile = lockFile;
        _readConnectionString = ConnectionString(path, SqliteOpenMode.ReadOnly);
        // A thread of its own, not the thread pool's: the writer blocks in SQLite for milliseconds at a time, and on a
        // pool thread it would hold one of the few threads (two on two cores) that relay every line.
        _writing = Task.Factory.StartNew(() => WriteLoop(writer), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _pruning = keep > 0 || days > 0 ? Task.Run(PruneLoopAsync) : Task.CompletedTask;
    }

    /// <summary>The full path of the history file.</summary>
    public string Path => _path;

    public bool IsAvailable => _available;

    public event Action<HistoryLoss>? LinesNotKept;

    public void Append(string roomKey, ChatEvent line)
    {
        if (line.Id is null && line.Type != ChatEventType.Topic)
        {
            return; // nothing to page it by; the hub gives every room line its id
        }

        var room = _rooms.GetOrAdd(roomKey, static key => new RoomState(key));
        bool kept = false, listed = false, closing = _closing;
        lock (room)
        {
            if (line.Id is long id && id > room.HighWater)
            {
                room.HighWater = id;
            }

            if (line.Type == ChatEventType.Topic)
            {
                room.Topic = line;
            }

            // No channel between the relay and the writer: a line is queued on its room, under the lock the relay takes
            // here anyway, and the writer takes all of a room's lines at once. A channel's lock, taken per line by the
            // relay and again per line by the writer, cost the relay about as much CPU as the writer's own work did.
            if (!closing && (line.Id is null || Interlocked.Increment(ref _waiting) <= _tuning.QueueCapacity))
            {
                kept = true;
                if (line.Id is not null)
                {
                    room.Queued.Add(line);
                }

                if (line.Type == ChatEventType.Topic)
                {
                    room.TopicToWrite = line;
                }

                listed = !room.Listed;
                room.Listed = true;
            }
            else if (!closing)
            {
                Interlocked.Decrement(ref _waiting);
            }
        }

        if (listed)
        {
            _roomsWithLines.Enqueue(room);
            Wake();
        }

        if (kept)
        {
            return;
        }

        // The disk fell behind by a whole queue (or the store is closing): the line is not kept (relaying never waits
        // on the disk), but its id was given out, so the writer still records it as the room's high-water mark. The
        // room is told once until the writer next takes up its lost ids (once a batch), not once a line.
        _roomsWithLostIds.Enqueue(room);
        Interlocked.Increment(ref _notKeptSinceLog);
        ParleyMetrics.HistoryWriteFailures.Add(1, QueueFullTag);
        if (Interlocked.Exchange(ref room.LossReported, 1) == 0)
        {
            ReportLoss(room, HistoryLossReason.QueueFull);
        }
    }

    private void ReportLoss(RoomState room, HistoryLossReason reason)
    {
        try
        {
            LinesNotKept?.Invoke(new HistoryLoss(room.Key, reason));
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // A listener's failure must not cost the relay its line or the writer its loop.
            HistoryLog.LossReportFailed(_logger, exception, room.Key);
        }
    }

    public ValueTask<long> LastIdAsync(string roomKey, CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        long inMemory = 0;
        if (_rooms.TryGetValue(roomKey, out var room))
        {
            lock (room)
            {
                inMemory = room.HighWater;
            }
        }

        long onDisk = Read(reader =>
        {
            var command = reader.LastId;
            command.Parameters[0].Value = roomKey;
            return command.ExecuteScalar() is long id ? id : 0;
        }, 0L);
        return ValueTask.FromResult(Math.Max(inMemory, onDisk));
    }

    public ValueTask<IReadOnlyList<ChatEvent>> ReadAsync(string roomKey, HistoryQuery query, CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (query.Limit <= 0)
        {
            return ValueTask.FromResult<IReadOnlyList<ChatEvent>>([]);
        }

        // Pending first, disk second: a line the writer commits in between is then on disk, not missed.
        var pending = PendingOf(roomKey, query);
        var page = Read(reader => ReadPage(reader, roomKey, query), []);
        return ValueTask.FromResult<IReadOnlyList<ChatEvent>>(pending.Count == 0 ? page : Merge(page, pending, query));
    }

    public ValueTask<ChatEvent?> TopicAsync(string roomKey, CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_rooms.TryGetValue(roomKey, out var room))
        {
            lock (room)
            {
                if (room.Topic is not null)
                {
                    return ValueTask.FromResult<ChatEvent?>(room.Topic);
                }
            }
        }

        var topic = Read(reader =>
        {
            var command = reader.Topic;
            command.Parameters[0].Value = roomKey;
            using var rows = command.ExecuteReader();
            return rows.Read() ? LineOf(rows) with { History = false } : null;
        }, null);
        return ValueTask.FromResult(topic);
    }

    /// <summary>How many rooms (with an id high-water mark) and lines the file holds; counting lines reads every block's row.</summary>
    public ValueTask<HistoryStats> StatsAsync(CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var stats = Read(reader =>
        {
            using var command = reader.Connection.CreateCommand();
            command.CommandText = "SELECT (SELECT count(*) FROM rooms), (SELECT coalesce(sum(lines), 0) FROM blocks)";
            using var rows = command.ExecuteReader();
            rows.Read();
            return new HistoryStats(rows.GetInt64(0), rows.GetInt64(1));
        }, default);
        return ValueTask.FromResult(stats);
    }

    /// <summary>
    /// A page from the room's blocks: newest first for Latest and Before, oldest first for After, decoding blocks
    /// until the page is full. A room's blocks do not overlap, so the first blocks in that order hold the page.
    /// </summary>
    private static List<ChatEvent> ReadPage(ReadConnection reader, string roomKey, HistoryQuery query)
    {
        var command = query.Direction switch
        {
            HistoryDirection.Latest => reader.Latest,
            HistoryDirection.Before => reader.Before,
            HistoryDirection.After => reader.After,
            _ => throw new ArgumentOutOfRangeException(nameof(query), query.Direction, "unknown history direction"),
        };
        command.Parameters["$room"].Value = roomKey;
        if (query.Direction != HistoryDirection.Latest)
        {
            command.Parameters["$id"].Value = query.Id;
        }

        bool newestFirst = query.Direction != HistoryDirection.After;
        var page = new List<ChatEvent>(Math.Min(query.Limit, 512));
        var block = new List<ChatEvent>(HistoryBlock.MaxLines);
        using (var rows = command.ExecuteReader())
        {
            while (page.Count < query.Limit && rows.Read())
            {
                block.Clear();
                HistoryBlock.Decode(rows.GetFieldValue<byte[]>(1), rows.GetInt64(0), block);
                for (int i = 0; i < block.Count && page.Count < query.Limit; i++)
                {
                    var line = block[newestFirst ? block.Count - 1 - i : i];
                    if (InPage(query, line.Id!.Value))
                    {
                        page.Add(line);
                    }
                }
            }
        }

        if (newestFirst)
        {
            page.Reverse(); // a page is oldest first
        }

        return page;
    }

    /// <summary>A line from the columns <see cref="LineColumns"/>, starting at column <paramref name="offset"/>.</summary>
    private static ChatEvent LineOf(SqliteDataReader rows, int offset = 0)
    {
        // A type this version does not know (written by a newer one) still shows, as a message.
        string typeName = rows.GetString(offset + 1);
        var type = ChatEventFormatter.TryParseTypeName(typeName, out var known) ? known : ChatEventType.Message;
        return new ChatEvent(type, DateTimeOffset.FromUnixTimeMilliseconds(rows.GetInt64(offset + 2)))
        {
            Id = rows.IsDBNull(offset) ? null : rows.GetInt64(offset),
            From = rows.GetString(offset + 3),
            Text = rows.GetString(offset + 4),
            Room = rows.GetString(offset + 5),
            History = true,
        };
    }

    // Whether a line's id is on the query's side of its id (any id, for the latest lines).
    private static bool InPage(HistoryQuery query, long id) => query.Direction switch
    {
        HistoryDirection.Before => id < query.Id,
        HistoryDirection.After => id > query.Id,
        _ => true,
    };

    private List<ChatEvent> PendingOf(string roomKey, HistoryQuery query)
    {
        var pending = new List<ChatEvent>();
        if (!_rooms.TryGetValue(roomKey, out var room))
        {
            return pending;
        }

        lock (room)
        {
            AddInPage(room.Writing, query, pending);
            AddInPage(room.Queued, query, pending);
        }

        return pending;
    }

    private static void AddInPage(List<ChatEvent>? lines, HistoryQuery query, List<ChatEvent> into)
    {
        if (lines is null)
        {
            return;
        }

        foreach (var line in lines)
        {
            if (InPage(query, line.Id!.Value))
            {
                into.Add(line);
            }
        }
    }

    /// <summary>The page from disk and the queued lines together: by id, each once, cut to the query's limit on its side.</summary>
    private static ChatEvent[] Merge(List<ChatEvent> page, List<ChatEvent> pending, HistoryQuery query)
    {
        var byId = new SortedDictionary<long, ChatEvent>();
        foreach (var line in page)
        {
            byId[line.Id!.Value] = line;
        }

        foreach (var line in pending)
        {
            byId.TryAdd(line.Id!.Value, line with { History = true });
        }

        var all = byId.Values.ToArray();
        int take = Math.Min(all.Length, query.Limit);
        return query.Direction == HistoryDirection.After ? all[..take] : all[^take..];
    }

    /// <summary>
    /// Runs a read on a pooled connection. A failing read is logged and gives <paramref name="fallback"/>, and history
    /// is reported unavailable until the next write succeeds: members are told rather than shown a silent gap.
    /// </summary>
    private T Read<T>(Func<ReadConnection, T> read, T fallback)
    {
        ReadConnection? reader = null;
        try
        {
            reader = _readers.TryTake(out var pooled) ? pooled : new ReadConnection(_readConnectionString);
            var result = read(reader);
            _readers.Add(reader);
            return result;
        }
        catch (Exception exception) when (exception is SqliteException or InvalidDataException)
        {
            reader?.Dispose();
            _available = false;
            HistoryLog.ReadFailed(_logger, exception, _path);
            return fallback;
        }
    }

    /// <summary>
    /// One room's state in this process: its lines not yet on disk, the highest id it gave, its newest topic. All but
    /// <see cref="WrittenThrough"/> under the room's lock.
    /// </summary>
    private sealed class RoomState(string key)
    {
        public string Key { get; } = key;

        /// <summary>Lines appended and not yet taken by the writer, in the order they were appended.</summary>
        public List<ChatEvent> Queued { get; set; } = [];

        /// <summary>The lines the writer took and is writing (in id order); null between batches. Still pending to reads.</summary>
        public List<ChatEvent>? Writing { get; set; }

        /// <summary>A list the writer finished with, to be the next <see cref="Queued"/>: a busy room makes no new one a batch.</summary>
        public List<ChatEvent>? Spare { get; set; }

        /// <summary>A topic set since the writer last took the room's lines.</summary>
        public ChatEvent? TopicToWrite { get; set; }

        /// <summary>Whether the room is in the writer's queue of rooms with something to write.</summary>
        public bool Listed { get; set; }

        public long HighWater { get; set; }

        public ChatEvent? Topic { get; set; }

        /// <summary>The highest id of the room in the file's blocks, as the writer knows it (null until it looks); the writer's alone.</summary>
        public long? WrittenThrough { get; set; }

        /// <summary>1 once a lost line of the room was reported; the writer sets it back to 0 when it takes up the loss.</summary>
        public int LossReported;
    }

    /// <summary>A read-only connection with its statements prepared once; pooled, one user at a time.</summary>
    private sealed class ReadConnection : IDisposable
    {
        public ReadConnection(string connectionString)
        {
            Connection = new SqliteConnection(connectionString);
            Connection.Open();
            // Pages mapped rather than copied in with a read() each: a 500-line page of a large file touches pages
            // that are in the kernel's cache but not in this connection's.
            using (var mmap = Connection.CreateCommand())
            {
                mmap.CommandText = "PRAGMA mmap_size = 268435456";
                mmap.ExecuteNonQuery();
            }

            Latest = Prepare("SELECT first_id, data FROM blocks WHERE room = $room ORDER BY first_id DESC");
            Before = Prepare("SELECT first_id, data FROM blocks WHERE room = $room AND first_id < $id ORDER BY first_id DESC");
            // From the block that holds $id (the last to start at or below it) on.
            After = Prepare("SELECT first_id, data FROM blocks WHERE room = $room AND first_id >= coalesce((SELECT max(first_id) FROM blocks WHERE room = $room AND first_id <= $id), 0) ORDER BY first_id");
            LastId = Prepare("SELECT max(coalesce((SELECT last_id FROM rooms WHERE room = $room), 0), coalesce((SELECT last_id FROM blocks WHERE room = $room ORDER BY first_id DESC LIMIT 1), 0))");
            Topic = Prepare($"SELECT {LineColumns} FROM topics WHERE room = $room");
        }

        public SqliteConnection Connection { get; }

        public SqliteCommand Latest { get; }

        public SqliteCommand Before { get; }

        public SqliteCommand After { get; }

        public SqliteCommand LastId { get; }

        public SqliteCommand Topic { get; }

        public void Dispose() => Connection.Dispose();

        private SqliteCommand Prepare(string sql)
        {
            var command = Connection.CreateCommand();
            command.CommandText = sql;
            foreach (string name in new[] { "$room", "$id", "$limit" })
            {
                if (sql.Contains(name, StringComparison.Ordinal))
                {
                    command.Parameters.Add(new SqliteParameter(name, null));
                }
            }

            command.Prepare();
            return command;
        }
    }
}
