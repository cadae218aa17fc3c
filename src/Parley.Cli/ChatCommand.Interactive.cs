using System.Globalization;
using System.Text;
using Parley.Protocol.Chat;

namespace Parley.Cli;

/// <summary>What the interactive client adds to the server's commands.</summary>
internal static class ChatKeys
{
    /// <summary>The client's own help, shown before the server's list of commands.</summary>
    public static readonly string[] Help =
    [
        "keys: Tab completes names, rooms and commands; Up/Down recall what you sent",
        "keys: Left/Right, Ctrl-Left/Right by word, Home/End or Ctrl-A/E; Ctrl-W, Ctrl-U, Ctrl-K delete; Ctrl-L redraws",
        "leaving: /quit [reason], /exit, Ctrl-D on an empty line or Ctrl-C",
    ];

    /// <summary>The commands Tab completes: the server's, and the client's own /exit.</summary>
    public static readonly string[] Commands =
        ["/nick", "/join", "/who", "/rooms", "/msg", "/me", "/help", "/ping", "/quit", "/exit", "/oper", "/kick", "/ban"];
}

/// <summary>The interactive side of <c>parley chat</c>: the line editor, what the client says itself, and leaving.</summary>
internal static partial class ChatCommand
{
    private sealed partial class ChatSession
    {
        // The server's default --max-line: a longer line would be refused after it was shown as sent (issue 16, item 7).
        // A server that says its limit ("line too long (max N bytes)") sets it instead.
        private int _maxLineBytes = 4096;
        private readonly HashSet<string> _members = new(StringComparer.OrdinalIgnoreCase);
        private readonly HashSet<string> _rooms = new(StringComparer.OrdinalIgnoreCase) { "lobby" };
        private readonly Lock _known = new();
        private string _room = start.Room;
        // Lines from others since the user last pressed a key, and how many of those were for them (a private
        // message, or their name in the text): the terminal's title shows them, as irssi's activity list does.
        private int _unread;
        private int _unreadForYou;

