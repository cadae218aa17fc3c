using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Parley.Protocol.Chat;
using Parley.Protocol.Formats;
using Parley.Protocol.Framing;
using Parley.Server.Chat;
using Parley.Server.Hosting;
using Parley.Server.Line;
using Parley.Server.Logging;

namespace Parley.Server.Irc;

/// <summary>
/// The IRC client protocol on one connection: registration (CAP, PASS, NICK, USER), then each command is handed to
/// the <see cref="ChatSession"/> and what comes back worded as IRC lines and numerics. Chat rules (names, rooms,
/// operators, limits) are the session's and the hub's; this only translates.
/// </summary>
internal sealed partial class IrcSink(ChatSession session, ServerOptions options, ILogger logger) : MemberSink(session.Member)
{
    // The name the server gives itself (--irc-server-name): numerics, its own lines, every user's host.
    private string Server => options.IrcServerName;

    // The capabilities offered (CAP LS). Each changes how lines are written to this member, never what the room sees.
    private static readonly string[] Capabilities =
        ["batch", "cap-notify", "draft/chathistory", "echo-message", "message-tags", "multi-prefix", "server-time", "userhost-in-names"];

    private static readonly DateTimeOffset Started = DateTimeOffset.UtcNow;

    private readonly HashSet<string> _caps = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _password;
    private bool _negotiating;
    private bool _nickGiven;
    private bool _userGiven;
    private bool _registered;
    private int _batches;

    // Read by the ping loop, written by the reader: whether anything came in since the last tick.
    private volatile bool _heard;

    /// <summary>The name numerics are addressed to: <c>*</c> until the client has one.</summary>
    private string Target => _nickGiven ? Member.Name : "*";

    private bool Has(string cap) => _caps.Contains(cap);

    public override ValueTask StartAsync()
    {
        if (options.IrcPingInterval > TimeSpan.Zero)
        {
            _ = PingAsync(options.IrcPingInterval);
        }

        return ValueTask.CompletedTask;
    }

    public override async ValueTask EndAsync(string reason)
    {
        _ended.TrySetResult();
        await session.EndAsync(reason);
    }

    public override ValueTask<bool> OnLineTooLongAsync()
    {
        _heard = true;
        ConnectionLog.LineTooLong(logger, Member.Remote, IrcMessage.MaxLineBytes);
        Numeric("417", "Input line was too long");
        return ValueTask.FromResult(true);
    }

    public override async ValueTask OnBatchEndAsync() => await SayPendingAsync();

    public override async ValueTask<bool> OnMessageAsync(ReadOnlySequence<byte> line)
    {
        _heard = true;
        byte[]? copy = line.IsSingleSegment ? null : line.ToArray();
        var parsed = IrcMessage.TryParse(copy ?? line.FirstSpan, out var message);
        if (parsed == IrcParseResult.TooLong)
        {
            Numeric("417", "Input line was too long");
            return true;
        }

        if (message is null)
        {
            return true;
        }

        // UTF8ONLY: text that is not UTF-8 is refused, not relayed with replacement characters.
        if (!System.Text.Unicode.Utf8.IsValid(copy ?? line.FirstSpan))
        {
            Send(Server, "FAIL", message.Command, "INVALID_UTF8", "Message rejected: this server takes UTF-8 only");
            return true;
        }

        if (message.Command != "PRIVMSG")
        {
            // Whatever else comes (a PART, a NICK, a QUIT) takes effect after the lines sent before it.
            await SayPendingAsync();
        }

        switch (message.Command)
        {
            case "CAP":
                Cap(message);
                break;
            case "PASS":
                Pass(message);
                break;
            case "NICK":
                await NickAsync(message);
                break;
            case "USER":
                User(message);
                break;
            case "PING":
                Send(Server, "PONG", Server, message[0]);
                break;
            case "PONG":
                break;
            case "QUIT":
                QuitReason = message.Parameters.Count > 0 && message[0].Length > 0 ? TextSanitizer(message[0]) : "quit";
                Send(null, "ERROR", $"Closing link: {Member.Name} (Quit: {QuitReason})");
                return false;
            default:
                if (!_registered)
                {
                    Numeric("451", "You have not registered");
                    break;
                }

                await DispatchAsync(message);
                break;
        }

        return !_registered && _nickGiven && _userGiven && !_negotiating ? Register() : true;
    }

