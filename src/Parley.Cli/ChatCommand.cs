using System.CommandLine;
using System.Globalization;
using Parley.Client;
using Parley.Protocol.Chat;

namespace Parley.Cli;

/// <summary>
/// <c>parley chat HOST:PORT --name NAME</c>: the interactive chat client, or, with stdin piped, a scriptable one
/// that sends each line, prints what arrives, and exits once stdin has ended and the server has answered it all.
/// </summary>
internal static partial class ChatCommand
{
    /// <summary>The client's own password variable: PARLEY_PASSWORD is the server's, and a client must not pick it up.</summary>
    public const string PasswordVariable = "PARLEY_CHAT_PASSWORD";

    public static Command Create()
    {
        var server = new Argument<string[]>("HOST:PORT")
        {
            Description = "The chat server, e.g. 127.0.0.1:9999 or [::1]:9999; give several servers of one chat (serve --redis) to move to the next when one goes away",
            Arity = ArgumentArity.OneOrMore,
        };
        var name = new Option<string?>("--name", "-n") { Description = "Your name in the chat (default: your user name)", HelpName = "NAME" };
        var room = new Option<string?>("--room", "-r") { Description = "The room to enter (default: lobby)", HelpName = "ROOM" };
        var password = new Option<string?>("--password") { Description = $"The server's password, if it has one (or set {PasswordVariable}, which ps does not show)", HelpName = "PASSWORD" };
        var noReconnect = new Option<bool>("--no-reconnect") { Description = "Exit when the connection drops instead of reconnecting and catching up" };
        var command = new Command("chat", "Chat on a Parley server.") { server, name, room, password, noReconnect };
        var tls = new TlsArguments();
        tls.AddTo(command);
        command.SetAction((parse, cancellation) => Cli.RunAsync(token =>
        {
            // Several addresses are allowed, so an unknown option would be taken for one: say what it is instead.
            var targets = parse.GetValue(server)!
                .Select(text => text.StartsWith('-') ? throw new UsageException($"unknown option '{text}' (see 'parley chat --help')") : Cli.ParseTarget(text))
                .ToArray();
            var target = targets[0];
            string chosen = parse.GetValue(name) ?? DefaultName();
            if (!ChatNames.TryNormalize(chosen, out string nick, out string problem))
            {
                throw new UsageException($"--name: {problem}");
            }

            string? roomName = parse.GetValue(room);
            if (roomName is not null && !ChatNames.TryNormalize(roomName.TrimStart('#'), out _, out string roomProblem))
            {
                throw new UsageException($"--room: {roomProblem.Replace("a name", "a room name", StringComparison.Ordinal)}");
            }

            string? secret = parse.GetValue(password) ?? Environment.GetEnvironmentVariable(PasswordVariable);
            // A node that died holds its members' names until its lease runs out (docs/cluster.md): across nodes the
            // client asks for its name back for longer than that before it settles for one with a digit.
            var reconnect = targets.Length > 1
                ? new ChatReconnectOptions { Enabled = !parse.GetValue(noReconnect), OtherServers = targets[1..], NameWait = TimeSpan.FromSeconds(12) }
                : parse.GetValue(noReconnect) ? ChatReconnectOptions.Disabled : new ChatReconnectOptions();
            return RunAsync(target, nick, roomName, secret, tls.Read(parse), reconnect, token);
        }, cancellation));
        return command;
    }

    private static async Task<int> RunAsync(HostPort target, string name, string? room, string? password, ClientTlsOptions? tls, ChatReconnectOptions reconnect, CancellationToken cancellation)
    {
        bool interactive = !Console.IsInputRedirected && !Console.IsOutputRedirected;
        await using var client = await ChatClient.ConnectAsync(target, name, room, cancellation, password, tls, reconnect);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        await using var events = client.ReadEventsAsync(stop.Token).GetAsyncEnumerator(stop.Token);
        var start = await ChatHandshake.RunAsync(client, events, name, password is not null, tls is not null, offerAnotherName: interactive, stop, cancellation);
        if (start.Failure is { } failure)
        {
            return Cli.Fail(failure.Message, failure.ExitCode);
        }

        bool color = interactive && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        var session = new ChatSession(client, start, new ChatRenderer(color, timestamps: interactive));
        return interactive
            ? await session.RunInteractiveAsync(events, stop)
            : await session.RunScriptedAsync(events, stop);
    }

    private static string DefaultName()
    {
        string user = Environment.UserName;
        return ChatNames.TryNormalize(user, out string name, out _) ? name : "guest";
    }

    private sealed partial class ChatSession(ChatClient client, ChatStart start, ChatRenderer renderer)
    {
        // Sent when stdin ends: the server answers it after everything sent before, so its pong means "all answered".
        private const string DrainToken = "parley-stdin-drained";
        private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);
        private static readonly TimeSpan GoodbyeTimeout = TimeSpan.FromSeconds(2);

        private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private string _name = start.Name;
        private volatile bool _leaving;
        // Why the server is about to close, when it said so: shutting down, or a kick.
        private volatile string? _closing;
        private Action? _beforeLastWords;
        private volatile bool _drainSent;

