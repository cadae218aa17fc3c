using Microsoft.Extensions.Logging;

namespace Parley.Server.History;

// Event IDs are part of the log contract: add new ones, never renumber. 70-79 are history's (60-69 are ServerLog's).
// Beside the stores rather than in Logging/ while history is being built (one owner per folder); move it freely.
internal static partial class HistoryLog
{
    [LoggerMessage(70, LogLevel.Error, "History writes to {Path} are failing; {Count} lines not kept, chat goes on without history", EventName = "HistoryWriteFailed")]
    public static partial void WriteFailed(ILogger logger, Exception exception, string path, int count);

    [LoggerMessage(71, LogLevel.Debug, "History writes to {Path} still failing; {Count} more lines not kept: {Reason}", EventName = "HistoryWriteStillFailing")]
    public static partial void WriteStillFailing(ILogger logger, string path, int count, string reason);

    [LoggerMessage(72, LogLevel.Information, "History writes to {Path} work again", EventName = "HistoryWriteRecovered")]
    public static partial void WriteRecovered(ILogger logger, string path);

    [LoggerMessage(73, LogLevel.Warning, "History queue full ({Capacity} lines waiting for the disk): {Count} lines not kept", EventName = "HistoryQueueFull")]
    public static partial void QueueFull(ILogger logger, int capacity, long count);

    [LoggerMessage(74, LogLevel.Debug, "History pruned {Count} lines from {Path}", EventName = "HistoryPruned")]
    public static partial void Pruned(ILogger logger, long count, string path);

    [LoggerMessage(75, LogLevel.Error, "History read from {Path} failed", EventName = "HistoryReadFailed")]
    public static partial void ReadFailed(ILogger logger, Exception exception, string path);

    [LoggerMessage(76, LogLevel.Warning, "History closed with {Count} lines not yet written after {Seconds} s", EventName = "HistoryCloseTimedOut")]
    public static partial void CloseTimedOut(ILogger logger, long count, double seconds);

    [LoggerMessage(77, LogLevel.Error, "History pruning of {Path} failed", EventName = "HistoryPruneFailed")]
    public static partial void PruneFailed(ILogger logger, Exception exception, string path);

    [LoggerMessage(78, LogLevel.Error, "Telling room {Room} that lines were not kept in history failed", EventName = "HistoryLossReportFailed")]
    public static partial void LossReportFailed(ILogger logger, Exception exception, string room);

    [LoggerMessage(79, LogLevel.Warning, "History in {Path} is being converted to blocks of lines (schema 1 to 2, once): {Count} lines; the server starts when it is done", EventName = "HistoryConverting")]
    public static partial void Converting(ILogger logger, string path, long count);
}
