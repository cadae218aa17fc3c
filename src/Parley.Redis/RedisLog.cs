using Microsoft.Extensions.Logging;

namespace Parley.Redis;

// What the Redis cluster reports. Event IDs 90-99 are this class's; add new ones, never renumber.
internal static partial class RedisLog
{
    [LoggerMessage(90, LogLevel.Information, "Node {Node} is one chat with every server on Redis {EndPoints}", EventName = "RedisConnected")]
    public static partial void Connected(ILogger logger, string node, string endPoints);

    [LoggerMessage(91, LogLevel.Warning, "Redis connection lost ({Reason}): local members stay, lines to the other nodes are refused until it returns", EventName = "RedisLost")]
    public static partial void Lost(ILogger logger, string reason);

    [LoggerMessage(92, LogLevel.Information, "Redis connection back: names and presence resynchronised ({Names} names held, {Seats} room seats published, {Lost} names lost)", EventName = "RedisResynchronised")]
    public static partial void Resynchronised(ILogger logger, int names, int seats, int lost);

    [LoggerMessage(93, LogLevel.Information, "Node {Node} stopped heartbeating: its {Seats} room seats are gone from the rosters", EventName = "RedisNodeGone")]
    public static partial void NodeGone(ILogger logger, string node, int seats);

    [LoggerMessage(94, LogLevel.Error, "A message on the Redis bus could not be handled", EventName = "RedisBusMessageFailed")]
    public static partial void MessageFailed(ILogger logger, Exception exception);

    [LoggerMessage(95, LogLevel.Warning, "Resynchronising with Redis failed ({Reason}); trying again at the next heartbeat", EventName = "RedisResyncFailed")]
    public static partial void ResyncFailed(ILogger logger, string reason);

    [LoggerMessage(96, LogLevel.Information, "Lines {From}-{To} of #{Room} were missed on the bus and read back from the room's stream", EventName = "RedisGapFilled")]
    public static partial void GapFilled(ILogger logger, string room, long from, long to);
}
