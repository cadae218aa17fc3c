using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Xunit.Sdk;

namespace Parley.Testing;

/// <summary>
/// The real <c>parley</c> command, run as a user runs it: arguments, stdin, stdout lines, stderr and the exit code.
/// It is killed by PID when disposed, so a failing test leaves nothing behind.
/// </summary>
public sealed class ParleyProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string? _dataHome;
    private readonly Channel<string> _stdout = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _stderr = new();
    private readonly List<string> _stdoutSeen = [];

    private ParleyProcess(Process process, string? dataHome)
    {
        _process = process;
        _dataHome = dataHome;
    }

    public int Id => _process.Id;

    public StreamWriter StandardInput => _process.StandardInput;

    public string StandardError
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public IReadOnlyList<string> StandardOutputSeen => _stdoutSeen;

    /// <summary>Starts <c>parley</c> with the given arguments, stdin piped, NO_COLOR set.</summary>
    public static ParleyProcess Start(params string[] args) => Start(new Dictionary<string, string>(), args);

    /// <summary>As <see cref="Start(string[])"/>, with these environment variables set as well.</summary>
    public static ParleyProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(LocateParleyDll());
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["NO_COLOR"] = "1";
        // Each process gets a data directory of its own, so `serve`'s default history file is the real default
        // location, and servers that tests run side by side do not share (and lock) one file.
        string? dataHome = null;
        if (!environment.ContainsKey("XDG_DATA_HOME"))
        {
            dataHome = Directory.CreateTempSubdirectory("parley-data-").FullName;
            start.Environment["XDG_DATA_HOME"] = dataHome;
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start parley");
        process.StandardInput.AutoFlush = true;
        var result = new ParleyProcess(process, dataHome);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                result._stdout.Writer.TryComplete();
            }
            else
            {
                result._stdout.Writer.TryWrite(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (result._stderr)
                {
                    result._stderr.AppendLine(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return result;
    }

    /// <summary>The next stdout line, or null at end of output.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TaskTimeoutExtensions.DefaultWait);
        try
        {
            if (await _stdout.Reader.WaitToReadAsync(cancel.Token) && _stdout.Reader.TryRead(out var line))
            {
                _stdoutSeen.Add(line);
                return line;
            }

            return null;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"parley printed no line in time. stdout so far:\n{string.Join('\n', _stdoutSeen)}\nstderr:\n{StandardError}");
        }
    }

    public async Task<string> ExpectLineAsync(Func<string, bool> match, string description, TimeSpan? timeout = null)
    {
        while (true)
        {
            string? line = await ReadLineAsync(timeout);
            if (line is null)
            {
                throw new XunitException($"parley's output ended before '{description}'. stdout:\n{string.Join('\n', _stdoutSeen)}\nstderr:\n{StandardError}");
            }

            if (match(line))
            {
                return line;
            }
        }
    }

    public Task<string> ExpectLineAsync(string expected, TimeSpan? timeout = null) => ExpectLineAsync(line => line == expected, expected, timeout);

    /// <summary>For <c>parley serve</c>: waits for <c>SERVICE listening on HOST:PORT</c> and returns <c>HOST:PORT</c>.</summary>
    public async Task<string> ListeningAddressAsync(string service)
    {
        string line = await ExpectLineAsync(l => l.StartsWith($"{service} listening on ", StringComparison.Ordinal), $"{service} listening");
        return line[(line.LastIndexOf(' ') + 1)..];
    }

    /// <summary>Reads the rest of stdout (until the process closes it).</summary>
    public async Task<List<string>> ReadToEndAsync()
    {
        var lines = new List<string>();
        while (await ReadLineAsync() is { } line)
        {
            lines.Add(line);
        }

        return lines;
    }

    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TaskTimeoutExtensions.DefaultWait);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"parley did not exit in time. stdout:\n{string.Join('\n', _stdoutSeen)}\nstderr:\n{StandardError}");
        }
    }

    /// <summary>Sends a POSIX signal to this process (by PID), as Ctrl-C or a service manager would.</summary>
    public void Signal(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit(5000);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        _process.Dispose();
        if (_dataHome is not null)
        {
            try
            {
                Directory.Delete(_dataHome, recursive: true);
            }
            catch (IOException)
            {
                // Left for the system's temp cleaner; never worth failing a test over.
            }
        }
    }

    /// <summary>The CLI's parley.dll: tests build in the same configuration, and its output sits beside ours in the source tree.</summary>
    public static string LocateParleyDll()
    {
        string testDir = AppContext.BaseDirectory;
        string configuration = new DirectoryInfo(testDir).Parent!.Name;
        for (var dir = new DirectoryInfo(testDir); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "src", "Parley.Cli", "bin", configuration, "net10.0", "parley.dll");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"parley.dll not found above {testDir}: build src/Parley.Cli in {configuration} first");
    }

    /// <summary>The repository's root (the folder of Parley.slnx), for tests that read the docs they check.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Parley.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("Parley.slnx not found above the test's folder");
    }
}
