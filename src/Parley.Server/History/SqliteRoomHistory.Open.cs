using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Parley.Protocol.Chat;

namespace Parley.Server.History;

/// <summary>How the SQLite store batches, prunes and closes; the defaults are what <c>parley serve</c> uses.</summary>
internal sealed record SqliteHistoryTuning
{
    /// <summary>
    /// Lines waiting for the disk, at most. 16,384 is about 0.1 s of the fastest fan-out bench's input (170 k lines/s
    /// into one room) and a few MB of typical lines (64 MB if every one were 4 KB); past it a line is not kept.
    /// </summary>
    public int QueueCapacity { get; init; } = 16_384;

    /// <summary>Lines in one transaction, at most: a batch holds the write lock for a few ms, not longer.</summary>
    public int MaxBatch { get; init; } = 1_024;

    /// <summary>
    /// How long the writer, woken by a line, waits for more before it writes: lines spend that much longer in memory
    /// only, and a busy room's lines go in a few large transactions a second instead of hundreds of small ones.
    /// </summary>
    public TimeSpan BatchLinger { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>How often retention is applied. Pruning runs between batches, a few thousand lines per transaction.</summary>
    public TimeSpan PruneInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long closing waits for queued lines to reach the disk (shutdown must finish within 5 s).</summary>
    public TimeSpan CloseTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>The pause after a failed write before the next try, so a full disk is not hammered.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    public TimeProvider Time { get; init; } = TimeProvider.System;
}

internal sealed partial class SqliteRoomHistory
{
    // Bump when the schema changes, and migrate in PrepareSchema; a newer file is refused, not damaged.
    // 1: a row per line (table lines). 2: a row per block of lines (table blocks).
    private const int SchemaVersion = 2;

    // Below this much free space a start is refused: SQLite needs room for the WAL and new pages, and the user is
    // better told now than by a failure at the first message.
    private const long MinimumFreeBytes = 1024 * 1024;

    private const string Schema = """
        -- A room's lines in blocks of up to 256 (HistoryBlock), one row per room per write batch: a row per line cost
        -- the writer 4 µs a line. A room's blocks never overlap: first_id orders them and their lines.
        CREATE TABLE IF NOT EXISTS blocks (
            room TEXT NOT NULL,          -- the room's key (ChatNames.Key)
            first_id INTEGER NOT NULL,
            last_id INTEGER NOT NULL,
            lines INTEGER NOT NULL,
            min_ts INTEGER NOT NULL,     -- Unix time in milliseconds, UTC, of its oldest and newest line
            max_ts INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (room, first_id)
        );
        -- The highest id each room ever gave: pruning every line must not let a room's ids start again.
        CREATE TABLE IF NOT EXISTS rooms (
            room TEXT NOT NULL PRIMARY KEY,
            last_id INTEGER NOT NULL
        ) WITHOUT ROWID;
        -- Each room's newest topic, kept apart from the lines so that pruning old lines never forgets it.
        CREATE TABLE IF NOT EXISTS topics (
            room TEXT NOT NULL PRIMARY KEY,
            id INTEGER,
            type TEXT NOT NULL,
            ts INTEGER NOT NULL,
            "from" TEXT NOT NULL,
            text TEXT NOT NULL,
            room_name TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS meta (
            key TEXT NOT NULL PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID;
        """;

    /// <summary>
    /// Opens (creating if needed) the history file at <paramref name="path"/>, or throws
    /// <see cref="HistoryUnavailableException"/> with one line for the user: a corrupt file, one held by another
    /// server, a read-only place, a full disk.
    /// </summary>
    /// <param name="keep">Lines kept per room; zero keeps all.</param>
    /// <param name="days">Days a line is kept; zero keeps lines regardless of age.</param>
    public static Task<SqliteRoomHistory> OpenAsync(string path, int keep, int days, ILogger logger, SqliteHistoryTuning? tuning = null, CancellationToken cancellation = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        ArgumentOutOfRangeException.ThrowIfNegative(days);
        // Off the caller's thread: opening may wait up to a second on a lock held by another program.
        return Task.Run(() => Open(path, keep, days, logger, tuning ?? new SqliteHistoryTuning()), cancellation);
    }

