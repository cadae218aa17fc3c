using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;

namespace Parley.Cli.Bench;

/// <summary>
/// The bench's WebSocket client: just enough of RFC 6455 for the chat's <c>/ws</c> (the upgrade, masked text frames
/// out, text frames in, pings answered, the close answered; no extensions), over a plain socket. It reads large
/// buffers and hands on every whole frame in each, as the TCP bench reads lines; <see cref="ClientWebSocket"/> returns
/// one frame per call, and at a hundred members that costs more CPU than the server it measures (docs/benchmarks.md).
/// </summary>
internal sealed class BenchWebSocket : IDisposable
{
    private const byte Final = 0x80;
    private const byte ContinuationFrame = 0x0;
    private const byte TextFrame = 0x1;
    private const byte CloseFrame = 0x8;
    private const byte PingFrame = 0x9;
    private const byte PongFrame = 0xA;
    private const int MaxFrameBytes = 16 << 20;

    private readonly Socket _socket;
    private readonly SemaphoreSlim _sending = new(1, 1);
    private byte[] _buffer;
    private int _start;
    private int _end;

    // Set when the server's words so far include an error event: a refusal, whose close frame follows.
    private bool _refused;

    private BenchWebSocket(Socket socket, byte[] buffer, int start, int end)
    {
        _socket = socket;
        _buffer = buffer;
        _start = start;
        _end = end;
    }

    /// <summary>Called with the payload of each text frame received, in order, on the receiving thread.</summary>
    public delegate void TextHandler(ReadOnlySpan<byte> payload);

    public Socket Socket => _socket;

