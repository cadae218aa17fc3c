using System.Diagnostics;
using System.Globalization;
using System.Text;
using Parley.Testing;
using Xunit.Sdk;

namespace Parley.Cli.Tests;

/// <summary>A test that needs a real terminal: skipped, with the reason, only where tmux is not installed.</summary>
public sealed class TerminalFactAttribute : FactAttribute
{
    public TerminalFactAttribute()
    {
        if (!TmuxTerminal.Available)
        {
            Skip = "tmux is not installed (apt-get install tmux): the interactive client needs a real terminal to test";
        }
    }
}

/// <summary>
/// The real <c>parley</c> in a real terminal: tmux runs it in a detached session of a set size, <c>send-keys</c>
/// types, <c>capture-pane</c> reads the screen as the user sees it. Each terminal has its own tmux server (its own
/// socket), so tests run in parallel and a failing one leaves nothing behind.
/// </summary>
internal sealed class TmuxTerminal : IAsyncDisposable
{
    private readonly string _socket = $"parley-test-{Guid.NewGuid():N}";
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("parley-tmux-");

    private TmuxTerminal()
    {
    }

    public static bool Available { get; } = Environment.GetEnvironmentVariable("PATH")?.Split(':').Any(dir => File.Exists(Path.Combine(dir, "tmux"))) == true;

    private string ExitFile => Path.Combine(_directory.FullName, "exit-code");

    /// <summary>Starts <c>parley ARGS</c> in a terminal of <paramref name="columns"/> × <paramref name="rows"/>.</summary>
    public static Task<TmuxTerminal> StartAsync(int columns, int rows, params string[] args) =>
        StartProgramAsync(columns, rows, ["dotnet", ParleyProcess.LocateParleyDll(), .. args]);

    /// <summary>Starts another program (an IRC client) in a terminal of <paramref name="columns"/> × <paramref name="rows"/>.</summary>
    public static async Task<TmuxTerminal> StartProgramAsync(int columns, int rows, params string[] commandLine)
    {
        var terminal = new TmuxTerminal();
        string script = Path.Combine(terminal._directory.FullName, "run.sh");
        var command = new StringBuilder("#!/bin/sh\nexport NO_COLOR=1 TZ=UTC\n");
        command.AppendJoin(' ', commandLine.Select(Quote));

        // The exit code goes to a file, and the pane stays open so its last words can still be read.
        command.Append("\necho $? > ").Append(Quote(terminal.ExitFile)).Append("\nexec sleep 600\n");
        await File.WriteAllTextAsync(script, command.ToString());
        await terminal.TmuxAsync("new-session", "-d", "-s", "t", "-x", Number(columns), "-y", Number(rows), $"sh {Quote(script)}");
        return terminal;
    }

    /// <summary>A folder of this terminal's own, removed with it (an IRC client's home).</summary>
    public string HomeDirectory => _directory.FullName;

    /// <summary>tmux key names (<c>Enter</c>, <c>C-a</c>, <c>Left</c>, <c>BSpace</c>), one key each.</summary>
    public Task KeysAsync(params string[] keys) => TmuxAsync(["send-keys", "-t", "t", .. keys]);

    /// <summary>Text typed as it is, character by character.</summary>
    public Task TypeAsync(string text) => TmuxAsync("send-keys", "-t", "t", "-l", text);

    public Task ResizeAsync(int columns, int rows) => TmuxAsync("resize-window", "-t", "t", "-x", Number(columns), "-y", Number(rows));

    /// <summary>The column the terminal's cursor is in (0 is the first), as tmux, which drew the screen, places it.</summary>
    public async Task<int> CursorColumnAsync() => int.Parse((await TmuxAsync("display-message", "-p", "-t", "t", "#{cursor_x}")).Trim(), CultureInfo.InvariantCulture);

    /// <summary>Waits until the title the program set (OSC 2) is <paramref name="expected"/>.</summary>
    public async Task WaitForTitleAsync(string expected)
    {
        using var timeout = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
        string title = string.Empty;
        while (!timeout.IsCancellationRequested)
        {
            title = (await TmuxAsync("display-message", "-p", "-t", "t", "#{pane_title}")).TrimEnd('\n');
            if (title == expected)
            {
                return;
            }

            await Task.Delay(50, CancellationToken.None);
        }

        throw new XunitException($"the title never became '{expected}'; it was '{title}'");
    }

    /// <summary>The screen as lines, trailing blanks removed; with <paramref name="scrollback"/>, what scrolled off too.</summary>
    public async Task<string[]> ScreenAsync(bool scrollback = false)
    {
        string text = await TmuxAsync(scrollback ? ["capture-pane", "-p", "-t", "t", "-S", "-"] : ["capture-pane", "-p", "-t", "t"]);
        return text.TrimEnd('\n').Split('\n').Select(line => line.TrimEnd()).Reverse().SkipWhile(line => line.Length == 0).Reverse().ToArray();
    }

    /// <summary>Waits until the screen shows what <paramref name="match"/> looks for; the screen read last goes in the failure.</summary>
    public async Task<string[]> WaitForScreenAsync(Func<string[], bool> match, string description, bool scrollback = false)
    {
        using var timeout = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
        string[] screen = [];
        while (!timeout.IsCancellationRequested)
        {
            screen = await ScreenAsync(scrollback);
            if (match(screen))
            {
                return screen;
            }

            // A terminal has no event to await: poll it, bounded by the timeout above.
            await Task.Delay(50, CancellationToken.None);
        }

        throw new XunitException($"the screen never showed {description}. It showed:\n{string.Join('\n', screen)}");
    }

    public Task<string[]> WaitForLineAsync(Func<string, bool> match, string description) => WaitForScreenAsync(screen => screen.Any(match), description);

    /// <summary>The last row with text: the input line, while the client is running.</summary>
    public async Task<string> WaitForInputAsync(string expected)
    {
        var screen = await WaitForScreenAsync(screen => screen.Length > 0 && screen[^1] == expected, $"the input line '{expected}'");
        return screen[^1];
    }

    public async Task<int> WaitForExitAsync()
    {
        using var timeout = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
        while (!timeout.IsCancellationRequested)
        {
            if (File.Exists(ExitFile) && (await File.ReadAllTextAsync(ExitFile, CancellationToken.None)).Trim() is { Length: > 0 } code)
            {
                return int.Parse(code, CultureInfo.InvariantCulture);
            }

            await Task.Delay(50, CancellationToken.None);
        }

        throw new XunitException($"parley did not exit in time. The screen:\n{string.Join('\n', await ScreenAsync())}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await TmuxAsync("kill-server");
        }
        catch (XunitException)
        {
            // Already gone.
        }

        _directory.Delete(recursive: true);
    }

    private async Task<string> TmuxAsync(params string[] args)
    {
        var start = new ProcessStartInfo("tmux")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add("-L");
        start.ArgumentList.Add(_socket);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // Wide characters need a UTF-8 locale in tmux; C.UTF-8 is on every Debian.
        start.Environment["LANG"] = "C.UTF-8";
        start.Environment["LC_ALL"] = "C.UTF-8";
        start.Environment.Remove("TMUX");
        using var tmux = Process.Start(start) ?? throw new XunitException("could not start tmux");
        var output = tmux.StandardOutput.ReadToEndAsync();
        var error = tmux.StandardError.ReadToEndAsync();
        await tmux.WaitForExitAsync().DefaultTimeout();
        if (tmux.ExitCode != 0)
        {
            throw new XunitException($"tmux {string.Join(' ', args)} failed: {await error}");
        }

        return await output;
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
