using System.Globalization;
using System.Security.Authentication;
using System.Text;
using Parley.Protocol.Chat;

namespace Parley.Client;

/// <summary>
/// Reconnecting and resuming (PROTOCOL.md v2, "History"). The client remembers the last id it saw in each room.
/// When the link drops it connects again, takes its name and room back, and only then asks
/// <c>/history after LAST_ID 500</c> (again while a page comes back full): being in the room before it asks, it
/// misses nothing, and the lines that come both live and in a page are shown once. Private messages are not kept
/// by the server, so those sent while the client was away are lost.
/// </summary>
public sealed partial class ChatClient
{
    private const string Lobby = "lobby";
    private const string AnchorBegin = "parley-anchor-begin";
    private const string AnchorEnd = "parley-anchor";
    private const string ResumeToken = "parley-resume";
    private const string PageToken = "parley-page";
    private const int PageSize = 500;
    private const int NameAttempts = 9;
    private static readonly TimeSpan NameRetry = TimeSpan.FromMilliseconds(250);

    // Per room (by its key): the highest id seen, live or replayed. Live lines at or below it are copies.
    private readonly Dictionary<string, long> _lastIds = [];
    private readonly CancellationTokenSource _stopResuming = new();
    private TaskCompletionSource _ready = Connected();
    private volatile string _room = Lobby;
    private volatile string? _name;
    private volatile string? _asked;
    private volatile bool _leaving;
    private volatile bool _refused;
    private volatile bool _shutdown;
    private bool _established;
    private bool _inAnchor;

    /// <summary>
    /// Raised while the client waits to reconnect and when it is back, on the reader's flow (between events), so a
    /// status line lands in order with the lines around it.
    /// </summary>
    public event Action<ChatConnectionStatus>? ConnectionChanged;

    /// <summary>False while the client is reconnecting: a line sent now waits until it is back.</summary>
    public bool IsConnected => _ready.Task.IsCompletedSuccessfully;

    /// <summary>The name the server has confirmed for this client, or null while it is a guest.</summary>
    public string? Name => _name;

    /// <summary>The room the client is in, as far as the server has said.</summary>
    public string Room => _room;

    private static TaskCompletionSource Connected()
    {
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ready.SetResult();
        return ready;
    }

    // The highest id of the room now, read without showing it: the lobby's replay comes before /format json, in
    // text with no ids, and a server with --replay 0 sends none, yet a resume needs to know where it left off.
    private static void AppendAnchor(StringBuilder hello) =>
        hello.Append("/ping ").Append(AnchorBegin).Append("\n/history 1\n/ping ").Append(AnchorEnd).Append('\n');

    private void Leave()
    {
        _leaving = true;
        try
        {
            _stopResuming.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed already: nothing is resuming.
        }
    }

    private bool ShouldResume() => _reconnect.Enabled && _established && !_leaving && !_refused;

    private async Task<Link> WaitConnectedAsync(CancellationToken cancellation)
    {
        await _ready.Task.WaitAsync(cancellation);
        return _link;
    }

    /// <summary>What the client learns from each event, and whether the consumer sees it.</summary>
    private bool Accept(ChatEvent e)
    {
        switch (e.Type)
        {
            case ChatEventType.Pong when e.Text == AnchorBegin:
                _inAnchor = true;
                return false;
            case ChatEventType.Pong when e.Text == AnchorEnd:
                _inAnchor = false;
                _established = true;
                return false;
            case ChatEventType.Notice when e.Text == "server shutting down":
                _shutdown = true;
                break;
            case ChatEventType.Error when e.Text.StartsWith("disconnected: ", StringComparison.Ordinal):
                // A kick or a ban is meant: coming back would undo it. Too slow is not (a laptop that slept).
                _refused = !e.Text.StartsWith("disconnected: too slow", StringComparison.Ordinal);
                break;
        }

        TrackName(e);
        if (_inAnchor && IsHistoryAnswer(e))
        {
            if (e.Id is long anchored && e.Room.Length > 0)
            {
                Remember(e.Room, anchored);
            }

            return false;
        }

        if (e.Id is long id && e.Room.Length > 0 && e.Type != ChatEventType.Private)
        {
            _room = e.Room;
            if (!e.History && _lastIds.TryGetValue(ChatNames.Key(e.Room), out long last) && id <= last)
            {
                return false;
            }

            Remember(e.Room, id);
        }

        return true;
    }

