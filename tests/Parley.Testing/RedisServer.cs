using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit.Sdk;

namespace Parley.Testing;

/// <summary>
/// A real redis-server of the test's own, on a free loopback port, with nothing saved to disk. Started and stopped by
/// PID; <see cref="StopAsync"/> and <see cref="StartAgainAsync"/> make an outage on the same port. Where redis-server
/// is not installed the test fails and says how to install it (.ci/run does), rather than passing unseen.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private static readonly TimeSpan StartWait = TimeSpan.FromSeconds(10);
    private readonly string _executable;
    private Process? _process;

    private RedisServer(string executable, int port)
    {
        _executable = executable;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The StackExchange.Redis configuration string for <c>--redis</c>.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        string executable = Locate() ?? throw new XunitException(
            "redis-server is not installed; the cluster tests need a real one: apt-get install -y redis-server (.ci/run installs it when missing)");
        var server = new RedisServer(executable, Loopback.FreePort());
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>Starts redis-server (again) on the same port, empty, and returns once it answers PING.</summary>
    public async Task StartAgainAsync()
    {
        var start = new ProcessStartInfo(_executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no" })
        {
            start.ArgumentList.Add(arg);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start redis-server");
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var deadline = new CancellationTokenSource(StartWait);
        while (!await AnswersPingAsync(deadline.Token))
        {
            if (_process.HasExited || deadline.IsCancellationRequested)
            {
                throw new XunitException($"redis-server did not answer on port {Port} within {StartWait.TotalSeconds} s");
            }

            await Task.Delay(50, CancellationToken.None);
        }
    }

    /// <summary>Kills redis-server by PID (as a crash would) and waits for it to be gone.</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync().WaitAsync(StartWait);
        }

        _process?.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private async Task<bool> AnswersPingAsync(CancellationToken cancellation)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            attempt.CancelAfter(TimeSpan.FromSeconds(1));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Port), attempt.Token);
            await socket.SendAsync("PING\r\n"u8.ToArray(), SocketFlags.None, attempt.Token);
            var buffer = new byte[64];
            int read = await socket.ReceiveAsync(buffer, SocketFlags.None, attempt.Token);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    private static string? Locate()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator))
        {
            string candidate = Path.Combine(dir, "redis-server");
            if (dir.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
