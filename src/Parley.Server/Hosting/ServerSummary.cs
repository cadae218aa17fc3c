using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley.Server.Logging;

namespace Parley.Server.Hosting;

/// <summary>
/// Logs one Information line every <see cref="ServerOptions.SummaryInterval"/>: connections open, messages per second,
/// refusals and cut-offs. It listens to <see cref="ParleyMetrics"/> rather than keeping counters of its own, so the
/// log and <c>dotnet-counters</c> can never disagree and the hot paths bump one instrument, not two.
/// </summary>
internal sealed class ServerSummary(ServerOptions options, TimeProvider time, ILogger<ServerSummary> logger) : BackgroundService
{
    private readonly MeterListener _listener = new();
    private readonly Total _connections = new();
    private readonly Total _messages = new();
    private readonly Total _refused = new();
    private readonly Total _cutOff = new();

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Reading the instruments here runs ParleyMetrics' static initialiser first: run later, from inside the
        // listener's publication callback, it would hand the callback instruments whose fields are still null.
        var totals = new Dictionary<Instrument, Total>
        {
            [ParleyMetrics.ActiveConnections] = _connections,
            [ParleyMetrics.ChatMessages] = _messages,
            [ParleyMetrics.RefusedConnections] = _refused,
            [ParleyMetrics.SlowConsumerCutOffs] = _cutOff,
        };
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (totals.TryGetValue(instrument, out var total))
            {
                listener.EnableMeasurementEvents(instrument, total);
            }
        };
        _listener.SetMeasurementEventCallback<long>(static (_, measurement, _, state) => Interlocked.Add(ref ((Total)state!).Value, measurement));
        _listener.Start();
        return base.StartAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _listener.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.SummaryInterval, time);
        long messages = 0, refused = 0, cutOff = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                long messagesNow = Volatile.Read(ref _messages.Value), refusedNow = Volatile.Read(ref _refused.Value), cutOffNow = Volatile.Read(ref _cutOff.Value);
                double seconds = options.SummaryInterval.TotalSeconds;
                ServerLog.Summary(logger, Volatile.Read(ref _connections.Value), (messagesNow - messages) / seconds, refusedNow - refused, cutOffNow - cutOff, seconds);
                (messages, refused, cutOff) = (messagesNow, refusedNow, cutOffNow);
            }
        }
        catch (OperationCanceledException)
        {
            // The server is stopping.
        }
    }

    // A box, so the listener's static callback can add to the right total through its state argument.
    private sealed class Total
    {
        public long Value;
    }
}
