using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using Parley.Protocol.Chat;
using Parley.Protocol.Framing;
using Parley.Protocol.Text;

namespace Parley.Client;

/// <summary>
/// A chat connection that speaks the JSON format: connect, send lines, and read what the server says as
/// <see cref="ChatEvent"/>s. The console client, the tests and the benchmark all use it.
/// </summary>
public sealed class ChatClient : IAsyncDisposable
{
    // Generous: the server caps its own lines, but a /who of a big room is one long JSON line.
    private const int MaxIncomingLineBytes = 1024 * 1024;

    private readonly ClientConnection _connection;
    private readonly PipeReader _input;
    private readonly SemaphoreSlim _sendGate = new(1, 1);

    private ChatClient(ClientConnection connection, HostPort server)
    {
        _connection = connection;
        Server = server;
        _input = PipeReader.Create(connection.Stream);
    }

    public HostPort Server { get; }

    /// <summary>
    /// Lines that were neither JSON nor Parley's text format (<c>* </c>, <c>! </c>, <c>&lt;</c>, <c>[</c>): a
    /// greet or echo service answering instead of chat.
    /// </summary>
    public int ForeignLines { get; private set; }

    /// <summary>Lines of any kind received so far.</summary>
    public long LinesReceived { get; private set; }

    /// <summary>
    /// Connects and sets the session up: JSON format first, then the room, then the name. The room comes before
    /// the name so that a client bound for another room is never announced in the lobby under its name: a guest
    /// moving rooms is not announced, a named member is (issue 16).
    /// </summary>
    public static async Task<ChatClient> ConnectAsync(HostPort server, string? name, string? room, CancellationToken cancellation, string? password = null, ClientTlsOptions? tls = null)
    {
        var client = new ChatClient(await ClientConnection.OpenAsync(server, tls, cancellation), server);
        var hello = new StringBuilder();
        if (!string.IsNullOrEmpty(password))
        {
            hello.Append("/pass ").Append(password).Append('\n');
        }

        hello.Append("/format json\n");
        if (!string.IsNullOrEmpty(room))
        {
            hello.Append("/join ").Append(room).Append('\n');
        }

        if (!string.IsNullOrEmpty(name))
        {
            hello.Append("/nick ").Append(name).Append('\n');
        }

        await client.SendRawAsync(hello.ToString(), cancellation);
        return client;
    }

    /// <summary>Sends one line; an LF inside it would start a second line, so it is cut there.</summary>
    public Task SendAsync(string line, CancellationToken cancellation)
    {
        int newline = line.IndexOfAny(['\r', '\n']);
        return SendRawAsync((newline < 0 ? line : line[..newline]) + "\n", cancellation);
    }

    /// <summary>Stops sending (half-close); the server still answers what was sent.</summary>
    public Task CompleteSendingAsync() => _connection.CompleteSendingAsync();

    /// <summary>Everything the server says, until it closes the connection.</summary>
    public async IAsyncEnumerable<ChatEvent> ReadEventsAsync([EnumeratorCancellation] CancellationToken cancellation)
    {
        var lines = new LineReader(MaxIncomingLineBytes);
        while (true)
        {
            var result = await _input.ReadAsync(cancellation);
            var buffer = result.Buffer;
            var events = new List<ChatEvent>();
            while (true)
            {
                var found = lines.TryRead(ref buffer, out var line);
                if (found == LineReadResult.NeedMoreData)
                {
                    break;
                }

                if (found == LineReadResult.Line)
                {
                    events.Add(Parse(line));
                }
            }

            _input.AdvanceTo(buffer.Start, buffer.End);
            foreach (var chatEvent in events)
            {
                yield return chatEvent;
            }

            if (result.IsCompleted)
            {
                yield break;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _input.CompleteAsync();
        await _connection.DisposeAsync();
        _sendGate.Dispose();
    }

    // A line that is not JSON (an older server, a proxy's banner) is still shown.
    private ChatEvent Parse(ReadOnlySequence<byte> line)
    {
        LinesReceived++;
        byte[]? copy = line.IsSingleSegment ? null : line.ToArray();
        var span = copy ?? line.FirstSpan;
        if (ChatEventParser.TryParse(span, out var chatEvent))
        {
            return chatEvent;
        }

        // Before /format json takes effect (a refused password, the greeting a new connection gets) the server
        // speaks the text format. Its "* " and "! " marks are taken off here, since the renderer puts them back.
        string text = TextSanitizer.Sanitize(span);
        if (text.Length == 0 || text[0] is not ('*' or '!' or '<' or '['))
        {
            ForeignLines++;
        }

        return text.StartsWith("! ", StringComparison.Ordinal)
            ? new ChatEvent(ChatEventType.Error, DateTimeOffset.UtcNow) { Text = text[2..] }
            : new ChatEvent(ChatEventType.Notice, DateTimeOffset.UtcNow) { Text = text.StartsWith("* ", StringComparison.Ordinal) ? text[2..] : text };
    }

    private async Task SendRawAsync(string text, CancellationToken cancellation)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        await _sendGate.WaitAsync(cancellation);
        try
        {
            await _connection.Stream.WriteAsync(bytes, cancellation);
        }
        finally
        {
            _sendGate.Release();
        }
    }
}
