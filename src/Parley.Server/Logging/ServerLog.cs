using Microsoft.Extensions.Logging;

namespace Parley.Server.Logging;

// What the server as a whole reports: its services starting and its periodic summary. Event IDs 60-69 are this
// class's; add new ones, never renumber.
internal static partial class ServerLog
{
    [LoggerMessage(60, LogLevel.Information, "{Service} answering datagrams on {EndPoint} (up to {MaxBytes} bytes each; each one is logged at Debug)", EventName = "UdpServing")]
    public static partial void UdpServing(ILogger logger, string service, string endPoint, int maxBytes);

    [LoggerMessage(61, LogLevel.Information, "{Service} on {EndPoint} speaks TLS with certificate {Subject}, SHA-256 {Fingerprint}, valid until {NotAfter:yyyy-MM-dd}", EventName = "ListenerTls")]
    public static partial void ListenerTls(ILogger logger, string service, string endPoint, string subject, string fingerprint, DateTime notAfter);

    [LoggerMessage(62, LogLevel.Information, "{Connections} connections, {MessagesPerSecond:0.#} messages/s, {Refused} refused and {CutOff} cut off as too slow in the last {Seconds:0.#} s", EventName = "Summary")]
    public static partial void Summary(ILogger logger, long connections, double messagesPerSecond, long refused, long cutOff, double seconds);

    [LoggerMessage(63, LogLevel.Information, "The chat page is at {Address}: open it in a browser", EventName = "WebPage")]
    public static partial void WebPage(ILogger logger, string address);

    [LoggerMessage(64, LogLevel.Information, "Heap compacted after a change of {Change:+#;-#} connections to {Connections}: a pause of {Milliseconds:0} ms, resident {BeforeMiB} MiB to {AfterMiB} MiB", EventName = "HeapCompacted")]
    public static partial void HeapCompacted(ILogger logger, int change, int connections, double milliseconds, long beforeMiB, long afterMiB);
}
