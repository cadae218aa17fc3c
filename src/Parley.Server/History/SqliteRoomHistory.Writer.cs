using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Parley.Protocol.Chat;
using Parley.Server.Logging;

namespace Parley.Server.History;

internal sealed partial class SqliteRoomHistory
{
    // Ids a prune deletes in one transaction: a few ms of the write lock, so batches of new lines are not held up.
    private const long PruneChunkIds = 5_000;

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
        var rooms = new Dictionary<RoomState, int>();
        while (_roomsWithLostIds.TryDequeue(out var lost))
        {
            rooms.TryAdd(lost, 0);
            Volatile.Write(ref lost.LossReported, 0); // a line lost from now on is reported again
        }

        int lines = 0;
        foreach (var item in batch)
        {
            if (item.Kind == WriteKind.Line)
            {
                lines++;
                rooms[item.Room!] = rooms.GetValueOrDefault(item.Room!) + (item.Line!.Id is null ? 0 : 1);
            }
        }

        if (rooms.Count == 0)
        {
            return true;
        }

        bool written = false;
        try
        {
            using (var transaction = statements.Connection.BeginTransaction())
            {
                statements.Use(transaction);
                foreach (var item in batch)
                {
                    if (item.Kind == WriteKind.Line)
                    {
                        statements.Write(item.Room!.Key, item.Line!);
                    }
                }

                statements.FinishLines();

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

            written = true;
            _available = true;
            if (failing)
            {
                failing = false;
                HistoryLog.WriteRecovered(_logger, _path);
            }
        }
        catch (Exception exception) when (exception is SqliteException or IOException or InvalidOperationException)
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
            foreach (var (room, count) in rooms)
            {
                _roomsWithLostIds.Enqueue(room);
                if (count > 0)
                {
                    ReportLoss(room, HistoryLossReason.WriteFailed);
                }
            }
        }
        finally
        {
            // Written or lost, these lines are no longer pending: reads see them on disk, or not at all.
            foreach (var (room, count) in rooms)
            {
                lock (room)
                {
                    for (int i = 0; i < count; i++)
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
    /// newest keep lines; where ids have gaps it keeps fewer, never more. Both searches ride the (room, id) key, so a
    /// step costs what it deletes, with no index on ts to slow every insert. False when the run is over.
    /// </summary>
    private bool PruneStep(WriteStatements statements, PruneRun run)
    {
        while (run.Rooms.TryPeek(out string? room))
        {
            try
            {
                var oldest = statements.Oldest(room);
                if (oldest is var (minId, minTs, maxId)
                    && ((_keep > 0 && minId <= maxId - _keep) || minTs < run.CutoffMs))
                {
                    run.Deleted += statements.Prune(room, minId, minId + PruneChunkIds, _keep > 0 ? maxId - _keep : long.MinValue, run.CutoffMs);
                    return true;
                }
            }
            catch (Exception exception) when (exception is SqliteException or InvalidOperationException)
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
        private readonly SqliteLineInserter _lines;
        private readonly SqliteCommand _topic;
        private readonly SqliteCommand _highWater;
        private readonly SqliteCommand _oldest;
        private readonly SqliteCommand _prune;

        public WriteStatements(SqliteConnection connection)
        {
            Connection = connection;
            _lines = new SqliteLineInserter(connection);
            _topic = Create(connection, "INSERT OR REPLACE INTO topics (room, id, type, ts, \"from\", text, room_name) VALUES ($room, $id, $type, $ts, $from, $text, $name)",
                "$room", "$id", "$type", "$ts", "$from", "$text", "$name");
            _highWater = Create(connection, "INSERT INTO rooms (room, last_id) VALUES ($room, $id) ON CONFLICT (room) DO UPDATE SET last_id = max(last_id, excluded.last_id)",
                "$room", "$id");
            _oldest = Create(connection, "SELECT id, ts, (SELECT max(id) FROM lines WHERE room = $room) FROM lines WHERE room = $room ORDER BY id LIMIT 1", "$room");
            _prune = Create(connection, "DELETE FROM lines WHERE room = $room AND id >= $from AND id < $to AND (id <= $keepBelow OR ts < $cutoff)",
                "$room", "$from", "$to", "$keepBelow", "$cutoff");
        }

        public SqliteConnection Connection { get; }

        public void Use(SqliteTransaction transaction)
        {
            _lines.Clear(); // rows of a batch that failed half-way
            _topic.Transaction = transaction;
            _highWater.Transaction = transaction;
        }

        public void Write(string roomKey, ChatEvent line)
        {
            if (line.Id is not null)
            {
                _lines.Add(roomKey, line);
            }

            if (line.Type == ChatEventType.Topic)
            {
                Bind(_topic, roomKey, line);
                _topic.ExecuteNonQuery();
            }
        }

        /// <summary>Writes the lines <see cref="Write"/> still holds; before the commit.</summary>
        public void FinishLines() => _lines.Flush();

        public void RaiseHighWater(string roomKey, long id)
        {
            _highWater.Parameters[0].Value = roomKey;
            _highWater.Parameters[1].Value = id;
            _highWater.ExecuteNonQuery();
        }

        public (long MinId, long MinTs, long MaxId)? Oldest(string roomKey)
        {
            _oldest.Transaction = null;
            _oldest.Parameters[0].Value = roomKey;
            using var rows = _oldest.ExecuteReader();
            return rows.Read() ? (rows.GetInt64(0), rows.GetInt64(1), rows.GetInt64(2)) : null;
        }

        public int Prune(string roomKey, long fromId, long toId, long keepBelow, long cutoffMs)
        {
            // One statement outside a transaction is a transaction of its own.
            _prune.Transaction = null;
            _prune.Parameters[0].Value = roomKey;
            _prune.Parameters[1].Value = fromId;
            _prune.Parameters[2].Value = toId;
            _prune.Parameters[3].Value = keepBelow;
            _prune.Parameters[4].Value = cutoffMs;
            return _prune.ExecuteNonQuery();
        }

        public void Dispose()
        {
            _lines.Dispose();
            _topic.Dispose();
            _highWater.Dispose();
            _oldest.Dispose();
            _prune.Dispose();
        }

        private static void Bind(SqliteCommand command, string roomKey, ChatEvent line)
        {
            var parameters = command.Parameters;
            parameters[0].Value = roomKey;
            parameters[1].Value = line.Id is long id ? id : DBNull.Value;
            parameters[2].Value = ChatEventFormatter.TypeName(line.Type);
            parameters[3].Value = line.Timestamp.ToUnixTimeMilliseconds();
            parameters[4].Value = line.From;
            parameters[5].Value = line.Text;
            parameters[6].Value = line.Room;
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
