using System.IO.Pipelines;
using Parley.Server.Connections;
using Parley.Testing;

namespace Parley.Server.Tests;

public sealed class ReadDeadlinesTests : IDisposable
{
    private readonly ReadDeadlines _deadlines = new(TimeProvider.System);
    private readonly Pipe _pipe = new();
    private readonly ReadDeadline _deadline;

    public ReadDeadlinesTests()
    {
        _deadline = _deadlines.Watch(_pipe.Reader);
    }

    public void Dispose()
    {
        _deadline.Dispose();
        _deadlines.Dispose();
    }

    [Fact]
    public async Task AReadPastItsDeadlineIsCancelledAndSaysSo()
    {
        _deadline.Arm(TimeSpan.FromMilliseconds(200));
        var result = await _pipe.Reader.ReadAsync().AsTask().DefaultTimeout();
        Assert.True(result.IsCanceled);
        Assert.True(_deadline.HasExpired);
    }

    [Fact]
    public async Task ADisarmedDeadlineLeavesTheReadAlone()
    {
        _deadline.Arm(TimeSpan.FromMilliseconds(100));
        _deadline.Disarm();
        var read = _pipe.Reader.ReadAsync().AsTask();
        // Several sweeps pass; a disarmed deadline must not cancel the read.
        await Task.Delay(ReadDeadlines.Resolution * 4);
        Assert.False(read.IsCompleted);

        await _pipe.Writer.WriteAsync("hello\n"u8.ToArray());
        var result = await read.DefaultTimeout();
        Assert.False(result.IsCanceled);
        Assert.False(_deadline.HasExpired);
    }
}
