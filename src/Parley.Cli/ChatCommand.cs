using System.CommandLine;
using Parley.Client;
using Parley.Protocol.Chat;

namespace Parley.Cli;

/// <summary>
/// <c>parley chat HOST:PORT --name NAME</c>: the interactive chat client, or, with stdin piped, a scriptable one
/// that sends each line, prints what arrives, and exits once stdin has ended and the server has answered it all.
/// </summary>
internal static class ChatCommand
{
    // Sent when stdin ends: the server answers it after everything sent before, so its pong means "all answered".
    private const string DrainToken = "parley-stdin-drained";
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    public static Command Create()
    {
        var server = new Argument<string>("HOST:PORT") { Description = "The chat server, e.g. 127.0.0.1:9999" };
        var name = new Option<string?>("--name", "-n") { Description = "Your name in the chat (default: your user name)", HelpName = "NAME" };
        var room = new Option<string?>("--room", "-r") { Description = "The room to enter (default: lobby)", HelpName = "ROOM" };
        var password = new Option<string?>("--password") { Description = "The server's password, if it has one (or set PARLEY_PASSWORD)", HelpName = "PASSWORD" };
        var command = new Command("chat", "Chat on a Parley server.") { server, name, room, password };
        var tls = new TlsArguments();
        tls.AddTo(command);
        command.SetAction((parse, cancellation) => Cli.RunAsync(token =>
        {
            var target = Cli.ParseTarget(parse.GetValue(server)!);
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

            string? secret = parse.GetValue(password) ?? Environment.GetEnvironmentVariable("PARLEY_PASSWORD");
            return RunAsync(target, nick, roomName, secret, tls.Read(parse), token);
        }, cancellation));
        return command;
    }

    private static async Task<int> RunAsync(HostPort target, string name, string? room, string? password, ClientTlsOptions? tls, CancellationToken cancellation)
    {
        await using var client = await ChatClient.ConnectAsync(target, name, room, cancellation, password, tls);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        await using var events = client.ReadEventsAsync(stop.Token).GetAsyncEnumerator(stop.Token);

        // The server answers /nick before anything else: either we joined under our name, or it says why not.
        while (true)
        {
            if (!await events.MoveNextAsync())
            {
                return Cli.Fail($"connection to {target} lost", ExitCodes.Failure);
            }

            var first = events.Current;
            if (first.Type == ChatEventType.Error)
            {
                return Cli.Fail(first.Text, ExitCodes.Usage);
            }

            // When our first lines arrive late (a slow link, the user reading a certificate prompt), the server has
            // already seated us as a guest, and /nick renames us instead.
            if ((first.Type == ChatEventType.Join && first.From == name) || (first.Type == ChatEventType.Nick && first.To == name))
            {
                break;
            }
        }

        bool interactive = !Console.IsInputRedirected && !Console.IsOutputRedirected;
        bool color = interactive && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        var session = new ChatSession(client, name, new ChatRenderer(color), target);
        return interactive
            ? await session.RunInteractiveAsync(events, stop)
            : await session.RunScriptedAsync(events, stop);
    }

    private static string DefaultName()
    {
        string user = Environment.UserName;
        return ChatNames.TryNormalize(user, out string name, out _) ? name : "guest";
    }

    private sealed class ChatSession(ChatClient client, string name, ChatRenderer renderer, HostPort target)
    {
        private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private string _name = name;
        private bool _leaving;

        public async Task<int> RunScriptedAsync(IAsyncEnumerator<ChatEvent> events, CancellationTokenSource stop)
        {
            using var signals = Cli.OnTerminationSignals(stop.Cancel);
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

                await client.SendAsync(line, stop.Token);
                if (IsQuit(line))
                {
                    _leaving = true;
                    return await receiving;
                }
            }

            await client.SendAsync($"/ping {DrainToken}", stop.Token);
            await Task.WhenAny(_drained.Task, receiving).WaitAsync(DrainTimeout, stop.Token);
            _leaving = true;
            await client.SendAsync("/quit", stop.Token);
            return await receiving;
        }

        public async Task<int> RunInteractiveAsync(IAsyncEnumerator<ChatEvent> events, CancellationTokenSource stop)
        {
            var editor = new LineEditor("> ");
            Console.TreatControlCAsInput = true;
            using var signals = Cli.OnTerminationSignals(stop.Cancel);
            editor.WriteAbove(renderer.Render(new ChatEvent(ChatEventType.Notice, DateTimeOffset.UtcNow)
            {
                Text = $"connected to {target} as {_name}; /help lists the commands, /quit or Ctrl-D leaves",
            }));
            var receiving = ReceiveAsync(events, editor.WriteAbove);
            // Console.ReadKey blocks, so the keyboard gets a thread of its own; the network side stays async.
            var typing = Task.Factory.StartNew(() => TypeLoop(editor, stop.Token), stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
            var first = await Task.WhenAny(receiving, typing);
            if (first == typing)
            {
                _leaving = true;
                await typing;
                await Task.WhenAny(receiving, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None));
                Console.Out.WriteLine();
                return ExitCodes.Ok;
            }

            Console.Out.WriteLine();
            return await receiving;
        }

        private async Task TypeLoop(LineEditor editor, CancellationToken cancellation)
        {
            while (!cancellation.IsCancellationRequested)
            {
                string? line = editor.ReadLine();
                if (line is null || IsQuit(line))
                {
                    await client.SendAsync(line ?? "/quit", cancellation);
                    return;
                }

                if (line.Length == 0)
                {
                    continue;
                }

                await client.SendAsync(line, cancellation);
                if (!line.StartsWith('/') || line.StartsWith("//", StringComparison.Ordinal))
                {
                    editor.WriteAbove(renderer.RenderOwn(_name, line.StartsWith("//", StringComparison.Ordinal) ? line[1..] : line));
                }
                else if (line.StartsWith("/me ", StringComparison.Ordinal))
                {
                    editor.WriteAbove($"* {_name} {line[4..]}");
                }
            }
        }

        private async Task<int> ReceiveAsync(IAsyncEnumerator<ChatEvent> events, Action<string> show)
        {
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

            Console.Error.WriteLine();
            return Cli.Fail($"connection to {target} lost", ExitCodes.Failure);
        }

        private static bool IsQuit(string line) =>
            line == "exit" || line == "/quit" || line.StartsWith("/quit ", StringComparison.Ordinal);
    }
}
