using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;
using Parley.Protocol.Chat;
using Parley.Server.Logging;

namespace Parley.Server.History;

internal sealed partial class SqliteRoomHistory
{
    private static readonly KeyValuePair<string, object?> WriteErrorTag = new("reason", "write_error");

    private enum RequestKind
    {
        Flush,
        Prune,
    }

    /// <summary>What the writer is asked besides keeping lines: to tell a waiter once everything before it is written, or pruned.</summary>
    private readonly record struct WriterRequest(RequestKind Kind, TaskCompletionSource? Done);

    /// <summary>A room's part of a batch: the lines taken from it (in id order; empty for a room with only lost ids).</summary>
    private readonly record struct RoomBatch(RoomState Room, List<ChatEvent> Lines, ChatEvent? Topic, long HighWater);

    /// <summary>Waits until every line appended before the call has been written (or has failed to be).</summary>
    internal Task FlushAsync(CancellationToken cancellation = default) => RequestAsync(RequestKind.Flush, cancellation);

    /// <summary>Applies retention now, after the lines appended before the call are written; the timer does it every few minutes.</summary>
    internal Task PruneAsync(CancellationToken cancellation = default) => RequestAsync(RequestKind.Prune, cancellation);

    private async Task RequestAsync(RequestKind kind, CancellationToken cancellation)
    {
        ObjectDisposedException.ThrowIf(_closing, this);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _requests.Enqueue(new WriterRequest(kind, done));
        Wake();
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
        _closing = true;
        _wake.Release();
        bool closed = true;
        try
        {
            await _writing.WaitAsync(_tuning.CloseTimeout);
        }
        catch (TimeoutException)
        {
            // The disk is stuck: leave the writer to finish (or not) on its own; the process is on its way out.
            closed = false;
            HistoryLog.CloseTimedOut(_logger, Volatile.Read(ref _waiting), _tuning.CloseTimeout.TotalSeconds);
        }

        await _pruning;
        while (_readers.TryTake(out var reader))
        {
            reader.Dispose();
        }

        _lockFile.Dispose();
        if (closed)
        {
            // Not _wake: an append that raced the close may still release it (a SemaphoreSlim holds nothing to free).
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
                _requests.Enqueue(new WriterRequest(RequestKind.Prune, null));
                Wake();
            }
            while (await timer.WaitForNextTickAsync(_stopping.Token));
        }
        catch (OperationCanceledException)
        {
        }
    }

    // Wakes the writer if it waits for work; an append to a busy writer costs no more than reading one flag.
    private void Wake()
    {
        if (Interlocked.CompareExchange(ref _writerIdle, 0, 1) == 1)
        {
            _wake.Release();
        }
    }

    private bool HasWork() => !_roomsWithLines.IsEmpty || !_requests.IsEmpty || !_roomsWithLostIds.IsEmpty;

    // Blocks the writer's own thread until there is work or the store is closing. A wake-up that finds nothing (one
    // given just as the writer saw work on its own) is harmless: the loop looks again.
    private void WaitForWork()
    {
        Interlocked.Exchange(ref _writerIdle, 1);
        if (!HasWork() && !_closing)
        {
            _wake.Wait();
        }

        Interlocked.Exchange(ref _writerIdle, 0);
    }

    /// <summary>
    /// The one writer: takes what is queued (up to a batch), writes it in one transaction, and between batches
    /// prunes a chunk at a time. A batch is as large as what queued while the previous one was written, so an idle
    /// server writes each line at once and a busy one writes fewer, larger transactions.
    /// </summary>
    private void WriteLoop(SqliteConnection connection)
    {
        var statements = new WriteStatements(connection);
        var requests = new List<WriterRequest>();
        var batch = new List<RoomBatch>();
        PruneRun? prune = null;
        bool failing = false;
        try
        {
            while (true)
            {
                if (prune is null && !HasWork())
                {
                    if (_closing)
                    {
                        break; // drained: the store is closing
                    }

                    WaitForWork();

                    // Woken by the first line of a burst: let the burst queue up, so it is one transaction, not a
                    // commit (and its pages in the log) for every few lines. Only then: lingering between the batches
                    // of a steady flow made fewer, larger commits (0.56 µs of the writer's CPU a line against 0.67),
                    // but the lines waiting longer outlived more of the relay's collections (GC pauses 1.6-2.1 % of
                    // the time against 1.1 %, the same as without history), which gave the saving back.
                    if (_tuning.BatchLinger > TimeSpan.Zero && !_closing)
                    {
                        Thread.Sleep(_tuning.BatchLinger);
                    }
                }

                // Requests first, lines second: every line appended before a flush or prune was asked is in this batch.
                requests.Clear();
                while (_requests.TryDequeue(out var request))
                {
                    requests.Add(request);
                }

                batch.Clear();
                TakeBatch(batch);
                bool failed = !WriteBatch(statements, batch, ref failing);
                Release(batch);
                foreach (var request in requests)
                {
                    if (request.Kind == RequestKind.Flush)
                    {
                        request.Done!.TrySetResult();
                    }
                    else
                    {
                        prune ??= StartPrune(connection);
                        prune.Waiters.Add(request.Done);
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
            HistoryLog.WriteFailed(_logger, exception, _path, Volatile.Read(ref _waiting));
        }
        finally
        {
            prune?.Finish(this);
            while (_requests.TryDequeue(out var request))
            {
                request.Done?.TrySetResult(); // nothing more will be written: a waiter is not left waiting
            }

            statements.Dispose();
            connection.Dispose();
        }
    }

    /// <summary>
    /// Takes the queued lines of the rooms that have some, up to a batch, and the rooms whose lost ids are to be
    /// recorded. Each room's lines become its <see cref="RoomState.Writing"/>, pending to reads until written.
    /// </summary>
    private void TakeBatch(List<RoomBatch> batch)
    {
        int budget = _tuning.MaxBatch;
        int taken = 0;
        while (budget > 0 && _roomsWithLines.TryDequeue(out var room))
        {
            List<ChatEvent> lines;
            ChatEvent? topic;
            long highWater;
            lock (room)
            {
                if (room.Queued.Count <= budget)
                {
                    lines = room.Queued;
                    room.Queued = room.Spare ?? [];
                    room.Spare = null;
                    room.Listed = false;
                }
                else
                {
                    // More than the batch has room for: the rest waits for the next batch, the room still listed.
                    lines = room.Queued.GetRange(0, budget);
                    room.Queued.RemoveRange(0, budget);
                    _roomsWithLines.Enqueue(room);
                }

                // Two publishers in a room append in the order they finish, not always in id order. Sorted here, under
                // the lock, because reads may look at the list as soon as it is the room's Writing.
                if (!InIdOrder(lines))
                {
                    lines.Sort(ById);
                }

                room.Writing = lines;
                topic = room.TopicToWrite;
                room.TopicToWrite = null;
                highWater = room.HighWater;
            }

            budget -= lines.Count;
            taken += lines.Count;
            batch.Add(new RoomBatch(room, lines, topic, highWater));
        }

        Interlocked.Add(ref _waiting, -taken);

        // Rooms whose lines were not queued (a full queue, a failed write) still record the ids they gave.
        while (_roomsWithLostIds.TryDequeue(out var lost))
        {
            Volatile.Write(ref lost.LossReported, 0); // a line lost from now on is reported again
            if (!batch.Exists(entry => entry.Room == lost))
            {
                long highWater;
                lock (lost)
                {
                    highWater = lost.HighWater;
                }

                batch.Add(new RoomBatch(lost, [], null, highWater));
            }
        }
    }

    // Written or lost, a batch's lines are no longer pending: reads see them on disk, or not at all.
    private static void Release(List<RoomBatch> batch)
    {
        foreach (var (room, lines, _, _) in batch)
        {
            if (lines.Count == 0)
            {
                continue;
            }

            lock (room)
            {
                room.Writing = null;
                lines.Clear();
                room.Spare ??= lines;
            }
        }
    }

    /// <summary>Writes a batch's lines, topics and the high-water marks of its rooms in one transaction. False if it failed.</summary>
    private bool WriteBatch(WriteStatements statements, List<RoomBatch> batch, ref bool failing)
    {
        if (batch.Count == 0)
        {
            return true;
        }

        int lines = 0;
        foreach (var entry in batch)
        {
            lines += entry.Lines.Count;
        }

        bool written = false;
        var writtenThrough = new List<(RoomState Room, long Id)>(batch.Count);
        try
        {
            using (var transaction = statements.Connection.BeginTransaction())
            {
                statements.Use(transaction);
                foreach (var (room, roomLines, topic, highWater) in batch)
                {
                    if (topic is not null)
                    {
                        statements.WriteTopic(room.Key, topic);
                    }

                    if (roomLines.Count > 0)
                    {
                        writtenThrough.Add((room, statements.WriteLines(room, roomLines)));
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
            foreach (var (room, roomLines, _, _) in batch)
            {
                _roomsWithLostIds.Enqueue(room);
                if (roomLines.Count > 0)
                {
                    ReportLoss(room, HistoryLossReason.WriteFailed);
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

    private static readonly Comparison<ChatEvent> ById = static (a, b) => a.Id!.Value.CompareTo(b.Id!.Value);

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
        /// Writes a batch's lines of one room (numbered, in id order) as blocks after the room's last block; returns the
        /// highest id now written. A line that reaches the writer after higher ids of its room were written (two
        /// publishers, and a batch boundary between their lines) is merged into the blocks it falls among, which are
        /// written again, so that a room's blocks never overlap and a page can stop at the first blocks it reads.
        /// </summary>
        public long WriteLines(RoomState room, List<ChatEvent> batchLines)
        {
            // The room's pending list, which reads may be looking at: a merge works on a copy.
            var lines = batchLines;
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