        public async Task<int> RunInteractiveAsync(IAsyncEnumerator<ChatEvent> events, CancellationTokenSource stop)
        {
            using var editor = new LineEditor(Prompt(), Candidates);
            Console.TreatControlCAsInput = true;
            var leave = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            using var signals = Cli.OnTerminationSignals(() => leave.TrySetResult("/quit"));
            lock (_known)
            {
                _rooms.Add(_room);
            }

            editor.WriteAbove(renderer.RenderLocal($"connected to {client.Server} as {_name} in #{_room}; /help lists the commands, /quit or Ctrl-D leaves"));
            foreach (string note in start.Notes)
            {
                editor.WriteAbove(renderer.RenderLocal(note));
            }

            foreach (var early in start.Shown)
            {
                editor.WriteAbove(renderer.Render(early));
            }

            _beforeLastWords = editor.Close;
            editor.SetTitle(Title());
            editor.KeyRead += () => SeenActivity(editor);
            client.ConnectionChanged += status => ShowStatus(status, line => editor.WriteAbove(renderer.RenderLocal(line)), state => editor.SetPrompt(Prompt(state)));
            var receiving = ReceiveAsync(events, editor.WriteAbove, e => Track(e, editor));
            // The members of the room, as irssi lists them on joining; it also fills Tab completion.
            await client.SendAsync("/who", stop.Token);
            // Console.ReadKey blocks, so the keyboard gets a thread of its own; the network side stays async.
            _ = Task.Factory.StartNew(() => TypeLoopAsync(editor, leave, stop.Token), stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
            if (await Task.WhenAny(receiving, leave.Task) == leave.Task)
            {
                // Marked before the quit goes out, so that the server closing first is not taken for a lost connection.
                _leaving = true;
                try
                {
                    await client.SendAsync(await leave.Task, stop.Token).WaitAsync(GoodbyeTimeout, stop.Token);
                    await Task.WhenAny(receiving, Task.Delay(GoodbyeTimeout, CancellationToken.None));
                }
                catch (Exception ex) when (ex is IOException or TimeoutException or System.Net.Sockets.SocketException or OperationCanceledException)
                {
                    // The connection is already gone: leaving is done either way.
                }

                editor.Close();
                return ExitCodes.Ok;
            }

            editor.Close();
            return await receiving;
        }

        private async Task TypeLoopAsync(LineEditor editor, TaskCompletionSource<string> leave, CancellationToken cancellation)
        {
            try
            {
                while (!cancellation.IsCancellationRequested && !leave.Task.IsCompleted)
                {
                    string? line = editor.ReadLine();
                    if (line is null)
                    {
                        leave.TrySetResult("/quit");
                        return;
                    }

                    if (line == "/exit" || line == "/quit" || line.StartsWith("/quit ", StringComparison.Ordinal))
                    {
                        leave.TrySetResult(line == "/exit" ? "/quit" : line);
                        return;
                    }

                    await SendTypedAsync(line, editor, cancellation);
                }
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or InvalidOperationException)
            {
                // The connection went (the receiver says so) or the terminal did: leave quietly.
                leave.TrySetResult("/quit");
            }
        }

        private async Task SendTypedAsync(string line, LineEditor editor, CancellationToken cancellation)
        {
            if (line.Trim().Length == 0)
            {
                return;
            }

            int bytes = Encoding.UTF8.GetByteCount(line);
            if (bytes > _maxLineBytes)
            {
                editor.WriteAbove(renderer.RenderLocal(
                    $"not sent: the line is {bytes.ToString("N0", CultureInfo.InvariantCulture)} bytes and the server takes at most {_maxLineBytes.ToString("N0", CultureInfo.InvariantCulture)}; it is still in the input line to shorten",
                    error: true));
                editor.Preload(line);
                return;
            }

            if (IsFormat(line))
            {
                editor.WriteAbove(renderer.RenderLocal(FormatRefusal));
                return;
            }

            if (!client.IsConnected)
            {
                // Waiting here would hold the keyboard (and Ctrl-C) until the server is back.
                editor.WriteAbove(renderer.RenderLocal("not sent: reconnecting; the line is still in the input line to send once back", error: true));
                editor.Preload(line);
                return;
            }

            if (line == "/help" || line.StartsWith("/help ", StringComparison.Ordinal))
            {
                foreach (string help in ChatKeys.Help)
                {
                    editor.WriteAbove(renderer.RenderLocal(help));
                }
            }

            // The tutorials' word for leaving is a quit to the server only when it is the whole line; typed here it
            // is a message like any other, so it goes out through /say, which the server never reads as the quit word.
            await client.SendAsync(line == "exit" ? "/say exit" : line, cancellation);
            if (!line.StartsWith('/') || line.StartsWith("//", StringComparison.Ordinal))
            {
                editor.WriteAbove(renderer.RenderOwn(_name, line.StartsWith("//", StringComparison.Ordinal) ? line[1..] : line));
            }
            else if (ChatInput.Parse(line) is { Kind: ChatInputKind.Action, Text.Length: > 0 } action)
            {
                editor.WriteAbove(renderer.RenderOwnAction(_name, action.Text));
            }
            else if (ChatInput.Parse(line) is { Kind: ChatInputKind.Private, Argument.Length: > 0, Text.Length: > 0 } message)
            {
                editor.WriteAbove(renderer.RenderSentPrivate(message.Argument, message.Text));
            }
        }

        // What the session learns from the server: the room it is in (for the prompt), who is around and which
        // rooms exist (for Tab), and the server's line limit.
        private void Track(ChatEvent e, LineEditor editor)
        {
            bool roomChanged = false;
            lock (_known)
            {
                switch (e.Type)
                {
                    case ChatEventType.Join when e.From == _name:
                        roomChanged = _room != e.Room;
                        _room = e.Room;
                        _rooms.Add(e.Room);
                        _members.Clear();
                        break;
                    case ChatEventType.Join:
                        _members.Add(e.From);
                        _rooms.Add(e.Room);
                        break;
                    case ChatEventType.Leave when e.From != _name:
                        _members.Remove(e.From);
                        break;
                    case ChatEventType.Nick when e.To is not null:
                        _members.Remove(e.From);
                        _members.Add(e.To);
                        break;
                    case ChatEventType.Message or ChatEventType.Action or ChatEventType.Private when !e.History:
                        _members.Add(e.From);
                        break;
                    case ChatEventType.Who when e.Members is not null:
                        roomChanged = _room != e.Room && e.Room.Length > 0;
                        _room = e.Room.Length > 0 ? e.Room : _room;
                        _members.Clear();
                        _members.UnionWith(e.Members);
                        break;
                    case ChatEventType.Rooms when e.Rooms is not null:
                        _rooms.UnionWith(e.Rooms.Select(r => r.Room));
                        break;
                    case ChatEventType.Error when e.Text.StartsWith("line too long (max ", StringComparison.Ordinal):
                        string digits = new([.. e.Text["line too long (max ".Length..].TakeWhile(char.IsAsciiDigit)]);
                        if (int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int limit) && limit > 0)
                        {
                            _maxLineBytes = limit;
                        }

                        break;
                }
            }

            if (roomChanged)
            {
                editor.SetPrompt(Prompt());
            }

            if (e.Type is ChatEventType.Message or ChatEventType.Action or ChatEventType.Private && !e.History && e.From != _name)
            {
                bool forYou = e.Type == ChatEventType.Private || Mentions(e.Text, _name);
                lock (_known)
                {
                    _unread++;
                    _unreadForYou += forYou ? 1 : 0;
                }

                editor.SetTitle(Title());
                if (forYou)
                {
                    editor.Bell();
                }
            }
            else if (roomChanged)
            {
                editor.SetTitle(Title());
            }

            if (e.Type == ChatEventType.Join && e.From == _name && roomChanged)
            {
                // A new room: its members, for the user and for Tab.
                _ = client.SendAsync("/who", CancellationToken.None);
            }
        }

