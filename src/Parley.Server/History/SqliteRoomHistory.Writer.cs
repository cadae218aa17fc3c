using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Parley.Protocol.Chat;
using Parley.Server.Logging;

namespace Parley.Server.History;

internal sealed partial class SqliteRoomHistory
{
    private static readonly KeyValuePair<string, object?> WriteErrorTag = new("reason", "write_error");

    private enum WriteKind
    {
        Line,
        Flush,
        Prune,
    }

    /// <summary>What the writer is asked to do: keep a line, or tell a waiter once everything before it is written or pruned.</summary>
    private readonly record struct PendingWrite(WriteKind Kind, RoomState? Room, ChatEvent? Line, TaskCompletionSource? Done);

    /// <summary>Waits until every line appended before the call has been written (or has failed to be).</summary>
    internal async Task FlushAsync(CancellationToken cancellation = default)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _queue.Writer.WriteAsync(new PendingWrite(WriteKind.Flush, null, null, done), cancellation);
        await done.Task.WaitAsync(cancellation);
    }

    /// <summary>Applies retention now, after the lines appended before the call are written; the timer does it every few minutes.</summary>
    internal async Task PruneAsync(CancellationToken cancellation = default)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _queue.Writer.WriteAsync(new PendingWrite(WriteKind.Prune, null, null, done), cancellation);
        await done.Task.WaitAsync(cancellation);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Stop the prune timer and any prune in progress, then let the writer drain what is queued, for a bounded time.
        _stopping.Cancel();
        _queue.Writer.TryComplete();
        bool closed = true;
        try
        {
            await _writing.WaitAsync(_tuning.CloseTimeout);
        }
        catch (TimeoutException)
        {
            // The disk is stuck: leave the writer to finish (or not) on its own; the process is on its way out.
            closed = false;
            HistoryLog.CloseTimedOut(_logger, _queue.Reader.Count, _tuning.CloseTimeout.TotalSeconds);
        }

        await _pruning;
        while (_readers.TryTake(out var reader))
        {
            reader.Dispose();
        }

        _lockFile.Dispose();
        if (closed)
        {
            _stopping.Dispose(); // a writer still running may yet look at it
        }
    }

    private async Task PruneLoopAsync()
    {
        using var timer = new PeriodicTimer(_tuning.PruneInterval, _tuning.Time);
        try
        {
            do
            {
                // A missed tick (the queue is full) is no loss: the next one prunes the same and more.
                _queue.Writer.TryWrite(new PendingWrite(WriteKind.Prune, null, null, null));
            }
            while (await timer.WaitForNextTickAsync(_stopping.Token));
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// The one writer: takes what is queued (up to a batch), writes it in one transaction, and between batches
    /// prunes a chunk at a time. A batch is as large as what queued while the previous one was written, so an idle
    /// server writes each line at once and a busy one writes fewer, larger transactions.
    /// </summary>
    private void WriteLoop(SqliteConnection connection)
    {
        var statements = new WriteStatements(connection);
        var reader = _queue.Reader;
        var batch = new List<PendingWrite>(_tuning.MaxBatch);
        PruneRun? prune = null;
        bool failing = false;
        try
        {
            while (true)
            {
                if (prune is null && !reader.TryPeek(out _))
                {
                    if (!WaitToRead(reader))
                    {
                        break; // completed and drained: the store is closing
                    }

                    // Woken by the first line of a burst: let the burst queue up, so it is one transaction, not a
                    // commit (and its pages in the log) for every few lines.
                    if (_tuning.BatchLinger > TimeSpan.Zero && !_stopping.IsCancellationRequested)
                    {
                        Thread.Sleep(_tuning.BatchLinger);
                    }
                }

                batch.Clear();
                while (batch.Count < _tuning.MaxBatch && reader.TryRead(out var item))
                {
                    batch.Add(item);
                }

                bool failed = !WriteBatch(statements, batch, ref failing);
                foreach (var item in batch)
                {
                    if (item.Kind == WriteKind.Flush)
                    {
                        item.Done!.TrySetResult();
                    }
                    else if (item.Kind == WriteKind.Prune)
                    {
                        prune ??= StartPrune(connection);
                        prune.Waiters.Add(item.Done);
                    }
                }

                if (prune is not null && (_stopping.IsCancellationRequested || !PruneStep(statements, prune)))
                {
                    prune.Finish(this);
                    prune = null;
                }

                if (failed && !_stopping.IsCancellationRequested)
                {
                    try
                    {
                        Task.Delay(_tuning.RetryDelay, _tuning.Time, _stopping.Token).GetAwaiter().GetResult();
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
            }

            // Fold the log into the file so a closed history is one self-contained file. Best effort: the lines are
            // safe in the log either way, and the next open replays it.
            try
            {
                Execute(connection, "PRAGMA wal_checkpoint(TRUNCATE)");
            }
            catch (SqliteException)
            {
            }
        }
        catch (Exception exception)
        {
            // Never into the caller: the store just stops keeping lines, and says so.
            _available = false;
            HistoryLog.WriteFailed(_logger, exception, _path, reader.Count);
        }
        finally
        {
            prune?.Finish(this);
            statements.Dispose();
            connection.Dispose();
        }
    }

    // Blocks the writer's own thread until something is queued; false once the queue is completed and drained.
    private static bool WaitToRead(ChannelReader<PendingWrite> reader)
    {
        var wait = reader.WaitToReadAsync();
        return wait.IsCompleted ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Writes a batch's lines and the high-water marks of its rooms in one transaction. False if it failed.</summary>
    private bool WriteBatch(WriteStatements statements, List<PendingWrite> batch, ref bool failing)
    {
        // Rooms whose lines were not queued (a full queue) still record the ids they gave.
        // Each room of the batch with its numbered lines (the ones it has pending), in the order they were queued.
        var rooms = new Dictionary<RoomState, List<ChatEvent>>();
        while (_roomsWithLostIds.TryDequeue(out var lost))
        {
            rooms.TryAdd(lost, []);
            Volatile.Write(ref lost.LossReported, 0); // a line lost from now on is reported again
        }

        int lines = 0;
        foreach (var item in batch)
        {
            if (item.Kind == WriteKind.Line)
            {
                lines++;
                if (!rooms.TryGetValue(item.Room!, out var list))
                {
                    rooms[item.Room!] = list = [];
                }

                if (item.Line!.Id is not null)
                {
                    list.Add(item.Line);
                }
            }
        }

        if (rooms.Count == 0)
        {
            return true;
        }

        bool written = false;
        var writtenThrough = new List<(RoomState Room, long Id)>(rooms.Count);
        try
        {
            using (var transaction = statements.Connection.BeginTransaction())
            {
                statements.Use(transaction);
                foreach (var item in batch)
                {
                    if (item.Kind == WriteKind.Line && item.Line!.Type == ChatEventType.Topic)
                    {
                        statements.WriteTopic(item.Room!.Key, item.Line);
                    }
                }

                foreach (var (room, list) in rooms)
                {
                    if (list.Count > 0)
                    {
                        writtenThrough.Add((room, statements.WriteLines(room, list)));
                    }
                }

                foreach (var room in rooms.Keys)
                {
                    long highWater;
                    lock (room)
                    {
                        highWater = room.HighWater;
                    }

                    if (highWater > 0)
                    {
                        statements.RaiseHighWater(room.Key, highWater);
                    }
                }

                transaction.Commit();
            }

            foreach (var (room, id) in writtenThrough)
            {
                room.WrittenThrough = id;
            }

            written = true;
            _available = true;
            if (failing)
            {
                failing = false;
                HistoryLog.WriteRecovered(_logger, _path);
            }
        }
        catch (Exception exception) when (exception is SqliteException or IOException or InvalidOperationException or InvalidDataException)
        {
            _available = false;
            ParleyMetrics.HistoryWriteFailures.Add(lines, WriteErrorTag);
            if (!failing)
            {
                failing = true;
                HistoryLog.WriteFailed(_logger, exception, _path, lines);
            }
            else
            {
                HistoryLog.WriteStillFailing(_logger, _path, lines, exception.Message);
            }

            // The high-water marks of this batch were not written either: try them again with the next batch.
            foreach (var (room, list) in rooms)
            {
                _roomsWithLostIds.Enqueue(room);
                if (list.Count > 0)
                {
                    ReportLoss(room, HistoryLossReason.WriteFailed);
                }
            }
        }
        finally
        {
            // Written or lost, these lines are no longer pending: reads see them on disk, or not at all.
            foreach (var (room, list) in rooms)
            {
                lock (room)
                {
                    for (int i = 0; i < list.Count; i++)
                    {
                        room.Pending.Dequeue();
                    }
                }
            }
        }

        long dropped = Interlocked.Exchange(ref _notKeptSinceLog, 0);
        if (dropped > 0)
        {
            HistoryLog.QueueFull(_logger, _tuning.QueueCapacity, dropped);
        }

        return written;
    }

    private PruneRun StartPrune(SqliteConnection connection)
    {
        var run = new PruneRun(_days > 0 ? _tuning.Time.GetUtcNow().AddDays(-_days).ToUnixTimeMilliseconds() : long.MinValue);
        try
        {
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT room FROM rooms";
            using var rows = command.ExecuteReader();
            while (rows.Read())
            {
                run.Rooms.Enqueue(rows.GetString(0));
            }
        }
        catch (SqliteException exception)
        {
            HistoryLog.PruneFailed(_logger, exception, _path); // an empty run: the next tick tries again
        }

        return run;
    }

    /// <summary>
    /// Deletes one chunk of one room's expired lines: those more than <c>keep</c> ids below the room's newest, and
    /// those older than <c>days</c>. Ids are dense within a room (one per line), so "more than keep ids below" keeps the
    /// newest keep lines; where ids have gaps it keeps fewer, never more. False when the run is over.
    /// </summary>
    private bool PruneStep(WriteStatements statements, PruneRun run)
    {
        while (run.Rooms.TryPeek(out string? room))
        {
            try
            {
                var (deleted, more) = statements.Prune(room, _keep, run.CutoffMs);
                run.Deleted += deleted;
                if (more)
                {
                    return true;
                }
            }
            catch (Exception exception) when (exception is SqliteException or InvalidOperationException or InvalidDataException)
            {
                HistoryLog.PruneFailed(_logger, exception, _path);
            }

            run.Rooms.Dequeue();
        }

        return false;
    }

    private sealed class PruneRun(long cutoffMs)
    {
        public long CutoffMs { get; } = cutoffMs;

        public Queue<string> Rooms { get; } = new();

        public List<TaskCompletionSource?> Waiters { get; } = [];

        public long Deleted { get; set; }

        public void Finish(SqliteRoomHistory history)
        {
            if (Deleted > 0)
            {
                HistoryLog.Pruned(history._logger, Deleted, history._path);
            }

            foreach (var waiter in Waiters)
            {
                waiter?.TrySetResult();
            }
        }
    }

    /// <summary>The writer's statements, prepared once on its connection.</summary>
    private sealed class WriteStatements : IDisposable
    {
        // Blocks a prune step deletes or rewrites in one transaction: a few ms of the write lock, so batches of new
        // lines are not held up.
        private const int PruneChunkBlocks = 32;

        private static readonly Comparison<ChatEvent> ById = static (a, b) => a.Id!.Value.CompareTo(b.Id!.Value);

        private readonly SqliteBlockInserter _blocks;
        private readonly SqliteCommand _topic;
        private readonly SqliteCommand _highWater;
        private readonly SqliteCommand _newestId;
        private readonly SqliteCommand _blocksFrom;
        private readonly SqliteCommand _deleteFrom;
        private readonly SqliteCommand _oldestBlocks;
        private readonly SqliteCommand _block;
        private readonly SqliteCommand _deleteRange;
        private readonly SqliteCommand[] _commands;

        public WriteStatements(SqliteConnection connection)
        {
            Connection = connection;
            _blocks = new SqliteBlockInserter(connection);
            _topic = Create(connection, "INSERT OR REPLACE INTO topics (room, id, type, ts, \"from\", text, room_name) VALUES ($room, $id, $type, $ts, $from, $text, $name)",
                "$room", "$id", "$type", "$ts", "$from", "$text", "$name");
            _highWater = Create(connection, "INSERT INTO rooms (room, last_id) VALUES ($room, $id) ON CONFLICT (room) DO UPDATE SET last_id = max(last_id, excluded.last_id)",
                "$room", "$id");
            _newestId = Create(connection, "SELECT last_id FROM blocks WHERE room = $room ORDER BY first_id DESC LIMIT 1", "$room");
            _blocksFrom = Create(connection, "SELECT first_id, data FROM blocks WHERE room = $room AND first_id >= coalesce((SELECT max(first_id) FROM blocks WHERE room = $room AND first_id <= $id), 0) ORDER BY first_id",
                "$room", "$id");
            _deleteFrom = Create(connection, "DELETE FROM blocks WHERE room = $room AND first_id >= $from", "$room", "$from");
            _oldestBlocks = Create(connection, "SELECT first_id, last_id, lines, min_ts, max_ts FROM blocks WHERE room = $room ORDER BY first_id LIMIT $limit", "$room", "$limit");
            _block = Create(connection, "SELECT data FROM blocks WHERE room = $room AND first_id = $first", "$room", "$first");
            _deleteRange = Create(connection, "DELETE FROM blocks WHERE room = $room AND first_id >= $from AND first_id <= $to", "$room", "$from", "$to");
            _commands = [_topic, _highWater, _newestId, _blocksFrom, _deleteFrom, _oldestBlocks, _block, _deleteRange];
        }

        public SqliteConnection Connection { get; }

        public void Use(SqliteTransaction? transaction)
        {
            foreach (var command in _commands)
            {
                command.Transaction = transaction;
            }
        }

        public void WriteTopic(string roomKey, ChatEvent line)
        {
            var parameters = _topic.Parameters;
            parameters[0].Value = roomKey;
            parameters[1].Value = line.Id is long id ? id : DBNull.Value;
            parameters[2].Value = ChatEventFormatter.TypeName(line.Type);
            parameters[3].Value = line.Timestamp.ToUnixTimeMilliseconds();
            parameters[4].Value = line.From;
            parameters[5].Value = line.Text;
            parameters[6].Value = line.Room;
            _topic.ExecuteNonQuery();
        }

        /// <summary>
        /// Writes a batch's lines of one room (numbered, in any order) as blocks after the room's last block; returns the
        /// highest id now written. A line that reaches the writer after higher ids of its room were written (two
        /// publishers, and a batch boundary between their lines) is merged into the blocks it falls among, which are
        /// written again, so that a room's blocks never overlap and a page can stop at the first blocks it reads.
        /// </summary>
        public long WriteLines(RoomState room, List<ChatEvent> batchLines)
        {
            // Sorting keeps the count the caller takes off the room's pending lines; a merge works on a copy.
            var lines = batchLines;
            if (!InIdOrder(lines))
            {
                lines.Sort(ById);
            }

            long writtenThrough = room.WrittenThrough ??= NewestId(room.Key);
            if (lines[0].Id!.Value <= writtenThrough)
            {
                lines = [.. lines];
                TakeBlocksFrom(room.Key, lines[0].Id!.Value, lines);
                lines.Sort(ById);
                RemoveRepeatedIds(lines);
            }

            var all = CollectionsMarshal.AsSpan(lines);
            for (int start = 0; start < all.Length; start += HistoryBlock.MaxLines)
            {
                _blocks.Insert(room.Key, all.Slice(start, Math.Min(HistoryBlock.MaxLines, all.Length - start)));
            }

            return Math.Max(writtenThrough, lines[^1].Id!.Value);
        }

        public void RaiseHighWater(string roomKey, long id)
        {
            _highWater.Parameters[0].Value = roomKey;
            _highWater.Parameters[1].Value = id;
            _highWater.ExecuteNonQuery();
        }

        /// <summary>
        /// One transaction of retention for one room: deletes its oldest blocks whose lines have all expired, and
        /// rewrites the first block that has some expired and some not. More is true if expired blocks may remain.
        /// </summary>
        public (long Deleted, bool More) Prune(string roomKey, int keep, long cutoffMs)
        {
            using var transaction = Connection.BeginTransaction();
            Use(transaction);
            try
            {
                long keepBelow = keep > 0 ? NewestId(roomKey) - keep : long.MinValue;
                long deleted = 0;
                long? expiredFrom = null, expiredTo = null, straddling = null;
                int read = 0;
                _oldestBlocks.Parameters[0].Value = roomKey;
                _oldestBlocks.Parameters[1].Value = PruneChunkBlocks;
                using (var rows = _oldestBlocks.ExecuteReader())
                {
                    while (rows.Read())
                    {
                        read++;
                        long first = rows.GetInt64(0), last = rows.GetInt64(1), minTs = rows.GetInt64(3), maxTs = rows.GetInt64(4);
                        if (last <= keepBelow || maxTs < cutoffMs)
                        {
                            expiredFrom ??= first;
                            expiredTo = first;
                            deleted += rows.GetInt64(2);
                            continue;
                        }

                        if (first <= keepBelow || minTs < cutoffMs)
                        {
                            straddling = first;
                        }

                        break;
                    }
                }

                bool more = read == PruneChunkBlocks && expiredTo is not null && straddling is null;
                if (expiredFrom is long from)
                {
                    _deleteRange.Parameters[0].Value = roomKey;
                    _deleteRange.Parameters[1].Value = from;
                    _deleteRange.Parameters[2].Value = expiredTo!.Value;
                    _deleteRange.ExecuteNonQuery();
                }

                if (straddling is long firstId)
                {
                    _block.Parameters[0].Value = roomKey;
                    _block.Parameters[1].Value = firstId;
                    var lines = new List<ChatEvent>(HistoryBlock.MaxLines);
                    HistoryBlock.Decode((byte[])_block.ExecuteScalar()!, firstId, lines);
                    int before = lines.Count;
                    lines.RemoveAll(line => line.Id!.Value <= keepBelow || line.Timestamp.ToUnixTimeMilliseconds() < cutoffMs);
                    deleted += before - lines.Count;
                    _deleteRange.Parameters[0].Value = roomKey;
                    _deleteRange.Parameters[1].Value = firstId;
                    _deleteRange.Parameters[2].Value = firstId;
                    _deleteRange.ExecuteNonQuery();
                    if (lines.Count > 0)
                    {
                        _blocks.Insert(roomKey, CollectionsMarshal.AsSpan(lines));
                    }
                }

                transaction.Commit();
                return (deleted, more);
            }
            finally
            {
                Use(null);
            }
        }

        public void Dispose()
        {
            _blocks.Dispose();
            foreach (var command in _commands)
            {
                command.Dispose();
            }
        }

        private long NewestId(string roomKey)
        {
            _newestId.Parameters[0].Value = roomKey;
            return _newestId.ExecuteScalar() is long id ? id : 0;
        }

        // Adds the lines of the room's blocks from the one holding fromId on to lines, and deletes those blocks.
        private void TakeBlocksFrom(string roomKey, long fromId, List<ChatEvent> lines)
        {
            _blocksFrom.Parameters[0].Value = roomKey;
            _blocksFrom.Parameters[1].Value = fromId;
            long? firstTaken = null;
            using (var rows = _blocksFrom.ExecuteReader())
            {
                while (rows.Read())
                {
                    long first = rows.GetInt64(0);
                    firstTaken ??= first;
                    HistoryBlock.Decode(rows.GetFieldValue<byte[]>(1), first, lines);
                }
            }

            if (firstTaken is long from)
            {
                _deleteFrom.Parameters[0].Value = roomKey;
                _deleteFrom.Parameters[1].Value = from;
                _deleteFrom.ExecuteNonQuery();
            }
        }

        private static bool InIdOrder(List<ChatEvent> lines)
        {
            for (int i = 1; i < lines.Count; i++)
            {
                if (lines[i].Id!.Value <= lines[i - 1].Id!.Value)
                {
                    return false;
                }
            }

            return true;
        }

        private static void RemoveRepeatedIds(List<ChatEvent> sorted)
        {
            int kept = 0;
            for (int i = 0; i < sorted.Count; i++)
            {
                if (kept == 0 || sorted[i].Id!.Value != sorted[kept - 1].Id!.Value)
                {
                    sorted[kept++] = sorted[i];
                }
            }

            sorted.RemoveRange(kept, sorted.Count - kept);
        }

        private static SqliteCommand Create(SqliteConnection connection, string sql, params string[] parameters)
        {
            var command = connection.CreateCommand();
            command.CommandText = sql;
            foreach (string name in parameters)
            {
                command.Parameters.Add(new SqliteParameter(name, DBNull.Value));
            }

            return command;
        }
    }
}
