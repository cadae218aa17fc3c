namespace Parley.Server.Connections;

/// <summary>
/// The bytes queued for all connections together (<c>--max-output-memory</c>). Each member's backlog is capped on
/// its own, but ten thousand members each just under their cap would still exhaust memory; past this budget the
/// chat cuts off the members with the largest backlogs first, as Redis's <c>maxmemory-clients</c> does.
/// </summary>
/// <remarks>
/// One shared counter, so it is added to once per broadcast (bytes times recipients) rather than once per
/// recipient, and taken from once per send: touching it per line would make every core fight over one cache line.
/// </remarks>
internal sealed class OutputBudget(long maxBytes)
{
    private long _queuedBytes;

    public long MaxBytes { get; } = maxBytes;

    public long QueuedBytes => Volatile.Read(ref _queuedBytes);

    public bool IsExceeded => QueuedBytes > MaxBytes;

    public void Reserve(long bytes) => Interlocked.Add(ref _queuedBytes, bytes);

    public void Release(long bytes) => Interlocked.Add(ref _queuedBytes, -bytes);
}
