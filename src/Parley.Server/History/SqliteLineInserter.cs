using System.Text;
using Microsoft.Data.Sqlite;
using Parley.Protocol.Chat;
using SQLitePCL;

namespace Parley.Server.History;

/// <summary>
/// The writer's inserts of room lines, through SQLite's own API on the writer's connection: statements prepared once,
/// parameters bound by position from one reused UTF-8 buffer, 32 rows per statement. Through Microsoft.Data.Sqlite
/// each row cost about 7 µs of CPU (every parameter looked up by name, boxed and encoded into a new array, a data
/// reader made per execution): a flat-out fan-out's writer took most of a core on a 2-core machine, and the relay
/// lost what the writer took.
/// </summary>
internal sealed class SqliteLineInserter : IDisposable
{
    private const int RowsPerStatement = 32;
    private const int Columns = 7;
    private const int SqliteDone = 101;

    private readonly sqlite3 _database;
    private readonly sqlite3_stmt _one;
    private readonly sqlite3_stmt _many;
    private readonly List<(string RoomKey, ChatEvent Line)> _rows = new(RowsPerStatement);
    private byte[] _utf8 = new byte[512];

    public SqliteLineInserter(SqliteConnection connection)
    {
        _database = connection.Handle ?? throw new InvalidOperationException("the writer's connection is open");
        _one = Prepare(_database, InsertSql(1));
        _many = Prepare(_database, InsertSql(RowsPerStatement));
    }

    /// <summary>Queues a line for the next <see cref="Flush"/>, writing whenever a full statement's worth is queued.</summary>
    public void Add(string roomKey, ChatEvent line)
    {
        _rows.Add((roomKey, line));
        if (_rows.Count == RowsPerStatement)
        {
            Run(_many, RowsPerStatement);
        }
    }

    /// <summary>Writes what <see cref="Add"/> queued, one row at a time (fewer than a full statement's worth).</summary>
    public void Flush()
    {
        while (_rows.Count > 0)
        {
            Run(_one, 1);
        }
    }

    /// <summary>Forgets queued rows (their transaction failed).</summary>
    public void Clear() => _rows.Clear();

    public void Dispose()
    {
        _one.Dispose();
        _many.Dispose();
    }

    private static string InsertSql(int rows)
    {
        // OR IGNORE: a line written twice (a retried batch) must not fail the batch it is in.
        var sql = new StringBuilder("INSERT OR IGNORE INTO lines (room, id, type, ts, \"from\", text, room_name) VALUES ");
        for (int i = 0; i < rows; i++)
        {
            sql.Append(i == 0 ? "(?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?)");
        }

        return sql.ToString();
    }

    private static sqlite3_stmt Prepare(sqlite3 database, string sql)
    {
        int rc = raw.sqlite3_prepare_v3(database, sql, raw.SQLITE_PREPARE_PERSISTENT, out var statement, out _);
        SqliteException.ThrowExceptionForRC(rc, database);
        return statement;
    }

    private void Run(sqlite3_stmt statement, int rows)
    {
        for (int row = 0; row < rows; row++)
        {
            var (roomKey, line) = _rows[row];
            int at = (row * Columns) + 1;
            BindText(statement, at, roomKey);
            raw.sqlite3_bind_int64(statement, at + 1, line.Id!.Value);
            BindText(statement, at + 2, ChatEventFormatter.TypeName(line.Type));
            raw.sqlite3_bind_int64(statement, at + 3, line.Timestamp.ToUnixTimeMilliseconds());
            BindText(statement, at + 4, line.From);
            BindText(statement, at + 5, line.Text);
            BindText(statement, at + 6, line.Room);
        }

        _rows.RemoveRange(0, rows);
        int rc = raw.sqlite3_step(statement);
        raw.sqlite3_reset(statement);
        if (rc != SqliteDone)
        {
            SqliteException.ThrowExceptionForRC(rc, _database);
        }
    }

    // SQLite copies a bound text (SQLITE_TRANSIENT), so one buffer serves every parameter.
    private void BindText(sqlite3_stmt statement, int index, string? text)
    {
        text ??= string.Empty;
        int most = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (most > _utf8.Length)
        {
            _utf8 = new byte[Math.Max(most, _utf8.Length * 2)];
        }

        int length = Encoding.UTF8.GetBytes(text, _utf8);
        int rc = raw.sqlite3_bind_text(statement, index, _utf8.AsSpan(0, length));
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, _database);
        }
    }
}