        private void SeenActivity(LineEditor editor)
        {
            lock (_known)
            {
                if (_unread == 0)
                {
                    return;
                }

                _unread = 0;
                _unreadForYou = 0;
            }

            editor.SetTitle(Title());
        }

        private string Title()
        {
            lock (_known)
            {
                return _unread == 0 ? $"parley #{_room}"
                    : _unreadForYou == 0 ? $"parley #{_room} ({_unread} new)"
                    : $"parley #{_room} ({_unread} new, {_unreadForYou} for you)";
            }
        }

        // The name as a word of its own, in any case: "bob" names bob in "bob: hi" and "hi Bob!", not in "bobcat".
        internal static bool Mentions(string text, string name)
        {
            for (int at = text.IndexOf(name, StringComparison.OrdinalIgnoreCase); at >= 0; at = text.IndexOf(name, at + 1, StringComparison.OrdinalIgnoreCase))
            {
                int end = at + name.Length;
                if ((at == 0 || !IsWordPart(text[at - 1])) && (end == text.Length || !IsWordPart(text[end])))
                {
                    return true;
                }
            }

            return false;

            static bool IsWordPart(char c) => char.IsLetterOrDigit(c) || c is '_' or '-';
        }

        private string Prompt(string? state = null)
        {
            lock (_known)
            {
                return state is null ? $"[#{_room}] " : $"[#{_room}: {state}] ";
            }
        }

        // Tab: commands at the start of a line, rooms after /join or a '#', names everywhere else.
        private IReadOnlyList<string> Candidates(string text, int wordStart)
        {
            string before = text[..wordStart].TrimEnd();
            string word = text[wordStart..];
            lock (_known)
            {
                if (wordStart == 0 && word.StartsWith('/'))
                {
                    return ChatKeys.Commands;
                }

                if (word.StartsWith('#'))
                {
                    return [.. _rooms.Select(r => "#" + r)];
                }

                if (before == "/join")
                {
                    return [.. _rooms];
                }

                return [.. _members.Where(m => m != _name)];
            }
        }
    }
}