    private static bool IsHistoryAnswer(ChatEvent e) =>
        e.History
        || (e.Type == ChatEventType.Notice && e.Text.StartsWith("no history of ", StringComparison.Ordinal))
        || (e.Type == ChatEventType.Error && e.Text.StartsWith("the history of ", StringComparison.Ordinal));

    private void Remember(string room, long id)
    {
        string key = ChatNames.Key(room);
        _lastIds[key] = _lastIds.TryGetValue(key, out long last) ? Math.Max(last, id) : id;
    }

    // The server confirms a name with the joiner's own join notice, or a rename.
    private void TrackName(ChatEvent e)
    {
        switch (e.Type)
        {
            case ChatEventType.Join when Same(e.From, _asked) || Same(e.From, _name):
                _name = e.From;
                _room = e.Room.Length > 0 ? e.Room : _room;
                break;
            case ChatEventType.Nick when e.To is not null && (Same(e.From, _name) || Same(e.To, _asked)):
                _name = e.To;
                break;
            case ChatEventType.Who when e.Room.Length > 0:
                _room = e.Room;
                break;
        }
    }

    private static bool Same(string? a, string? b) => a is not null && b is not null && string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    private TimeSpan Backoff(int attempt)
    {
        // Equal jitter: half the capped exponential wait, plus a random part of the other half.
        double cap = Math.Min(_reconnect.MaxDelay.TotalMilliseconds, _reconnect.InitialDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30)));
        return TimeSpan.FromMilliseconds(cap * (0.5 + (Random.Shared.NextDouble() * 0.5)));
    }

    // With other servers of the same chat, attempt 1 goes to the one after the server that was lost, and each further
    // attempt to the next in turn; alone, every attempt is the same server.
    private HostPort NextServer(int attempt)
    {
        var others = _reconnect.OtherServers;
        if (others.Count == 0)
        {
            return Server;
        }

        HostPort[] all = [Server, .. others.Where(other => other != Server)];
        return all[attempt % all.Length];
    }

    /// <summary>Connects again until it works, the server refuses for good, or the user leaves.</summary>
    private async Task<(List<ChatEvent> Events, bool Ended)> ResumeAsync(CancellationToken cancellation)
    {
        if (_ready.Task.IsCompleted)
        {
            _ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        await DisposeQuietlyAsync(_link);
        bool shutdown = _shutdown;
        _shutdown = false;
        using var resuming = CancellationTokenSource.CreateLinkedTokenSource(cancellation, _stopResuming.Token);
        for (int attempt = 1; ; attempt++)
        {
            var delay = Backoff(attempt);
            ConnectionChanged?.Invoke(new ChatConnectionStatus(ChatConnectionState.Reconnecting) { Attempt = attempt, Delay = delay, ServerShutDown = shutdown });
            Link? link = null;
            try
            {
                await Task.Delay(delay, resuming.Token);
                using var bounded = CancellationTokenSource.CreateLinkedTokenSource(resuming.Token);
                bounded.CancelAfter(_reconnect.AttemptTimeout);
                var target = NextServer(attempt);
                link = await Link.OpenAsync(target, _tls, bounded.Token);
                var (events, refused, missed) = await CatchUpAsync(link, bounded.Token);
                if (refused)
                {
                    _refused = true;
                    _ready.TrySetException(new IOException($"{Server} refused the client on reconnecting"));
                    await DisposeQuietlyAsync(link);
                    return (events, true);
                }

                _link = link;
                Server = target;
                _ready.TrySetResult();
                ConnectionChanged?.Invoke(new ChatConnectionStatus(ChatConnectionState.Resumed)
                {
                    Name = _name,
                    NameTaken = _name is not null && _asked is not null && !Same(_name, _asked),
                    Room = _room,
                    Missed = missed,
                });
                return (events, false);
            }
            catch (Exception ex) when (!cancellation.IsCancellationRequested
                && ex is ConnectException or IOException or System.Net.Sockets.SocketException or AuthenticationException or OperationCanceledException)
            {
                if (link is not null)
                {
                    await DisposeQuietlyAsync(link);
                }

                if (_leaving)
                {
                    _ready.TrySetException(new IOException("the client left"));
                    return ([], true);
                }
            }
        }
    }

    /// <summary>
    /// On a fresh connection: the name and room back, then every page of the room after the last id seen; returns
    /// the lines to show in order, the missed ones (as history) first.
    /// </summary>
    private async Task<(List<ChatEvent> Events, bool Refused, int Missed)> CatchUpAsync(Link link, CancellationToken cancellation)
    {
        string room = _room;
        string key = ChatNames.Key(room);
        string? wanted = _name ?? _asked;
        long? last = _lastIds.TryGetValue(key, out long seen) ? seen : null;
        var history = new SortedDictionary<long, ChatEvent>();
        var live = new List<ChatEvent>();
        long latest = 0;

        void Collect(ChatEvent e)
        {
            if (e.Id is long id && e.Type != ChatEventType.Private && ChatNames.Key(e.Room) == key)
            {
                latest = Math.Max(latest, id);
                if (e.History)
                {
                    history.TryAdd(id, e);
                    return;
                }
            }

            live.Add(e);
        }

        // The name and the room first, and the room's newest id (/history 1), which tells a server that lost its
        // history (ids begun again) from one that kept it.
        var hello = Hello(room, wanted).Append("/history 1\n/ping ").Append(ResumeToken).Append('\n');
        await SendRawAsync(link, hello.ToString(), cancellation);
        string? asked = wanted;
        _asked = asked;
        _name = null;
        var nameDeadline = DateTime.UtcNow + _reconnect.NameWait;
        int nameAttempt = 1;
        bool taken = false;
        while (true)
        {
            var e = await link.ReadAsync(this, cancellation) ?? throw new IOException("the server closed the connection while the client resumed");
            if (e.Type == ChatEventType.Pong && e.Text == ResumeToken)
            {
                if (!taken || asked is null)
                {
                    break;
                }

                // The server has not yet noticed that the old connection is gone: ask again for a while, then take
                // the name with a digit, as the first connection does.
                taken = false;
                if (DateTime.UtcNow < nameDeadline)
                {
                    await Task.Delay(NameRetry, cancellation);
                }
                else
                {
                    nameAttempt++;
                    asked = nameAttempt <= NameAttempts && wanted is not null ? WithDigit(wanted, nameAttempt) : null;
                }

                if (asked is null)
                {
                    break;
                }

                _asked = asked;
                await SendRawAsync(link, $"/nick {asked}\n/ping {ResumeToken}\n", cancellation);
                continue;
            }

            TrackName(e);
            switch (e.Type)
            {
                case ChatEventType.Error when e.Text.EndsWith(" is taken", StringComparison.Ordinal):
                    taken = true;
                    break;
                case ChatEventType.Error when e.Text == "wrong password" || e.Text.StartsWith("password required", StringComparison.Ordinal)
                    || e.Text.Contains("is banned from this server", StringComparison.Ordinal):
                    return ([e], true, 0);
                case ChatEventType.Error when e.Text.StartsWith("the history of ", StringComparison.Ordinal):
                case ChatEventType.Notice:
                    // The welcome, the lobby's replay in text, "no history": the client's own business.
                    break;
                case ChatEventType.Topic when e.Id is null:
                    // The topic on entering: the user knows it; a change while away comes with the history.
                    break;
                case ChatEventType.Join or ChatEventType.Leave or ChatEventType.Nick
                    when Same(e.From, wanted) || Same(e.From, asked) || Same(e.To, asked) || Same(e.From, _name):
                    // The old connection leaving and this one arriving: the user never went.
                    break;
                default:
                    Collect(e);
                    break;
            }
        }

        // Ids never restart while the server keeps its history; if the room's newest is below what was seen, the
        // server lost it (--history memory or off, restarted), and every line it has now is new.
        long after = last is long known && latest >= known ? known : 0;
        long floor = after;
        while (true)
        {
            await SendRawAsync(link, $"/history after {after.ToString(CultureInfo.InvariantCulture)} {PageSize}\n/ping {PageToken}\n", cancellation);
            int count = 0;
            while (true)
            {
                var e = await link.ReadAsync(this, cancellation) ?? throw new IOException("the server closed the connection while the client resumed");
                if (e.Type == ChatEventType.Pong && e.Text == PageToken)
                {
                    break;
                }

                if (e.History && e.Id is long id && ChatNames.Key(e.Room) == key)
                {
                    count++;
                    after = Math.Max(after, id);
                }

                if (e.Type == ChatEventType.Notice && e.Text.StartsWith("no history of ", StringComparison.Ordinal))
                {
                    continue;
                }

                TrackName(e);
                Collect(e);
            }

            if (count < PageSize)
            {
                break;
            }
        }

        var (events, missed) = Merge(key, floor, history, live);
        return (events, false, missed);
    }

    /// <summary>
    /// The missed lines by id, then what came live in its order; a line that came both ways is shown once, and a
    /// page line above the first live one (said after the client was back) is shown as live.
    /// </summary>
    private (List<ChatEvent> Events, int Missed) Merge(string key, long floor, SortedDictionary<long, ChatEvent> history, List<ChatEvent> live)
    {
        bool InRoom(ChatEvent e) => e.Id is not null && e.Type != ChatEventType.Private && ChatNames.Key(e.Room) == key;
        var liveIds = live.Where(InRoom).Select(e => e.Id!.Value).ToHashSet();
        var pending = new Queue<ChatEvent>(history.Where(h => h.Key > floor && !liveIds.Contains(h.Key)).Select(h => h.Value));
        long firstLive = liveIds.Count > 0 ? liveIds.Min() : long.MaxValue;
        var events = new List<ChatEvent>();
        long shown = floor;
        int missed = 0;
        while (pending.Count > 0 && pending.Peek().Id < firstLive)
        {
            var line = pending.Dequeue();
            events.Add(line);
            shown = line.Id!.Value;
            missed++;
        }

        foreach (var e in live.Append(null))
        {
            long upTo = e is not null && InRoom(e) ? e.Id!.Value : e is null ? long.MaxValue : long.MinValue;
            while (pending.Count > 0 && pending.Peek().Id < upTo)
            {
                var line = pending.Dequeue();
                events.Add(line with { History = false });
                shown = line.Id!.Value;
            }

            if (e is null)
            {
                break;
            }

            if (InRoom(e))
            {
                if (e.Id <= shown)
                {
                    continue;
                }

                shown = e.Id!.Value;
            }

            events.Add(e);
        }

        if (shown > 0)
        {
            _lastIds[key] = shown;
        }
        else
        {
            _lastIds.Remove(key);
        }

        return (events, missed);
    }

    private static string WithDigit(string name, int attempt)
    {
        string suffix = attempt.ToString(CultureInfo.InvariantCulture);
        return (name.Length + suffix.Length > ChatNames.MaxLength ? name[..(ChatNames.MaxLength - suffix.Length)] : name) + suffix;
    }

    private static async Task DisposeQuietlyAsync(Link link)
    {
        try
        {
            await link.DisposeAsync();
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            // A broken link may complain as it closes; it is being replaced either way.
        }
    }
}
