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
/// <see cref="ChatEvent"/>s. The console client, the tests and the benchmark all use it. Unless reconnecting is
/// disabled, a connection that drops (or a server that restarts) is replaced by itself: the client takes its name
/// and room back and asks for the room's lines after the last id it saw, so the event stream goes on with every
/// room line once, in order (ChatClient.Resume.cs).
/// </summary>
public sealed partial class ChatClient : IAsyncDisposable
{
    // Generous: the server caps its own lines, but a /who of a big room is one long JSON line.
    private const int MaxIncomingLineBytes = 1024 * 1024;

    private readonly SemaphoreSlim _sendGate = new(1, 1);
    private readonly string? _password;
    private readonly ClientTlsOptions? _tls;
    private readonly ChatReconnectOptions _reconnect;
    private volatile Link _link;

    private ChatClient(Link link, HostPort server, string? password, ClientTlsOptions? tls, ChatReconnectOptions reconnect)
    {
        _link = link;
        Server = server;
        _password = password;
        _tls = tls;
        _reconnect = reconnect;
    }

    /// <summary>The server the client is connected to now: the first that answered, later the one it resumed on.</summary>
    public HostPort Server { get; private set; }

    private static async Task<(Link Link, HostPort Server)> OpenAnyAsync(IReadOnlyList<HostPort> servers, ClientTlsOptions? tls, CancellationToken cancellation)
    {
        for (int i = 0; ; i++)
        {
            try
            {
                return (await Link.OpenAsync(servers[i], tls, cancellation), servers[i]);
            }
            catch (ConnectException) when (i < servers.Count - 1)
            {
                // Try the next one; the last one's failure is the one reported.
            }
        }
    }

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
    public static async Task<ChatClient> ConnectAsync(HostPort server, string? name, string? room, CancellationToken cancellation, string? password = null, ClientTlsOptions? tls = null, ChatReconnectOptions? reconnect = null)
    {
        reconnect ??= new ChatReconnectOptions();
        Link link;
        try
        {
            link = await Link.OpenAsync(server, tls, cancellation);
        }
        catch (ConnectException) when (reconnect.OtherServers.Count > 0)
        {
            // One node of a cluster being down is no reason not to start: the first of the others that answers will do.
            (link, server) = await OpenAnyAsync(reconnect.OtherServers, tls, cancellation);
        }

        var client = new ChatClient(link, server, password, tls, reconnect);
        client._room = string.IsNullOrEmpty(room) ? Lobby : room.TrimStart('#');
        client._asked = string.IsNullOrEmpty(name) ? null : name;
        var hello = client.Hello(room, name);
        if (reconnect.Enabled)
        {
            AppendAnchor(hello);
        }

        await client.SendRawAsync(client._link, hello.ToString(), cancellation);
        return client;
    }

    /// <summary>
    /// Sends one line; an LF inside it would start a second line, so it is cut there. While the client is
    /// reconnecting, the line waits until it is back (a quit does not: leaving needs no connection).
    /// </summary>
    public async Task SendAsync(string line, CancellationToken cancellation)
    {
        int newline = line.IndexOfAny(['\r', '\n']);
        string text = newline < 0 ? line : line[..newline];
        var input = ChatInput.Parse(text);
        switch (input.Kind)
        {
            case ChatInputKind.Quit:
                Leave();
                if (!IsConnected)
                {
                    return;
                }

                break;
            case ChatInputKind.Nick when input.Argument.Length > 0:
                _asked = input.Argument;
                break;
        }

        var link = await WaitConnectedAsync(cancellation);
        await SendRawAsync(link, text + "\n", cancellation);
    }

    /// <summary>Stops sending (half-close); the server still answers what was sent. The client will not reconnect.</summary>
    public Task CompleteSendingAsync()
    {
        Leave();
        return _link.Connection.CompleteSendingAsync();
    }

    /// <summary>Everything the server says, until the connection ends for good (or, with reconnecting off, at all).</summary>
    public async IAsyncEnumerable<ChatEvent> ReadEventsAsync([EnumeratorCancellation] CancellationToken cancellation)
    {
        while (true)
        {
            ChatEvent? next;
            try
            {
                next = await _link.ReadAsync(this, cancellation);
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException && ShouldResume())
            {
                // A reset is the same news as a close: the link is gone, and it is replaced below.
                next = null;
            }

            if (next is not null)
            {
                if (Accept(next))
                {
                    yield return next;
                }

                continue;
            }

            if (!ShouldResume())
            {
                yield break;
            }

            var (caughtUp, ended) = await ResumeAsync(cancellation);
            foreach (var chatEvent in caughtUp)
            {
                yield return chatEvent;
            }

            if (ended)
            {
                yield break;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Leave();
        await _link.DisposeAsync();
        _sendGate.Dispose();
        _stopResuming.Dispose();
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

    private StringBuilder Hello(string? room, string? name)
    {
        var hello = new StringBuilder();
        if (!string.IsNullOrEmpty(_password))
        {
            hello.Append("/pass ").Append(_password).Append('\n');
        }

        hello.Append("/format json\n");
        if (!string.IsNullOrEmpty(room) && !string.Equals(room.TrimStart('#'), Lobby, StringComparison.OrdinalIgnoreCase))
        {
            hello.Append("/join ").Append(room).Append('\n');
        }

        if (!string.IsNullOrEmpty(name))
        {
            hello.Append("/nick ").Append(name).Append('\n');
        }

        return hello;
    }

    private async Task SendRawAsync(Link link, string text, CancellationToken cancellation)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        await _sendGate.WaitAsync(cancellation);
        try
        {
            await link.Connection.Stream.WriteAsync(bytes, cancellation);
        }
        finally
        {
            _sendGate.Release();
        }
    }

    /// <summary>One TCP (or TLS) connection and the lines read from it so far.</summary>
    private sealed class Link : IAsyncDisposable
    {
        private readonly PipeReader _input;
        private readonly LineReader _lines = new(MaxIncomingLineBytes);
        private readonly Queue<ChatEvent> _parsed = new();
        private bool _completed;

        private Link(ClientConnection connection)
        {
            Connection = connection;
            _input = PipeReader.Create(connection.Stream);
        }

        public ClientConnection Connection { get; }

        public static async Task<Link> OpenAsync(HostPort server, ClientTlsOptions? tls, CancellationToken cancellation) =>
            new(await ClientConnection.OpenAsync(server, tls, cancellation));

        /// <summary>The next event, or null once the server has closed the connection.</summary>
        public async ValueTask<ChatEvent?> ReadAsync(ChatClient client, CancellationToken cancellation)
        {
            while (_parsed.Count == 0)
            {
                if (_completed)
                {
                    return null;
                }

                var result = await _input.ReadAsync(cancellation);
                var buffer = result.Buffer;
                while (true)
                {
                    var found = _lines.TryRead(ref buffer, out var line);
                    if (found == LineReadResult.NeedMoreData)
                    {
                        break;
                    }

                    if (found == LineReadResult.Line)
                    {
                        _parsed.Enqueue(client.Parse(line));
                    }
                }

                _input.AdvanceTo(buffer.Start, buffer.End);
                _completed = result.IsCompleted;
            }

            return _parsed.Dequeue();
        }

        public async ValueTask DisposeAsync()
        {
            await _input.CompleteAsync();
            await Connection.DisposeAsync();
        }
    }
}
