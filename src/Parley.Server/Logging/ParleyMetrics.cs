using System.Diagnostics.Metrics;

namespace Parley.Server.Logging;

/// <summary>
/// The server's instruments, under the meter "Parley.Server" (<c>dotnet-counters monitor --counters Parley.Server</c>).
/// Static because a meter is process-wide by nature and the counters are bumped on hot paths.
/// </summary>
internal static class ParleyMetrics
{
    public const string MeterName = "Parley.Server";

    private static readonly Meter Meter = new(MeterName);

    public static readonly UpDownCounter<long> ActiveConnections = Meter.CreateUpDownCounter<long>("parley.connections.active", description: "Connections being served, by front end (frontend=line, raw, greet, echo, web)");

    public static readonly Counter<long> HeapCompactions = Meter.CreateCounter<long>("parley.heap.compactions", description: "Heap compactions after a crowd arrived or left (--compact-after)");

    public static readonly Counter<long> RefusedConnections = Meter.CreateCounter<long>("parley.connections.refused", description: "Connections turned away by a connection limit");

    public static readonly Counter<long> MessagesIn = Meter.CreateCounter<long>("parley.chat.messages_in", description: "Lines chat clients sent (messages and commands), by front end (frontend=line, web)");

    public static readonly Counter<long> MessagesOut = Meter.CreateCounter<long>("parley.chat.messages_out", description: "Lines and events written to chat connections (deliveries)");

    public static readonly Counter<long> ChatMessages = Meter.CreateCounter<long>("parley.chat.messages", description: "Chat lines and actions relayed to a room");

    public static readonly Counter<long> SlowConsumerCutOffs = Meter.CreateCounter<long>("parley.chat.slow_consumer_cutoffs", description: "Members disconnected because their outbound backlog passed --max-backlog");

    public static readonly Counter<long> CutOffs = Meter.CreateCounter<long>("parley.chat.cutoffs", description: "Members cut off by the delivery policy, by reason (backlog, slow_reader, output_budget)");

    public static readonly Counter<double> PublisherHeldSeconds = Meter.CreateCounter<double>("parley.chat.publisher_held", unit: "s", description: "Time publishers' readers waited for members that were behind (flow control)");

    public static readonly Counter<long> IdleTimeouts = Meter.CreateCounter<long>("parley.connections.timeouts", description: "Connections closed by --idle-timeout or --line-timeout");

    public static readonly Counter<long> HistoryLossNotices = Meter.CreateCounter<long>("parley.history.loss_notices", description: "Rooms told that lines said in them were not kept in history, once per episode: tagged reason=write_error or queue_full");

    public static readonly Counter<long> HistoryWriteFailures = Meter.CreateCounter<long>("parley.history.write_failures", description: "Room lines history did not keep: tagged reason=write_error (the disk failed) or queue_full (the disk fell behind)");
}