    private static SqliteRoomHistory Open(string path, int keep, int days, ILogger logger, SqliteHistoryTuning tuning)
    {
        string fullPath = System.IO.Path.GetFullPath(path);
        string directory = System.IO.Path.GetDirectoryName(fullPath) ?? fullPath;
        CreateDirectory(directory);
        if (Directory.Exists(fullPath))
        {
            throw new HistoryUnavailableException($"history: {fullPath} is a directory; give the path of a file with --history PATH");
        }

        var lockFile = TakeLock(fullPath);
        SqliteConnection? writer = null;
        try
        {
            CheckFreeSpace(directory, fullPath);
            // Explicit rather than the reflection Microsoft.Data.Sqlite falls back on: trimming and Native AOT see it.
            SQLitePCL.Batteries_V2.Init();
            writer = new SqliteConnection(ConnectionString(fullPath, SqliteOpenMode.ReadWriteCreate));
            writer.Open();
            PrepareSchema(writer, fullPath, logger);
            return new SqliteRoomHistory(fullPath, keep, days, logger, tuning, lockFile, writer);
        }
        catch (SqliteException exception)
        {
            writer?.Dispose();
            lockFile.Dispose();
            throw new HistoryUnavailableException(Describe(exception, fullPath), exception);
        }
        catch
        {
            writer?.Dispose();
            lockFile.Dispose();
            throw;
        }
    }

    private static string ConnectionString(string path, SqliteOpenMode mode) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = mode,
        // Connections are few and long-lived (one writer, a small pool of readers), and closing the store must
        // really close the file, which Microsoft.Data.Sqlite's own pool would keep open.
        Pooling = false,
        // Seconds Microsoft.Data.Sqlite retries a busy database; in WAL only a checkpoint or another program makes it wait.
        DefaultTimeout = 5,
    }.ToString();