    private async ValueTask DispatchAsync(IrcMessage message)
    {
        switch (message.Command)
        {
            case "JOIN": await JoinAsync(message); break;
            case "PART": await PartAsync(message); break;
            case "PRIVMSG": await SayAsync(message, notice: false); break;
            case "NOTICE": await SayAsync(message, notice: true); break;
            case "TAGMSG": await TagAsync(message); break;
            case "TOPIC": await TopicAsync(message); break;
            case "NAMES": Names(message); break;
            case "WHO": await WhoAsync(message); break;
            case "WHOIS": await WhoisAsync(message); break;
            case "LIST": List(); break;
            case "MODE": await ModeAsync(message); break;
            case "AWAY": Away(message); break;
            case "ISON": await IsOnAsync(message); break;
            case "USERHOST": await UserHostAsync(message); break;
            case "LUSERS": Lusers(); break;
            case "MOTD": Motd(); break;
            case "OPER": Oper(message); break;
            case "KICK": await KickAsync(message); break;
            case "KILL": await KillAsync(message); break;
            case "CHATHISTORY": await ChatHistoryAsync(message); break;
            case "USER": Numeric("462", "You may not reregister"); break;
            default: Numeric("421", message.Command, "Unknown command"); break;
        }
    }

    private void Cap(IrcMessage message)
    {
        switch (message[0].ToUpperInvariant())
        {
            case "LS":
                if (!_registered)
                {
                    _negotiating = true;
                }

                // CAP LS 302 implies cap-notify (IRCv3 capability negotiation).
                if (int.TryParse(message[1], NumberStyles.None, CultureInfo.InvariantCulture, out int version) && version >= 302)
                {
                    _caps.Add("cap-notify");
                }

                Send(Server, "CAP", Target, "LS", string.Join(' ', Capabilities));
                break;
            case "LIST":
                Send(Server, "CAP", Target, "LIST", string.Join(' ', _caps.Order(StringComparer.Ordinal)));
                break;
            case "REQ":
                if (!_registered)
                {
                    _negotiating = true;
                }

                RequestCapabilities(message[1]);
                break;
            case "END":
                _negotiating = false;
                break;
            default:
                Numeric("410", message[0], "Invalid CAP command");
                break;
        }
    }

    // All or nothing, as the spec says: one unknown capability refuses the whole request.
    private void RequestCapabilities(string requested)
    {
        string[] wanted = requested.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (wanted.Length == 0 || wanted.Any(cap => !Capabilities.Contains(cap.TrimStart('-'), StringComparer.Ordinal)))
        {
            Send(Server, "CAP", Target, "NAK", requested);
            return;
        }

        foreach (string cap in wanted)
        {
            if (cap.StartsWith('-'))
            {
                _caps.Remove(cap[1..]);
            }
            else
            {
                _caps.Add(cap);
            }
        }

        Member.Format = IrcFormatter.For(Server, Has("server-time"), Has("message-tags"));
        Member.EchoesOwnLines = Has("echo-message");
        Send(Server, "CAP", Target, "ACK", requested);
    }

    private void Pass(IrcMessage message)
    {
        if (_registered)
        {
            Numeric("462", "You may not reregister");
        }
        else if (message.Parameters.Count == 0)
        {
            Numeric("461", "PASS", "Not enough parameters");
        }
        else
        {
            _password = message[0];
        }
    }

    private void User(IrcMessage message)
    {
        if (_registered)
        {
            Numeric("462", "You may not reregister");
        }
        else if (message.Parameters.Count < 4 || message[0].Length == 0 || message[3].Length == 0)
        {
            Numeric("461", "USER", "Not enough parameters");
        }
        else
        {
            Member.UserName = "~" + TextSanitizer(message[0]).Replace(' ', '_');
            Member.RealName = TextSanitizer(message[3]);
            _userGiven = true;
        }
    }

    private async ValueTask NickAsync(IrcMessage message)
    {
        if (message.Parameters.Count == 0 || message[0].Length == 0)
        {
            Numeric("431", "No nickname given");
            return;
        }

        string old = Member.Name;
        var result = await session.NickAsync(message[0]);
        if (!result.IsOk)
        {
            Reply(result, "NICK");
            return;
        }

        // In a room, the rename reaches this member as its rooms see it; in none, nobody else would say it.
        if (_registered && old != Member.Name && Member.Rooms.Length == 0)
        {
            Send(IrcFormatter.Prefix(old, Server), "NICK", Member.Name);
        }

        _nickGiven = true;
    }

