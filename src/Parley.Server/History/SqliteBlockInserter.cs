using System.Buffers;
using System.Text;
using Microsoft.Data.Sqlite;
using Parley.Protocol.Chat;
using SQLitePCL;

namespace Parley.Server.History;

/// <summary>
/// The writer's inserts of history blocks, through SQLite's own API on the writer's connection: one statement prepared
/// once, parameters bound by position, the block encoded into one reused buffer (a block can be tens of KB, and a new
/// array for each would be garbage the relay's collections pay for).
/// </summary>
internal sealed class SqliteBlockInserter : IDisposable
{
    private const int SqliteDone = 101;

    private readonly sqlite3 _database;
    private readonly sqlite3_stmt _insert;
    private readonly ArrayBufferWriter<byte> _block = new(16 * 1024);
    private byte[] _utf8 = new byte[256];

    public SqliteBlockInserter(SqliteConnection connection)
    {
        _database = connection.Handle ?? throw new InvalidOperationException("the writer's connection is open");
        int rc = raw.sqlite3_prepare_v3(
            _database,
            "INSERT INTO blocks (room, first_id, last_id, lines, min_ts, max_ts, data) VALUES (?,?,?,?,?,?,?)",
            raw.SQLITE_PREPARE_PERSISTENT,
            out _insert,
            out _);
        SqliteException.ThrowExceptionForRC(rc, _database);
    }

    /// <summary>Writes <paramref name="lines"/> (ids ascending, each once, at most <see cref="HistoryBlock.MaxLines"/>) as one block.</summary>
    public void Insert(string roomKey, ReadOnlySpan<ChatEvent> lines)
    {
        _block.ResetWrittenCount();
        HistoryBlock.Encode(lines, _block);
        long minTs = long.MaxValue, maxTs = long.MinValue;
        foreach (var line in lines)
        {
            long ts = line.Timestamp.ToUnixTimeMilliseconds();
            minTs = Math.Min(minTs, ts);
            maxTs = Math.Max(maxTs, ts);
        }

        BindText(1, roomKey);
        raw.sqlite3_bind_int64(_insert, 2, lines[0].Id!.Value);
        raw.sqlite3_bind_int64(_insert, 3, lines[^1].Id!.Value);
        raw.sqlite3_bind_int64(_insert, 4, lines.Length);
        raw.sqlite3_bind_int64(_insert, 5, minTs);
        raw.sqlite3_bind_int64(_insert, 6, maxTs);
        Check(raw.sqlite3_bind_blob(_insert, 7, _block.WrittenSpan));
        int rc = raw.sqlite3_step(_insert);
        raw.sqlite3_reset(_insert);
        if (rc != SqliteDone)
        {
            SqliteException.ThrowExceptionForRC(rc, _database);
        }
    }

    public void Dispose() => _insert.Dispose();

    // SQLite copies a bound text or blob (SQLITE_TRANSIENT), so the buffers are free again once bound.
    private void BindText(int index, string text)
    {
        int most = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (most > _utf8.Length)
        {
            _utf8 = new byte[Math.Max(most, _utf8.Length * 2)];
        }

        int length = Encoding.UTF8.GetBytes(text, _utf8);
        Check(raw.sqlite3_bind_text(_insert, index, _utf8.AsSpan(0, length)));
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, _database);
        }
    }
}
