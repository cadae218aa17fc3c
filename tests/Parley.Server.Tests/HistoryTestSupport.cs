using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Protocol.Chat;
using Parley.Server.History;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>A directory under the system temp directory, deleted (with anything mounted on it unmounted) afterwards.</summary>
internal sealed class HistoryTempDirectory : IDisposable
{
    private readonly List<string> _mounts = [];

    public HistoryTempDirectory()
    {
        Path = Directory.CreateTempSubdirectory("parley-history-").FullName;
    }

    public string Path { get; }

    public string File(string name = "history.db") => System.IO.Path.Combine(Path, name);

    /// <summary>Mounts a tmpfs of <paramref name="size"/> (e.g. "256k") on a new subdirectory, as root can: a real small disk.</summary>
    public string MountTmpfs(string name, string size)
    {
        string target = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(target);
        HistoryRoot.Run("mount", $"-t tmpfs -o size={size} parley-test {target}");
        _mounts.Add(target);
        return target;
    }

    public void Dispose()
    {
        foreach (string mount in _mounts)
        {
            HistoryRoot.TryRun("umount", mount);
        }

        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>What only root with CAP_SYS_ADMIN can do, and whether this test run can.</summary>
internal static class HistoryRoot
{
    public static readonly Lazy<bool> CanMount = new(() =>
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            return false;
        }

        string probe = Directory.CreateTempSubdirectory("parley-mount-probe-").FullName;
        try
        {
            if (!TryRun("mount", $"-t tmpfs -o size=64k parley-probe {probe}"))
            {
                return false;
            }

            TryRun("umount", probe);
            return true;
        }
        finally
        {
            Directory.Delete(probe, recursive: true);
        }
    });

    public static void Run(string command, string arguments)
    {
        if (!TryRun(command, arguments, out string error))
        {
            throw new InvalidOperationException($"{command} {arguments} failed: {error}");
        }
    }

    public static bool TryRun(string command, string arguments) => TryRun(command, arguments, out _);

    private static bool TryRun(string command, string arguments, out string error)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        error = process.StandardError.ReadToEnd();
        if (!process.WaitForExit(10_000))
        {
            process.Kill();
            return false;
        }

        return process.ExitCode == 0;
    }
}

/// <summary>A fact that needs root allowed to mount (a real read-only or full file system); skipped with the reason otherwise.</summary>
internal sealed class HistoryMountFactAttribute : FactAttribute
{
    public HistoryMountFactAttribute()
    {
        if (!HistoryRoot.CanMount.Value)
        {
            Skip = "needs root with CAP_SYS_ADMIN to mount a small tmpfs (a read-only or full disk that stops root too)";
        }
    }
}

internal static class HistoryLines
{
    // Millisecond precision: the SQLite store keeps Unix milliseconds, which is all the JSON format shows.
    public static readonly DateTimeOffset Start = new(2026, 11, 29, 19, 40, 12, 345, TimeSpan.Zero);

    public static ChatEvent Message(string room, long id, string? text = null, DateTimeOffset? at = null) =>
        new(ChatEventType.Message, at ?? Start.AddSeconds(id))
        {
            Room = room,
            From = "alice",
            Text = text ?? $"line {id} in {room}",
            Id = id,
        };

    public static ChatEvent Topic(string room, long id, string text) =>
        new(ChatEventType.Topic, Start.AddSeconds(id)) { Room = room, From = "bob", Text = text, Id = id };

    public static long[] Ids(IReadOnlyList<ChatEvent> page) => page.Select(line => line.Id!.Value).ToArray();

    public static long[] Range(long first, long last) => Enumerable.Range((int)first, (int)(last - first + 1)).Select(i => (long)i).ToArray();

    public static Task<SqliteRoomHistory> OpenSqliteAsync(string path, int keep = 0, int days = 0, SqliteHistoryTuning? tuning = null) =>
        SqliteRoomHistory.OpenAsync(path, keep, days, NullLogger.Instance, tuning).DefaultTimeout();

    /// <summary>Runs SQL on the file from a connection of its own, as another program would; the rows it changed.</summary>
    public static async Task<int> ExecuteSqlAsync(string path, string sql)
    {
        await using var other = new SqliteConnection($"Data Source={path};Pooling=False");
        await other.OpenAsync().DefaultTimeout();
        await using var command = other.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteNonQueryAsync().DefaultTimeout();
    }

    /// <summary>Opens and expects the one-line refusal a user would see; checks it is one line with no .NET in it.</summary>
    public static async Task<string> RefusalAsync(string path)
    {
        var refusal = await Assert.ThrowsAsync<HistoryUnavailableException>(() => OpenSqliteAsync(path)).DefaultTimeout();
        string message = refusal.Message;
        Assert.DoesNotContain('\n', message);
        Assert.StartsWith("history: ", message, StringComparison.Ordinal);
        foreach (string dotnet in new[] { "Exception", "System.", "Microsoft.", "Sqlite", "   at " })
        {
            Assert.DoesNotContain(dotnet, message, StringComparison.Ordinal);
        }

        return message;
    }
}
