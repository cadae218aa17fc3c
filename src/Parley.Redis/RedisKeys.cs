using StackExchange.Redis;

namespace Parley.Redis;

/// <summary>
/// Where the chat lives in Redis. A room's keys share a hash tag (<c>{room:dev}</c>), so the script that numbers, keeps
/// and publishes a line touches one slot, as Redis Cluster requires of a script.
/// </summary>
internal static class RedisKeys
{
    public const string BusChannelName = "parley:bus";

    public const string NodePrefix = "parley:node:";

    public static readonly RedisChannel Bus = RedisChannel.Literal(BusChannelName);

    /// <summary>The ids of the nodes that have heartbeated; a node is alive while its <see cref="Node"/> key exists.</summary>
    public static readonly RedisKey Nodes = "parley:nodes";

    public static readonly RedisKey Guests = "parley:guests";

    /// <summary>The room's last id: never lowered, so ids are never given twice.</summary>
    public static RedisKey RoomId(string room) => $"parley:{{room:{room}}}:id";

    /// <summary>The room's lines: a stream whose entry ids are the line ids (<c>17-0</c>), bounded by --history-keep.</summary>
    public static RedisKey RoomLog(string room) => $"parley:{{room:{room}}}:log";

    public static RedisKey RoomTopic(string room) => $"parley:{{room:{room}}}:topic";

    public static RedisKey Name(string nameKey) => $"parley:name:{nameKey}";

    /// <summary>Exists while the node is alive: set with a time to live at every heartbeat.</summary>
    public static RedisKey Node(string node) => NodePrefix + node;

    /// <summary>Who is in which room on the node, for nodes that start later or reconnect.</summary>
    public static RedisKey NodeMembers(string node) => $"parley:members:{node}";
}
