namespace Parley.Server.Connections;

/// <summary>
/// Lines per second with a burst allowance. It never drops anything: it says how long to wait before the next
/// line may be handled, and the reader waits that long without reading, so TCP slows the sender down.
/// </summary>
internal sealed class TokenBucket(double ratePerSecond, int burst, TimeProvider time)
{
    private readonly long _started = time.GetTimestamp();
    private double _tokens = burst;
    private double _lastRefill;

    /// <summary>Takes one token; returns zero, or how long to wait until one is there.</summary>
    public TimeSpan Take()
    {
        double now = time.GetElapsedTime(_started).TotalSeconds;
        _tokens = Math.Min(burst, _tokens + (now - _lastRefill) * ratePerSecond);
        _lastRefill = now;
        _tokens -= 1;
        return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / ratePerSecond);
    }
}

/// <summary>A connection's line rate: <see cref="TokenBucket"/>'s settings, off by default.</summary>
internal readonly record struct RateLimit(double LinesPerSecond, int Burst)
{
    public bool IsOn => LinesPerSecond > 0;

    public TokenBucket NewBucket() => new(LinesPerSecond, Burst, TimeProvider.System);
}
