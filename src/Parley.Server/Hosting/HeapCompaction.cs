using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley.Server.Connections;
using Parley.Server.Logging;

namespace Parley.Server.Hosting;

/// <summary>
/// Compacts the managed heap once after a crowd has arrived or left and the server has gone a few seconds without a
/// new connection, and gives what it freed back to the system.
/// </summary>
/// <remarks>
/// A crowd leaves holes: while thousands connect at once, objects made for each newcomer (its start, the lobby's
/// replay, buffers) outlive a collection or two, are promoted, and die soon after. The background collector sweeps
/// such holes but does not move objects, so the memory stays the process's: 17-19 MiB of 19,000 idle connections in
/// the lobby, 1.2-1.4 KiB of the 7.5 each cost (docs/benchmarks.md). One aggressive collection when the crowd has
/// settled takes them back, at the price of one pause for everyone (0.4-0.5 s with 19,000 connections, in proportion
/// to the live heap), which is why it waits for the arrivals to stop and for a change of at least
/// <see cref="ServerOptions.CompactAfterConnections"/> connections (a quarter of those there, if more): a server
/// pauses so once per crowd, not once per connection. And at most once per <see cref="MinimumGap"/>: a crowd that
/// comes and goes on purpose must not buy everyone a pause every few seconds.
/// </remarks>
internal sealed class HeapCompaction(ConnectionLimiter limiter, ServerOptions options, TimeProvider time, ILogger<HeapCompaction> logger) : BackgroundService
{
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);

    // Ticks without a new connection before a crowd counts as settled.
    private const int QuietTicks = 2;

    /// <summary>The least time between two compactions: with 19,000 connections a pause of half a second in 30 s.</summary>
    public static readonly TimeSpan MinimumGap = TimeSpan.FromSeconds(30);

    // Read when the service is made, not when ExecuteAsync first runs (on the pool, some time after the host starts).
    private readonly int _startCount = limiter.Count;
    private readonly long _startAdmitted = limiter.Admitted;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Tick, time);
        int settled = _startCount;
        long admitted = _startAdmitted;
        int quiet = 0;
        DateTimeOffset? last = null;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                long admittedNow = limiter.Admitted;
                quiet = admittedNow == admitted ? quiet + 1 : 0;
                admitted = admittedNow;
                int count = limiter.Count;
                int change = Math.Abs(count - settled);
                if (quiet >= QuietTicks && change >= Math.Max(options.CompactAfterConnections, settled / 4)
                    && (last is not { } previous || time.GetUtcNow() - previous >= MinimumGap))
                {
                    Compact(count, count - settled);
                    settled = count;
                    last = time.GetUtcNow();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The server is stopping.
        }
    }

    private void Compact(int connections, int change)
    {
        long before = Environment.WorkingSet;
        var watch = Stopwatch.StartNew();
        // Aggressive: compacts every generation and decommits the free space, where a plain induced collection keeps
        // it committed for the next allocations.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        watch.Stop();
        ParleyMetrics.HeapCompactions.Add(1);
        ServerLog.HeapCompacted(logger, change, connections, watch.Elapsed.TotalMilliseconds, before / (1024 * 1024), Environment.WorkingSet / (1024 * 1024));
    }
}
