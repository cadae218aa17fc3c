using System.Globalization;
using Parley.Protocol.Chat;
using Parley.Server.History;
using StackExchange.Redis;

namespace Parley.Redis;

/// <summary>
/// Room history in Redis Streams, one stream per room, bounded by <c>--history-keep</c> (MAXLEN ~). The bus's script
/// writes each line in the same step that numbers and publishes it, with the line's id as the entry's id (<c>17-0</c>),
/// so reading by id is a range read and every node reads the same history.
/// </summary>
internal sealed class RedisRoomHistory(RedisChatCluster cluster) : IRoomHistory
{
    /// <summary>False while Redis is out of reach: members are told history is unavailable, chat goes on.</summary>
    public bool IsAvailable => cluster.IsConnected;

    // The bus keeps a room's lines in its stream as it publishes them: a line that cannot be kept is not relayed
    // either, and its sender is told (bus_unavailable). Never raised.
    public event Action<HistoryLoss>? LinesNotKept
    {
        add { }
        remove { }
    }

    public async ValueTask<long> LastIdAsync(string roomKey, CancellationToken cancellation = default)
    {
        var value = await cluster.Database.StringGetAsync(RedisKeys.RoomId(roomKey));
        return value.IsNull ? 0 : (long)value;
    }

    // The bus's script already kept the line, atomically with numbering it: nothing is left to write.
    public void Append(string roomKey, ChatEvent line)
    {
    }

    public async ValueTask<IReadOnlyList<ChatEvent>> ReadAsync(string roomKey, HistoryQuery query, CancellationToken cancellation = default)
    {
        var key = RedisKeys.RoomLog(roomKey);
        var db = cluster.Database;
        StreamEntry[] entries = query.Direction switch
        {
            HistoryDirection.Latest => await db.StreamRangeAsync(key, "-", "+", query.Limit, Order.Descending),
            HistoryDirection.Before when query.Id <= 1 => [],
            HistoryDirection.Before => await db.StreamRangeAsync(key, "-", $"{query.Id - 1}-0", query.Limit, Order.Descending),
            HistoryDirection.After => await db.StreamRangeAsync(key, $"{query.Id + 1}-0", "+", query.Limit, Order.Ascending),
            _ => throw new ArgumentOutOfRangeException(nameof(query), query.Direction, "unknown history direction"),
        };
        var lines = entries.Select(ToEvent).ToList();
        if (query.Direction != HistoryDirection.After)
        {
            lines.Reverse();
        }

        return lines;
    }

    public async ValueTask<ChatEvent?> TopicAsync(string roomKey, CancellationToken cancellation = default)
    {
        var fields = await cluster.Database.HashGetAllAsync(RedisKeys.RoomTopic(roomKey));
        if (fields.Length == 0)
        {
            return null;
        }

        var map = fields.ToDictionary(f => (string)f.Name!, f => (string)f.Value!, StringComparer.Ordinal);
        return Event(map["t"], map["ts"], map["r"], map["f"], map["x"]) with { Id = long.Parse(map["id"], CultureInfo.InvariantCulture) };
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public static ChatEvent ToEvent(StreamEntry entry)
    {
        string id = entry.Id!;
        var line = Event(entry["t"]!, entry["ts"]!, entry["r"]!, entry["f"]!, entry["x"]!);
        return line with { Id = long.Parse(id.AsSpan(0, id.IndexOf('-')), CultureInfo.InvariantCulture), History = true };
    }

    private static ChatEvent Event(string type, string timestamp, string room, string from, string text) =>
        new((ChatEventType)int.Parse(type, CultureInfo.InvariantCulture), DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(timestamp, CultureInfo.InvariantCulture)))
        {
            Room = room,
            From = from,
            Text = text,
        };
}
