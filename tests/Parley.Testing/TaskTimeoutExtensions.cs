using System.Runtime.CompilerServices;

namespace Parley.Testing;

/// <summary>Every wait in a test has a timeout, and a timeout says where it happened (as aspnetcore's DefaultTimeout).</summary>
public static class TaskTimeoutExtensions
{
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(15);

    public static async Task DefaultTimeout(this Task task, TimeSpan? timeout = null, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        try
        {
            await task.WaitAsync(timeout ?? DefaultWait);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {(timeout ?? DefaultWait).TotalSeconds}s at {Path.GetFileName(file)}:{line}");
        }
    }

    public static async Task<T> DefaultTimeout<T>(this Task<T> task, TimeSpan? timeout = null, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        try
        {
            return await task.WaitAsync(timeout ?? DefaultWait);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {(timeout ?? DefaultWait).TotalSeconds}s at {Path.GetFileName(file)}:{line}");
        }
    }

    public static Task<T> DefaultTimeout<T>(this ValueTask<T> task, TimeSpan? timeout = null, [CallerFilePath] string file = "", [CallerLineNumber] int line = 0) =>
        task.AsTask().DefaultTimeout(timeout, file, line);
}