    /// <summary>Ends registration: the server password, then the welcome (001–005), LUSERS and the MOTD.</summary>
    private bool Register()
    {
        if (options.Password is { } password
            && (_password is null || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(_password), Encoding.UTF8.GetBytes(password))))
        {
            string refusal = _password is null ? "no password given" : "wrong password";
            ChatLog.PasswordRefused(logger, Member.Remote, refusal);
            Numeric("464", "Password incorrect");
            Send(null, "ERROR", $"Closing link: {refusal} (send it with PASS, the server password)");
            QuitReason = refusal;
            return false;
        }

        _registered = true;
        Numeric("001", $"Welcome to Parley, {Member.Name}: channel #NAME is room NAME, shared with line and web users");
        Numeric("002", $"Your host is {Server}, running Parley");
        Numeric("003", $"This server was created {Started.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture)}");
        Numeric("004", Server, "parley-2", "io", "ntov", "ov");
        Isupport();
        Lusers();
        Motd();
        return true;
    }

    private void Isupport()
    {
        string[] tokens =
        [
            "AWAYLEN=390", "CASEMAPPING=rfc8265", "CHANLIMIT=#:", "CHANMODES=,,,nt", $"CHANNELLEN={ChatNames.MaxLength + 1}",
            "CHANTYPES=#", $"CHATHISTORY={ChatSession.MaxHistoryPage}", "ELIST=", "MSGREFTYPES=msgid", "NETWORK=Parley",
            $"NICKLEN={ChatNames.MaxLength}", "PREFIX=(ov)@+", "TARGMAX=JOIN:,PART:,PRIVMSG:4,NOTICE:4,NAMES:1,WHOIS:1",
            "TOPICLEN=390", "UTF8ONLY",
        ];
        Send(Server, "005", [Target, .. tokens, "are supported by this server"]);
    }

    private void Motd()
    {
        Numeric("375", $"- {Server} Message of the day -");
        Numeric("372", "- This is Parley: nc, IRC and web users in the same rooms.");
        Numeric("372", "- Channel #NAME is room NAME; line users start in #lobby.");
        Numeric("376", "End of /MOTD command");
    }

    private void Lusers()
    {
        int users = session.LocalMembers;
        int rooms = session.Rooms().Rooms?.Count ?? 0;
        Numeric("251", $"There are {users} users and 0 invisible on 1 servers");
        Numeric("254", rooms.ToString(CultureInfo.InvariantCulture), "channels formed");
        Numeric("255", $"I have {users} clients and 0 servers");
    }

    // The server pings a client that has been quiet for an interval and drops it if the next interval brings nothing
    // either; a client that never finishes registering is dropped after two.
    private async Task PingAsync(TimeSpan interval)
    {
        bool pinged = false;
        int ticks = 0;
        try
        {
            while (await Task.WhenAny(Task.Delay(interval), _ended.Task) != _ended.Task)
            {
                ticks++;
                if (!_registered && ticks >= 2)
                {
                    Member.CutOff("registration timeout", "Closing link: registration timed out");
                    return;
                }

                if (_heard)
                {
                    _heard = false;
                    pinged = false;
                    continue;
                }

                if (pinged)
                {
                    Member.CutOff("ping timeout", $"Closing link: ping timeout ({(int)(interval.TotalSeconds * 2)} seconds)");
                    return;
                }

                Send(null, "PING", Server);
                pinged = true;
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
        {
            // The connection ended as the loop woke: its queue is closed.
        }
    }

    /// <summary>The text of a client's message as it may be relayed: no controls, no escapes, no bidi overrides.</summary>
    private static string TextSanitizer(string text) => Parley.Protocol.Text.TextSanitizer.Sanitize(text);

    private void Numeric(string code, params ReadOnlySpan<string> parameters) => Send(Server, code, [Target, .. parameters]);

    private void Send(string? source, string command, params ReadOnlySpan<string> parameters) =>
        Member.Send(OutboundMessage.Raw(IrcMessage.Format(null, source, command, parameters)));

    /// <summary>An event as this member's format writes it (the tags it negotiated), for lines about itself.</summary>
    private void Send(ChatEvent chatEvent) => Member.Send(new OutboundMessage(chatEvent));

    /// <summary>Words a failed command as its numeric; NOTICE never gets one, as RFC 1459 says.</summary>
    private void Reply(ChatResult result, string command, string subject = "")
    {
        if (result.IsOk)
        {
            return;
        }

        var (code, parameters) = IrcWording.Describe(result, command, subject);
        if (code == "FAIL")
        {
            // A standard reply (IRCv3): addressed to nobody.
            Send(Server, code, parameters);
        }
        else
        {
            Send(Server, code, [Target, .. parameters]);
        }
    }

    private string NextBatchId() => string.Create(CultureInfo.InvariantCulture, $"h{++_batches}");
}
