using Microsoft.Extensions.Logging;

namespace Parley.Server.Logging;

// Event IDs are part of the log contract: add new ones, never renumber.
internal static partial class ConnectionLog
{
    // The tutorials' wording, kept on purpose: their users grep for it.
    [LoggerMessage(1, LogLevel.Information, "Accept new connection from {Remote}", EventName = "ConnectionAccepted")]
    public static partial void Accepted(ILogger logger, string remote);

    [LoggerMessage(2, LogLevel.Information, "Connection from {Remote} closed", EventName = "ConnectionClosed")]
    public static partial void Closed(ILogger logger, string remote);

    [LoggerMessage(3, LogLevel.Debug, "Connection from {Remote} ended abruptly: {Reason}", EventName = "ConnectionReset")]
    public static partial void Reset(ILogger logger, string remote, string reason);

    [LoggerMessage(4, LogLevel.Error, "Connection {ConnectionId} from {Remote} failed", EventName = "ConnectionFailed")]
    public static partial void Failed(ILogger logger, Exception exception, string connectionId, string remote);

    [LoggerMessage(6, LogLevel.Information, "Refused connection from {Remote}: {Reason}", EventName = "ConnectionRefused")]
    public static partial void Refused(ILogger logger, string remote, string reason);

    [LoggerMessage(7, LogLevel.Information, "TLS on every TCP service with certificate {Subject}, SHA-256 {Fingerprint}, valid until {NotAfter:yyyy-MM-dd}", EventName = "TlsCertificate")]
    public static partial void TlsCertificate(ILogger logger, string subject, string fingerprint, DateTime notAfter);

    [LoggerMessage(5, LogLevel.Information, "Line too long from {Remote} (max {MaxBytes} bytes): discarded", EventName = "LineTooLong")]
    public static partial void LineTooLong(ILogger logger, string remote, int maxBytes);
}

internal static partial class ChatLog
{
    [LoggerMessage(20, LogLevel.Information, "{Remote} is now {Name}", EventName = "NickChanged")]
    public static partial void NickChanged(ILogger logger, string remote, string name);

    [LoggerMessage(21, LogLevel.Information, "{Name} ({Remote}) cut off as too slow: it fell behind its rooms for longer than allowed, or its backlog passed {MaxBytes} bytes", EventName = "SlowConsumer")]
    public static partial void SlowConsumer(ILogger logger, string name, string remote, long maxBytes);

    [LoggerMessage(25, LogLevel.Warning, "{Name} ({Remote}) cut off: {PendingBytes} bytes queued and the output budget of {BudgetBytes} bytes is spent", EventName = "OutputBudgetEviction")]
    public static partial void OutputBudgetEviction(ILogger logger, string name, string remote, long pendingBytes, long budgetBytes);

    [LoggerMessage(26, LogLevel.Warning, "A line to #{Room} could not reach the other nodes: {Reason}", EventName = "BusUnavailable")]
    public static partial void BusUnavailable(ILogger logger, string room, string reason);

    [LoggerMessage(28, LogLevel.Information, "History in {Path}: {Rooms} rooms, {Lines} lines", EventName = "HistoryOpened")]
    public static partial void HistoryOpened(ILogger logger, string path, long rooms, long lines);

    [LoggerMessage(27, LogLevel.Warning, "History of {Room} could not be read: {Reason}", EventName = "HistoryFailed")]
    public static partial void HistoryFailed(ILogger logger, string room, string reason);

    [LoggerMessage(29, LogLevel.Warning, "Told #{Room} that lines said there were not kept in history ({Reason})", EventName = "HistoryLossTold")]
    public static partial void HistoryLossTold(ILogger logger, string room, string reason);

    [LoggerMessage(23, LogLevel.Information, "Refused chat connection from {Remote}: {Reason}", EventName = "PasswordRefused")]
    public static partial void PasswordRefused(ILogger logger, string remote, string reason);

    [LoggerMessage(24, LogLevel.Warning, "Operator password from {Remote} ({Name}): {Accepted}", EventName = "OperatorAttempt")]
    public static partial void OperatorAttempt(ILogger logger, string remote, string name, bool accepted);

    [LoggerMessage(22, LogLevel.Information, "Telling {Count} chat connections that the server is shutting down", EventName = "ShuttingDown")]
    public static partial void ShuttingDown(ILogger logger, int count);
}

internal static partial class UdpLog
{
    [LoggerMessage(40, LogLevel.Debug, "Received from {Remote}", EventName = "DatagramReceived")]
    public static partial void Received(ILogger logger, string remote);

    [LoggerMessage(41, LogLevel.Debug, "UDP receive on {Service} failed: {Reason}", EventName = "DatagramFailed")]
    public static partial void Failed(ILogger logger, string service, string reason);
}