    /// <summary>Connects and upgrades <c>/ws</c>; a server that does not answer 101 with the right accept key is an error.</summary>
    /// <remarks><paramref name="bufferBytes"/> is what each read can take (it grows for a larger frame): small for idle connections.</remarks>
    public static async Task<BenchWebSocket> ConnectAsync(IPEndPoint target, CancellationToken cancellation, int bufferBytes = 64 * 1024)
    {
        var socket = await BenchSockets.ConnectAsync(target, cancellation);
        try
        {
            string key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
            byte[] request = Encoding.ASCII.GetBytes($"GET /ws HTTP/1.1\r\nHost: {target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n");
            await socket.SendAsync(request, SocketFlags.None, cancellation);
            var buffer = new byte[bufferBytes];
            int filled = 0;
            int headEnd;
            while ((headEnd = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (filled == buffer.Length)
                {
                    Array.Resize(ref buffer, buffer.Length * 2);
                }

                int read = buffer.Length <= 1 << 20 ? await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellation) : 0;
                if (read == 0)
                {
                    throw new WebSocketException($"{target} did not answer the WebSocket upgrade");
                }

                filled += read;
            }

            string head = Encoding.ASCII.GetString(buffer, 0, headEnd);
            // SHA-1 is what RFC 6455 §4.2.2 prescribes for the accept key: a handshake check, not a security measure.
#pragma warning disable CA5350
            string accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
            if (!head.StartsWith("HTTP/1.1 101 ", StringComparison.Ordinal)
                || !head.Split("\r\n").Any(line => line.Equals($"Sec-WebSocket-Accept: {accept}", StringComparison.OrdinalIgnoreCase)))
            {
                throw new WebSocketException($"{target} did not take a WebSocket at /ws: {head.Split("\r\n")[0]}");
            }

            return new BenchWebSocket(socket, buffer, headEnd + 4, filled);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The length of a client text frame holding <paramref name="payloadLength"/> bytes.</summary>
    public static int FrameLength(int payloadLength) => HeaderLength(payloadLength) + 4 + payloadLength;

    /// <summary>Writes <paramref name="payload"/> as one final, masked text frame; returns the frame's length.</summary>
    public static int WriteTextFrame(Span<byte> destination, ReadOnlySpan<byte> payload) => WriteFrame(destination, TextFrame, payload);

    /// <summary>Sends frames made with <see cref="WriteTextFrame"/>; whole sends never interleave with the pongs and the close.</summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> frames, CancellationToken cancellation)
    {
        await _sending.WaitAsync(cancellation);
        try
        {
            await _socket.SendAsync(frames, SocketFlags.None, cancellation);
        }
        finally
        {
            _sending.Release();
        }
    }

    /// <summary>Sends each text as a frame of its own, in one send.</summary>
    public ValueTask SendTextAsync(CancellationToken cancellation, params string[] texts)
    {
        byte[][] payloads = [.. texts.Select(Encoding.UTF8.GetBytes)];
        var frames = new byte[payloads.Sum(p => FrameLength(p.Length))];
        int at = 0;
        foreach (byte[] payload in payloads)
        {
            at += WriteTextFrame(frames.AsSpan(at), payload);
        }

        return SendAsync(frames, cancellation);
    }

    /// <summary>
    /// Reads until the server closes, calling <paramref name="onText"/> for every text frame and
    /// <paramref name="afterRead"/> once each read's frames are handed on; answers pings, and answers the server's
    /// close with one of its own before returning.
    /// </summary>
    public async Task ReceiveAsync(TextHandler onText, Action? afterRead = null, CancellationToken cancellation = default)
    {
        while (true)
        {
            while (TakeFrames(onText) is { } control)
            {
                if (control.Opcode == CloseFrame)
                {
                    afterRead?.Invoke();
                    await SendControlAsync(CloseFrame, control.Payload.AsMemory(0, Math.Min(2, control.Payload.Length)), cancellation);
                    return;
                }

                await SendControlAsync(PongFrame, control.Payload, cancellation);
            }

            afterRead?.Invoke();
            if (!await ReadMoreAsync(cancellation))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Waits, for at most <paramref name="limit"/>, until the server has sent something after the upgrade (a chat
    /// server's welcome, or its refusal), without reading it.
    /// </summary>
    public async Task WaitForFirstWordAsync(TimeSpan limit, CancellationToken cancellation)
    {
        if (_end > _start)
        {
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(limit);
        try
        {
            // A zero-byte receive completes when data is there and takes none of it.
            await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            // Silent so far: judged by what it says by the time it is counted.
        }
    }

    /// <summary>
    /// Without waiting: false when the server has closed the connection, sent its close frame or refused it with an
    /// error event (its close frame may still be on the way on a busy machine), true while it is open (whatever else
    /// arrived is read and dropped).
    /// </summary>
    public bool IsOpen()
    {
        try
        {
            // Frames already read (the refusal can come in the same read as the upgrade's answer) first, then
            // whatever is waiting on the socket.
            while (true)
            {
                while (TakeFrames(payload => _refused |= payload.IndexOf("\"type\":\"error\""u8) >= 0) is { } control)
                {
                    if (control.Opcode == CloseFrame)
                    {
                        return false;
                    }
                }

                if (_refused || !_socket.Poll(0, SelectMode.SelectRead))
                {
                    return !_refused;
                }

                if (_socket.Available == 0)
                {
                    return false;
                }

                Compact(_socket.Available);
                _end += _socket.Receive(_buffer.AsSpan(_end));
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or WebSocketException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        _sending.Dispose();
    }

    private async Task<bool> ReadMoreAsync(CancellationToken cancellation)
    {
        Compact(4096);
        int read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellation);
        _end += read;
        return read > 0;
    }

    // Moves the unread bytes (a partial frame at most) to the front, and makes room for at least `room` more.
    private void Compact(int room)
    {
        int unread = _end - _start;
        if (unread + room > _buffer.Length)
        {
            var larger = new byte[Math.Max(_buffer.Length * 2, unread + room)];
            _buffer.AsSpan(_start, unread).CopyTo(larger);
            _buffer = larger;
        }
        else if (_start > 0)
        {
            _buffer.AsSpan(_start, unread).CopyTo(_buffer);
        }

        _start = 0;
        _end = unread;
    }

    // Hands on every whole text frame buffered; stops at a ping or close (returned) or at a partial frame (null). The server's frames are unmasked and never fragmented.
    private (byte Opcode, byte[] Payload)? TakeFrames(TextHandler onText)
    {
        while (true)
        {
            var data = _buffer.AsSpan(_start, _end - _start);
            if (data.Length < 2)
            {
                return null;
            }

            int opcode = data[0] & 0x0F;
            if ((data[1] & 0x80) != 0 || (data[0] & Final) == 0 || opcode == ContinuationFrame)
            {
                throw new WebSocketException("the server sent a masked or fragmented frame, which this bench client does not take");
            }

            long length = data[1] & 0x7F;
            int header = 2;
            if (length == 126)
            {
                header = 4;
                length = data.Length >= header ? BinaryPrimitives.ReadUInt16BigEndian(data[2..]) : 0;
            }
            else if (length == 127)
            {
                header = 10;
                length = data.Length >= header ? (long)BinaryPrimitives.ReadUInt64BigEndian(data[2..]) : 0;
            }

            if (length > MaxFrameBytes)
            {
                throw new WebSocketException($"the server sent a frame of {length} bytes");
            }

            if (data.Length < header || data.Length < header + length)
            {
                // A frame larger than the buffer: room for all of it before the next read.
                Compact(header + (int)length);

                return null;
            }

            var payload = data.Slice(header, (int)length);
            _start += header + (int)length;
            switch (opcode)
            {
                case TextFrame:
                    onText(payload);
                    break;
                case CloseFrame or PingFrame:
                    return ((byte)opcode, payload.ToArray());
                default:
                    // Pongs and binary frames: nothing the chat sends that the bench needs.
                    break;
            }
        }
    }

    private async ValueTask SendControlAsync(byte opcode, ReadOnlyMemory<byte> payload, CancellationToken cancellation)
    {
        var frame = new byte[FrameLength(payload.Length)];
        WriteFrame(frame, opcode, payload.Span);
        await SendAsync(frame, cancellation);
    }

    private static int HeaderLength(int payloadLength) => payloadLength < 126 ? 2 : payloadLength <= ushort.MaxValue ? 4 : 10;

    private static int WriteFrame(Span<byte> destination, byte opcode, ReadOnlySpan<byte> payload)
    {
        // Clients mask every frame (RFC 6455 §5.3); the key need not be secret here, only present.
        destination[0] = (byte)(Final | opcode);
        int at = HeaderLength(payload.Length);
        switch (at)
        {
            case 2:
                destination[1] = (byte)(0x80 | payload.Length);
                break;
            case 4:
                destination[1] = 0x80 | 126;
                BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payload.Length);
                break;
            default:
                destination[1] = 0x80 | 127;
                BinaryPrimitives.WriteUInt64BigEndian(destination[2..], (ulong)payload.Length);
                break;
        }

        var mask = destination.Slice(at, 4);
        Random.Shared.NextBytes(mask);
        at += 4;
        for (int i = 0; i < payload.Length; i++)
        {
            destination[at + i] = (byte)(payload[i] ^ mask[i & 3]);
        }

        return at + payload.Length;
    }
}
