using System.IO.Pipelines;
using Parley.Server.Connections;
using Parley.Testing;

namespace Parley.Server.Tests;

public class ReadDeadlinesTests
{
    [Fact]
    public async Task AReadPastItsDeadlineIsCancelledAndSaysSo()
    {
        using var deadlines = new ReadDeadlines(TimeProvider.System);
        var pipe = new Pipe();
        using var deadline = deadlines.Watch(pipe.Reader);

        deadline.Arm(TimeSpan.FromMilliseconds(200));
        var result = await pipe.Reader.ReadAsync().AsTask().DefaultTimeout();
        Assert.True(result.IsCanceled);
        Assert.True(deadline.HasExpired);
    }

    [Fact]
    public async Task ADisarmedOrLaterDeadlineLeavesTheReadAlone()
    {
        using var deadlines = new ReadDeadlines(TimeProvider.System);
        var pipe = new Pipe();
        using var deadline = deadlines.Watch(pipe.Reader);

        deadline.Arm(TimeSpan.FromMilliseconds(100));
        deadline.Disarm();
        var read = pipe.Reader.ReadAsync().AsTask();
        // Several sweeps pass; a disarmed deadline must not cancel the read.
        await Task.Delay(ReadDeadlines.Resolution * 4);
        Assert.False(read.IsCompleted);

        await pipe.Writer.WriteAsync("hello\n"u8.ToArray());
        var result = await read.DefaultTimeout();
        Assert.False(result.IsCanceled);
        Assert.False(deadline.HasExpired);
    }
}