    private static void CreateDirectory(string directory)
    {
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Name the file that stands where a directory should be: .NET's message names the one it tried to make.
            for (string? up = directory; up is not null; up = System.IO.Path.GetDirectoryName(up))
            {
                if (File.Exists(up))
                {
                    throw new HistoryUnavailableException($"history: cannot make the directory {directory}: {up} is a file; choose another place with --history PATH", exception);
                }
            }

            throw new HistoryUnavailableException($"history: cannot make the directory {directory}: {Reason(exception)}; choose another place with --history PATH", exception);
        }
    }

    /// <summary>
    /// An exclusive lock on <c>PATH.lock</c> while the store is open, so a second <c>parley serve</c> on the same
    /// file is refused at start. SQLite's own locks cannot say this: in WAL mode two servers could both open the
    /// file and interleave their ids. On Unix .NET takes <c>flock(LOCK_EX)</c> for <see cref="FileShare.None"/>; the
    /// kernel drops it when the process dies, so a crash leaves no stale lock (the file itself stays, empty, harmless).
    /// A separate file, because closing any descriptor of the database file would drop SQLite's POSIX locks on it.
    /// </summary>
    private static FileStream TakeLock(string fullPath)
    {
        string lockPath = fullPath + ".lock";
        try
        {
            return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (UnauthorizedAccessException exception)
        {
            throw new HistoryUnavailableException($"history: cannot write beside {fullPath} ({Reason(exception)}); choose a writable place with --history PATH", exception);
        }
        catch (IOException exception) when (IsSharingViolation(exception))
        {
            throw new HistoryUnavailableException($"history: {fullPath} is in use by another parley server; stop it, or give this one another file with --history PATH", exception);
        }
        catch (IOException exception)
        {
            throw new HistoryUnavailableException($"history: cannot write beside {fullPath} ({Reason(exception)}); choose a writable place with --history PATH", exception);
        }
    }

    // On Unix .NET passes flock's errno through as the HResult: EWOULDBLOCK, 11 on Linux and 35 on macOS. Windows
    // gives ERROR_SHARING_VIOLATION as an HRESULT (0x80070020).
    private static bool IsSharingViolation(IOException exception) => exception.HResult switch
    {
        11 when OperatingSystem.IsLinux() => true,
        35 when OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() => true,
        unchecked((int)0x80070020) => true,
        _ => false,
    };

    private static void CheckFreeSpace(string directory, string fullPath)
    {
        long free;
        try
        {
            free = new DriveInfo(directory).AvailableFreeSpace;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return; // cannot tell; SQLite's own error will say it if the disk is full
        }

        if (free < MinimumFreeBytes)
        {
            throw new HistoryUnavailableException($"history: the disk holding {fullPath} is full ({free / 1024} KB free); free some space or choose another place with --history PATH");
        }
    }

    /// <summary>
    /// WAL, the schema, and a write in a transaction that takes the write lock at once: a file that is corrupt,
    /// read-only, on a full disk or locked by another program fails here, at start, rather than at the first message.
    /// </summary>
    private static void PrepareSchema(SqliteConnection connection, string fullPath, ILogger logger)
    {
        // WAL: readers never wait for the writer, and a commit is one append to the log. synchronous=NORMAL: a commit
        // is not fsynced, only checkpoints are; a crash of the process loses nothing committed, a power cut may lose
        // the last commits (docs/history.md). journal_size_limit keeps the log from staying large after a burst.
        // 16 KB pages, set before WAL because a new file's page size is fixed by its first write: a busy room's block
        // spans a quarter of the pages it would at SQLite's default 4 KB, and its writer spent 1.1-1.2 µs a line
        // against 1.3-1.5 (docs/benchmarks.md); larger pages gained little more and make every idle commit bigger.
        Execute(connection, "PRAGMA page_size = 16384");
        Execute(connection, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 67108864;");
        long version = (long)Scalar(connection, "PRAGMA user_version")!;
        if (version > SchemaVersion)
        {
            throw new HistoryUnavailableException($"history: {fullPath} was written by a newer parley (schema {version}, this one knows {SchemaVersion}); upgrade, or choose another file with --history PATH");
        }

        if (version == 0 && (long)Scalar(connection, "SELECT count(*) FROM sqlite_schema WHERE name NOT IN ('blocks', 'lines', 'rooms', 'topics', 'meta') AND name NOT LIKE 'sqlite_autoindex_%'")! > 0)
        {
            throw new HistoryUnavailableException($"history: {fullPath} is a SQLite database of something else, not a parley history; choose another file with --history PATH");
        }

        using var transaction = connection.BeginTransaction(); // BEGIN IMMEDIATE: takes the write lock now
        Execute(connection, Schema, transaction);
        if (version == 1)
        {
            // Said first, as a warning: a large file takes a while (4,000,000 lines took 17.5 s here), and the
            // listeners open only after it.
            HistoryLog.Converting(logger, fullPath, (long)Scalar(connection, "SELECT count(*) FROM lines", transaction)!);
            MigrateLinesToBlocks(connection, transaction);
        }

        Execute(connection, $"PRAGMA user_version = {SchemaVersion}", transaction);
        using (var probe = connection.CreateCommand())
        {
            probe.Transaction = transaction;
            probe.CommandText = "INSERT INTO meta (key, value) VALUES ('opened', $value) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
            probe.Parameters.AddWithValue("$value", $"{DateTimeOffset.UtcNow:O} by process {Environment.ProcessId}");
            probe.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    /// <summary>Schema 1 to 2: each room's rows of the old table become blocks, in the same transaction as the schema.</summary>
    private static void MigrateLinesToBlocks(SqliteConnection connection, SqliteTransaction transaction)
    {
        using var inserter = new SqliteBlockInserter(connection);
        using (var read = connection.CreateCommand())
        {
            read.Transaction = transaction;
            read.CommandText = $"SELECT room, {LineColumns} FROM lines ORDER BY room, id";
            using var rows = read.ExecuteReader();
            var block = new List<ChatEvent>(HistoryBlock.MaxLines);
            string? room = null;
            while (rows.Read())
            {
                string key = rows.GetString(0);
                if ((key != room && block.Count > 0) || block.Count == HistoryBlock.MaxLines)
                {
                    inserter.Insert(room!, CollectionsMarshal.AsSpan(block));
                    block.Clear();
                }

                room = key;
                block.Add(LineOf(rows, offset: 1));
            }

            if (block.Count > 0)
            {
                inserter.Insert(room!, CollectionsMarshal.AsSpan(block));
            }
        }

        Execute(connection, "DROP TABLE lines", transaction);
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    /// <summary>One line for the user from a SQLite error code (https://sqlite.org/rescode.html).</summary>
    private static string Describe(SqliteException exception, string fullPath) => exception.SqliteErrorCode switch
    {
        11 or 26 => $"history: {fullPath} is not a usable SQLite database (corrupt, or not a database at all); move it away, or choose another file with --history PATH",
        5 or 6 => $"history: {fullPath} is locked by another program (a sqlite3 shell or a backup?); close it, or choose another file with --history PATH",
        8 => $"history: {fullPath} is read-only; make it writable, or choose another file with --history PATH",
        13 => $"history: the disk holding {fullPath} is full; free some space, or choose another place with --history PATH",
        14 => $"history: cannot open {fullPath} (is the directory or the file writable?); choose another file with --history PATH",
        10 => $"history: an input/output error on {fullPath}; check the disk, or choose another file with --history PATH",
        _ => $"history: cannot use {fullPath}: {exception.Message}",
    };

    /// <summary>The operating system's words for a failure, without .NET's quoting of the path.</summary>
    private static string Reason(Exception exception) => exception switch
    {
        UnauthorizedAccessException => "permission denied, or a read-only file system",
        // On Unix .NET passes an errno it has no exception type for through as the HResult.
        _ when exception.HResult == 30 && !OperatingSystem.IsWindows() => "read-only file system", // EROFS
        _ when exception.HResult == 28 && !OperatingSystem.IsWindows() => "no space left on the disk", // ENOSPC
        _ => exception.Message.TrimEnd('.'),
    };
}
