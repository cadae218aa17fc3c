using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Xunit.Sdk;

namespace Parley.Testing;

/// <summary>A plain TCP client for tests, as nc would be: write bytes or lines, read lines or chunks, each read with a timeout.</summary>
public sealed class LineClient : IAsyncDisposable
{
    private static readonly UTF8Encoding Utf8 = new(false);
    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly StreamReader _reader;
    private readonly List<string> _seen = [];

    private LineClient(Socket socket, Stream? stream = null)
    {
        _socket = socket;
        _stream = stream ?? new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(_stream, Utf8, detectEncodingFromByteOrderMarks: false);
    }

    public Socket Socket => _socket;

    /// <summary>Every line read so far, for failure messages.</summary>
    public IReadOnlyList<string> Seen => _seen;

    public static async Task<LineClient> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint).DefaultTimeout();
        return new LineClient(socket);
    }

    /// <summary>Connects with TLS, as <c>openssl s_client</c> would, and fails unless the server shows <paramref name="expected"/>.</summary>
    public static async Task<LineClient> ConnectTlsAsync(IPEndPoint endPoint, X509Certificate2 expected)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint).DefaultTimeout();
        var tls = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false, (_, certificate, _, _) =>
            certificate is not null && certificate.GetCertHashString() == expected.GetCertHashString());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }).DefaultTimeout();
        return new LineClient(socket, tls);
    }

    public Task SendLineAsync(string line) => SendAsync(Utf8.GetBytes(line + "\n"));

    public async Task SendAsync(byte[] bytes)
    {
        using var timeout = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
        await _stream.WriteAsync(bytes, timeout.Token);
        await _stream.FlushAsync(timeout.Token);
    }

    /// <summary>The next line, or null when the server closed the connection.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TaskTimeoutExtensions.DefaultWait);
        try
        {
            string? line = await _reader.ReadLineAsync(cancel.Token);
            if (line is not null)
            {
                _seen.Add(line);
            }

            return line;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No line within {(timeout ?? TaskTimeoutExtensions.DefaultWait).TotalSeconds}s; seen so far:\n{string.Join('\n', _seen)}");
        }
    }

    /// <summary>Reads lines until one equals <paramref name="expected"/>; fails on close or timeout.</summary>
    public Task<string> ExpectLineAsync(string expected, TimeSpan? timeout = null) => ExpectLineAsync(line => line == expected, expected, timeout);

    public async Task<string> ExpectLineAsync(Func<string, bool> match, string description, TimeSpan? timeout = null)
    {
        while (true)
        {
            string? line = await ReadLineAsync(timeout);
            if (line is null)
            {
                throw new XunitException($"Connection closed before a line like '{description}'; seen:\n{string.Join('\n', _seen)}");
            }

            if (match(line))
            {
                return line;
            }
        }
    }

    /// <summary>Reads whatever one receive returns (raw framing), as the tutorials' clients do.</summary>
    public async Task<byte[]> ReadChunkAsync()
    {
        var buffer = new byte[64 * 1024];
        using var cancel = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
        int read = await _stream.ReadAsync(buffer, cancel.Token);
        return buffer[..read];
    }

    /// <summary>Reads exactly <paramref name="byteCount"/> bytes, however TCP splits them, as UTF-8 text.</summary>
    public async Task<string> ReadExactlyAsync(int byteCount)
    {
        var buffer = new byte[byteCount];
        using var cancel = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
        await _stream.ReadExactlyAsync(buffer, cancel.Token);
        return Utf8.GetString(buffer);
    }

    /// <summary>Reads until the server closes; returns the lines read on the way.</summary>
    public async Task<List<string>> ReadToEndAsync()
    {
        var lines = new List<string>();
        while (await ReadLineAsync() is { } line)
        {
            lines.Add(line);
        }

        return lines;
    }

    /// <summary>Closes with a TCP reset instead of a FIN, as a crashed client or a pulled cable does.</summary>
    public void Reset()
    {
        _socket.LingerState = new LingerOption(true, 0);
        _socket.Close();
    }

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        await _stream.DisposeAsync();
    }
}
