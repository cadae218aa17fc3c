using Parley.Client;
using Parley.Protocol.Chat;

namespace Parley.Cli;

/// <summary>How a chat session began: under which name and in which room, or why it could not.</summary>
internal sealed record ChatStart(string Name, string Room)
{
    /// <summary>Lines that arrived while the session was being set up and are worth showing (others' messages, history).</summary>
    public List<ChatEvent> Shown { get; } = [];

    /// <summary>What the client itself should tell the user first (a taken name and the one chosen instead).</summary>
    public List<string> Notes { get; } = [];

    public (string Message, int ExitCode)? Failure { get; init; }

    public static ChatStart Failed(string message, int exitCode) => new(string.Empty, string.Empty) { Failure = (message, exitCode) };
}

/// <summary>
/// The start of a chat session, before anything the user types is sent. <see cref="ChatClient.ConnectAsync"/> has
/// sent the format, the room and the name; this sends <c>/ping parley-hello</c> and reads until its pong, which
/// the server sends after it has handled every line before it. So by then the server has accepted the name or said
/// why not, and a service that is not Parley chat (greet, echo, a raw chat room) is found out in seconds instead
/// of leaving the client waiting forever (issue 16, item 3).
/// </summary>
internal static class ChatHandshake
{
    private const string HelloToken = "parley-hello";
    private const int NameAttempts = 9;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    public static async Task<ChatStart> RunAsync(ChatClient client, IAsyncEnumerator<ChatEvent> events, string wanted, bool gavePassword, bool tls, bool offerAnotherName, CancellationTokenSource stop, CancellationToken cancellation)
    {
        var target = client.Server;
        string? named = null;
        string room = "lobby";
        string? refusal = null;
        bool taken = false;
        int attempt = 1;
        string asked = wanted;
        var shown = new List<ChatEvent>();
        var notes = new List<string>();
        await client.SendAsync($"/ping {HelloToken}", cancellation);
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            bool more;
            var moving = events.MoveNextAsync().AsTask();
            try
            {
                var left = deadline - DateTime.UtcNow;
                more = await moving.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, cancellation);
            }
            catch (TimeoutException)
            {
                // The read still pending must end before the reader can be disposed.
                await stop.CancelAsync();
                await moving.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
                return ChatStart.Failed(NotChat(target), ExitCodes.Usage);
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
            {
                more = false;
            }

            if (!more)
            {
                if (refusal is not null)
                {
                    return ChatStart.Failed(refusal, ExitCodes.Usage);
                }

                if (client.ForeignLines > 0)
                {
                    return ChatStart.Failed(NotChat(target), ExitCodes.Usage);
                }

                // A TLS server drops a client that speaks plain text to it without a word.
                return client.LinesReceived == 0 && !tls
                    ? ChatStart.Failed($"{target} closed the connection before the chat began (if it is a TLS service, add --tls)", ExitCodes.Usage)
                    : ChatStart.Failed($"connection to {target} lost", ExitCodes.Failure);
            }

            if (client.ForeignLines > 0)
            {
                return ChatStart.Failed(NotChat(target), ExitCodes.Usage);
            }

            var e = events.Current;
            switch (e.Type)
            {
                case ChatEventType.Pong when e.Text == HelloToken:
                case ChatEventType.Notice when e.Text == $"pong {HelloToken}":
                    if (named is not null)
                    {
                        var start = new ChatStart(named, room);
                        start.Shown.AddRange(shown);
                        start.Notes.AddRange(notes);
                        return start;
                    }

                    if (taken && offerAnotherName && attempt < NameAttempts)
                    {
                        // As irssi does with a taken nick: try another and say so; /nick changes it at any time.
                        attempt++;
                        string suffix = attempt.ToString(System.Globalization.CultureInfo.InvariantCulture);
                        asked = (wanted.Length + suffix.Length > ChatNames.MaxLength ? wanted[..(ChatNames.MaxLength - suffix.Length)] : wanted) + suffix;
                        notes.Add($"the name {wanted} is taken, so you are {asked} (/nick NAME chooses another)");
                        taken = false;
                        await client.SendAsync($"/nick {asked}", cancellation);
                        await client.SendAsync($"/ping {HelloToken}", cancellation);
                        deadline = DateTime.UtcNow + Patience;
                        continue;
                    }

                    // The server answered without taking the name: say why, in its words.
                    return ChatStart.Failed(refusal ?? (taken ? $"the name {asked} is taken" : $"{target} did not accept the name {asked}"), ExitCodes.Usage);
                case ChatEventType.Error:
                    if (e.Text.EndsWith(" is taken", StringComparison.Ordinal))
                    {
                        taken = true;
                        refusal = e.Text;
                    }
                    else if (e.Text.StartsWith("password required", StringComparison.Ordinal))
                    {
                        // The server's words tell an nc user to send /pass; a parley chat user gives it on the command line.
                        refusal = $"{target} needs a password: give --password PASSWORD or set {ChatCommand.PasswordVariable}";
                    }
                    else if (e.Text == "wrong password")
                    {
                        refusal = gavePassword ? "wrong password" : $"{target} needs a password: give --password PASSWORD or set {ChatCommand.PasswordVariable}";
                    }
                    else
                    {
                        refusal = e.Text;
                        shown.Add(e);
                    }

                    break;
                case ChatEventType.Join when string.Equals(e.From, asked, StringComparison.OrdinalIgnoreCase):
                    named = e.From;
                    room = e.Room;
                    break;
                case ChatEventType.Nick when string.Equals(e.To, asked, StringComparison.OrdinalIgnoreCase):
                    named = e.To;
                    room = e.Room.Length > 0 ? e.Room : room;
                    break;
                case ChatEventType.Join or ChatEventType.Leave or ChatEventType.Nick or ChatEventType.Notice or ChatEventType.Pong:
                    // The guest this connection was for a moment, and the server's greeting to it: not news to the
                    // user, who asked for a name and a room.
                    break;
                default:
                    shown.Add(e);
                    break;
            }
        }
    }

    private static string NotChat(HostPort target) => $"{target} does not speak Parley chat (is it the greet or echo service?)";
}