        public async Task<int> RunScriptedAsync(IAsyncEnumerator<ChatEvent> events, CancellationTokenSource stop)
        {
            using var signals = Cli.OnTerminationSignals(stop.Cancel);
            foreach (var early in start.Shown)
            {
                Console.Out.WriteLine(renderer.Render(early));
            }

            // Piped, stdout is the server's text format for scripts: the client's own status goes to stderr.
            client.ConnectionChanged += status => ShowStatus(status, line => Console.Error.WriteLine($"parley: {line}"), null);
            var receiving = ReceiveAsync(events, Console.Out.WriteLine);
            var input = Console.In;
            while (true)
            {
                // Console.In reads synchronously even through ReadLineAsync, and cannot be cancelled: read on the
                // thread pool and race it, so that if the server goes away the client says so and exits now.
                var reading = Task.Run(input.ReadLine, CancellationToken.None);
                if (await Task.WhenAny(reading, receiving) == receiving)
                {
                    return await receiving;
                }

                if (await reading is not { } line)
                {
                    break;
                }

                if (IsFormat(line))
                {
                    Console.Out.WriteLine(renderer.RenderLocal(FormatRefusal));
                    continue;
                }

                if (IsQuit(line))
                {
                    // Leaving is marked before the quit goes out: the server may close before SendAsync returns.
                    _leaving = true;
                    await client.SendAsync(line, stop.Token);
                    return await receiving;
                }

                await client.SendAsync(line, stop.Token);
            }

            _drainSent = true;
            await client.SendAsync($"/ping {DrainToken}", stop.Token);
            try
            {
                await Task.WhenAny(_drained.Task, receiving).WaitAsync(DrainTimeout, stop.Token);
            }
            catch (TimeoutException)
            {
                // Input has ended and the server is not back to answer it: a script must not wait forever.
                return Cli.Fail($"connection to {client.Server} lost", ExitCodes.Failure);
            }

            _leaving = true;
            await client.SendAsync("/quit", stop.Token);
            return await receiving;
        }

        private async Task<int> ReceiveAsync(IAsyncEnumerator<ChatEvent> events, Action<string> show, Action<ChatEvent>? seen = null)
        {
            bool inHistory = false;
            try
            {
                while (await events.MoveNextAsync())
                {
                    var chatEvent = events.Current;
                    if (chatEvent.Type == ChatEventType.Pong && chatEvent.Text == DrainToken)
                    {
                        _drained.TrySetResult();
                        continue;
                    }

                    if (chatEvent.Type == ChatEventType.Nick && chatEvent.From == _name && chatEvent.To is not null)
                    {
                        _name = chatEvent.To;
                    }

                    _closing = chatEvent switch
                    {
                        { Type: ChatEventType.Notice, Text: "server shutting down" } => $"{client.Server} shut down",
                        { Type: ChatEventType.Error } when chatEvent.Text.StartsWith("disconnected: ", StringComparison.Ordinal) =>
                            $"disconnected by {client.Server}: {chatEvent.Text["disconnected: ".Length..]}",
                        _ => _closing,
                    };
                    seen?.Invoke(chatEvent);
                    if (renderer.UsesTimestamps && inHistory && !chatEvent.History)
                    {
                        show(renderer.RenderHistoryEnd());
                    }

                    inHistory = chatEvent.History;
                    show(renderer.Render(chatEvent));
                }
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
            {
                // A reset is the same news as a close for the user: the server is gone.
            }
            catch (OperationCanceledException)
            {
                return ExitCodes.Ok;
            }

            if (_leaving)
            {
                return ExitCodes.Ok;
            }

            // The input line goes first, so the last words are not written into it.
            _beforeLastWords?.Invoke();
            return Cli.Fail(_closing ?? $"connection to {client.Server} lost", ExitCodes.Failure);
        }

        // A status line while the client waits to reconnect, and one when it is back (the lines it missed follow).
        private void ShowStatus(ChatConnectionStatus status, Action<string> show, Action<string?>? prompt)
        {
            switch (status.State)
            {
                case ChatConnectionState.Reconnecting:
                    if (status.Attempt == 1)
                    {
                        _closing = null;
                        show(status.ServerShutDown
                            ? $"{client.Server} shut down; reconnecting ({(prompt is null ? "--no-reconnect exits instead" : "Ctrl-C leaves")})"
                            : $"connection to {client.Server} lost; reconnecting ({(prompt is null ? "--no-reconnect exits instead" : "Ctrl-C leaves")})");
                    }

                    prompt?.Invoke(string.Create(CultureInfo.InvariantCulture, $"reconnecting, attempt {status.Attempt} in {status.Delay.TotalSeconds:0.0} s"));
                    break;
                case ChatConnectionState.Resumed:
                    _closing = null;
                    _name = status.Name ?? _name;
                    string missed = status.Missed switch
                    {
                        0 => "nothing missed",
                        1 => "1 line missed",
                        _ => string.Create(CultureInfo.InvariantCulture, $"{status.Missed} lines missed"),
                    };
                    string renamed = status.NameTaken ? " (the old name was still taken; /nick NAME changes it)" : string.Empty;
                    show($"reconnected to {client.Server} as {status.Name ?? "a guest"} in #{status.Room}, {missed}{renamed}");
                    prompt?.Invoke(null);
                    if (_drainSent && !_drained.Task.IsCompleted)
                    {
                        // The ping that says "all answered" may have gone down with the old connection.
                        _ = client.SendAsync($"/ping {DrainToken}", CancellationToken.None);
                    }

                    break;
                default:
                    throw new InvalidOperationException($"unknown connection state {status.State}");
            }
        }

        private const string FormatRefusal = "parley chat reads the server's JSON itself and shows it as text; /format is for nc and other line clients";

        private static bool IsFormat(string line) => line == "/format" || line.StartsWith("/format ", StringComparison.Ordinal);

        private static bool IsQuit(string line) =>
            line == "exit" || line == "/quit" || line.StartsWith("/quit ", StringComparison.Ordinal);
    }
}
