using System.Diagnostics;
using Parley.Protocol.Chat;
using Parley.Protocol.Formats;
using Parley.Server.Connections;
using Parley.Server.Logging;

namespace Parley.Server.Chat;

/// <summary>
/// One chat connection as the hub sees it: an identity, a name, its rooms, a format and an outbound queue. The hub
/// changes name and rooms; front ends choose the format.
/// </summary>
internal sealed class ChatMember : IDisposable
{
    // A member that is behind may hold its rooms' publishers back for the allowance in all, which refills at this
    // share of real time: a reader that needs the room to wait more than a quarter of the time cannot keep up.
    private const double AllowanceRefillRate = 0.25;

    // A wait this short is the writer's turn on the thread pool coming round, not a slow reader: it costs no allowance.
    private static readonly TimeSpan FreeWait = TimeSpan.FromMilliseconds(50);

    private readonly CancellationTokenSource _cutOff = new();
    private readonly double _allowanceCapacity;
    // Made when the member first falls behind: an idle member, or one that keeps up, never needs it.
    private Allowance? _allowance;
    private volatile ChatFormatter _format = TextFormatter.Instance;
    private string _cutOffReason = string.Empty;
    private ChatRoom[] _rooms = [];
    private bool _echoesOwnLines;

    public ChatMember(MemberRef id, string remote, string name, OutboundQueue queue, TimeSpan slowReaderWait)
    {
        Id = id;
        Remote = remote;
        Name = name;
        Queue = queue;
        _allowanceCapacity = slowReaderWait.TotalSeconds;
    }

    public MemberRef Id { get; }

    public string Remote { get; }

    /// <summary>The peer's address, for <c>/ban</c>; parsed from <see cref="Remote"/> so the hub needs no socket.</summary>
    public System.Net.IPAddress? RemoteAddress =>
        System.Net.IPEndPoint.TryParse(Remote, out var endPoint) ? endPoint.Address : null;

    public OutboundQueue Queue { get; }

    public string Name { get; internal set; }

    /// <summary>The rooms this member is in, as a snapshot.</summary>
    public ChatRoom[] Rooms => Volatile.Read(ref _rooms);

    /// <summary>False while the member is a guest that only listens: its rooms have not been told it is there.</summary>
    public bool IsAnnounced { get; internal set; }

    /// <summary>False for members that take no name (the raw room's): they hold nothing in the name registry.</summary>
    public bool HoldsName { get; init; } = true;

    /// <summary>True once the member gave the operator password (<c>/oper</c>): it may <c>/kick</c> and <c>/ban</c>.</summary>
    public bool IsOperator { get; set; }

    /// <summary>How events are written to this member; the front end chooses.</summary>
    public ChatFormatter Format
    {
        get => _format;
        set => _format = value;
    }

    /// <summary>What an IRC client says of itself with USER (shown by WHO and WHOIS); the name for other front ends.</summary>
    public string UserName { get; set; } = string.Empty;

    /// <summary>An IRC client's real name from USER; empty for other front ends.</summary>
    public string RealName { get; set; } = string.Empty;

    /// <summary>The member's away message (IRC's AWAY), or null while it is here.</summary>
    public string? AwayMessage { get; set; }

    /// <summary>True for front ends that word the member's own entry into a room themselves (IRC's JOIN): the room's notice of it is not sent to the member.</summary>
    public bool WordsOwnEntry { get; set; }

    /// <summary>
    /// True for a front end that shows a rename once whatever the rooms (IRC: one NICK line, not one per shared
    /// channel); the rooms still tell it each, and all but the first are passed over.
    /// </summary>
    public bool HearsRenameOnce { get; set; }

    // The last rename this member was told of (old name, new name and when), for HearsRenameOnce. Rooms deliver on
    // their own threads, so it is swapped atomically.
    private string? _lastRename;

    /// <summary>True the first time this member is handed a given rename, from whichever room.</summary>
    public bool IsFirstToHear(ChatEvent rename)
    {
        string key = $"{rename.From}\n{rename.To}\n{rename.Timestamp.ToUnixTimeMilliseconds()}";
        return Interlocked.Exchange(ref _lastRename, key) != key;
    }

    /// <summary>True when the member wants its own room lines back as the room sees them (IRC's echo-message).</summary>
    public bool EchoesOwnLines
    {
        get => Volatile.Read(ref _echoesOwnLines);
        set => Volatile.Write(ref _echoesOwnLines, value);
    }

    /// <summary>Fires when the hub cuts this member off; the connection's reader ends on it.</summary>
    public CancellationToken CutOffToken => _cutOff.Token;

    public string CutOffReason => Volatile.Read(ref _cutOffReason);

    public bool IsCutOff => CutOffReason.Length > 0;

    // The rooms array is swapped whole (copy on write), so readers take a snapshot without a lock.
    internal void AddRoom(ChatRoom room)
    {
        var rooms = Volatile.Read(ref _rooms);
        while (Interlocked.CompareExchange(ref _rooms, [.. rooms, room], rooms) is var seen && seen != rooms)
        {
            rooms = seen;
        }
    }

    internal bool RemoveRoom(ChatRoom room)
    {
        while (true)
        {
            var rooms = Volatile.Read(ref _rooms);
            if (Array.IndexOf(rooms, room) < 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _rooms, Array.FindAll(rooms, r => r != room), rooms) == rooms)
            {
                return true;
            }
        }
    }

    // A full allowance, as every member starts with: one made when the member first falls behind is the same as one
    // made when it connected, which would have refilled to the full allowance by then.
    private Allowance Pacing
    {
        get
        {
            if (Volatile.Read(ref _allowance) is not { } allowance)
            {
                Interlocked.CompareExchange(ref _allowance, new Allowance(_allowanceCapacity), null);
                allowance = _allowance!;
            }

            return allowance;
        }
    }

    public ChatRoom? RoomByKey(string key) => Array.Find(Rooms, r => r.Key == key);

    /// <summary>
    /// Queues a broadcast for this member in its own format and returns the bytes queued. Cuts the member off if its
    /// backlog is full; <paramref name="behind"/> says the member is now behind and publishers should wait for it.
    /// </summary>
    public long Deliver(OutboundMessage message, out bool behind)
    {
        behind = false;
        byte[] bytes = message.GetBytes(Format);
        switch (Queue.TryEnqueue(bytes))
        {
            case EnqueueResult.Queued:
                return bytes.Length;
            case EnqueueResult.Behind:
                behind = true;
                return bytes.Length;
            case EnqueueResult.Overflowed:
                ParleyMetrics.CutOffs.Add(1, new KeyValuePair<string, object?>("reason", "backlog"));
                CutOff("too slow", message: "disconnected: too slow");
                return 0;
            case EnqueueResult.Dropped:
                return 0;
            default:
                throw new UnreachableException();
        }
    }

    /// <summary>Queues one event for this member alone (an answer, a private line, a notice), counted against the output budget.</summary>
    public void Send(OutboundMessage message)
    {
        long queued = Deliver(message, out _);
        Queue.Budget?.Reserve(queued);
    }

    /// <summary>
    /// Holds a publisher back until this member has caught up. A member may hold its publishers back for the
    /// allowance in all (refilling at a quarter of real time); one that needs longer is cut off as too slow, so the
    /// room waits for it only briefly.
    /// </summary>
    public async ValueTask HoldPublisherAsync()
    {
        var caughtUp = Queue.WhenCaughtUpAsync();
        if (caughtUp.IsCompleted)
        {
            return;
        }

        TimeSpan left;
        long started = Stopwatch.GetTimestamp();
        var pacing = Pacing;
        lock (pacing.Gate)
        {
            pacing.Refill(started, _allowanceCapacity);
            if (pacing.BehindSince == 0)
            {
                pacing.BehindSince = started;
            }

            left = TimeSpan.FromSeconds(pacing.Seconds) + FreeWait - Stopwatch.GetElapsedTime(pacing.BehindSince, started);
        }

        bool caughtUpInTime = false;
        if (left > TimeSpan.Zero)
        {
            try
            {
                await caughtUp.WaitAsync(left);
                caughtUpInTime = true;
            }
            catch (TimeoutException)
            {
                // Out of allowance: cut off below.
            }
        }

        ParleyMetrics.PublisherHeldSeconds.Add(Stopwatch.GetElapsedTime(started).TotalSeconds);
        if (caughtUpInTime)
        {
            EndBehind();
            return;
        }

        ParleyMetrics.CutOffs.Add(1, new KeyValuePair<string, object?>("reason", "slow_reader"));
        CutOff("too slow", message: "disconnected: too slow");
    }

    // The member caught up: the time it held its publishers back comes off its allowance, once per episode.
    private void EndBehind()
    {
        var pacing = Pacing;
        lock (pacing.Gate)
        {
            if (pacing.BehindSince == 0)
            {
                return;
            }

            long now = Stopwatch.GetTimestamp();
            pacing.Refill(now, _allowanceCapacity);
            var charged = Stopwatch.GetElapsedTime(pacing.BehindSince, now) - FreeWait;
            if (charged > TimeSpan.Zero)
            {
                pacing.Seconds = Math.Max(0, pacing.Seconds - charged.TotalSeconds);
            }

            pacing.BehindSince = 0;
        }
    }

    /// <summary>What a member that has fallen behind keeps of its allowance; changed under <see cref="Gate"/>.</summary>
    private sealed class Allowance(double seconds)
    {
        public Lock Gate { get; } = new();

        public double Seconds { get; set; } = seconds;

        public long At { get; private set; } = Stopwatch.GetTimestamp();

        public long BehindSince { get; set; }

        public void Refill(long now, double capacity)
        {
            Seconds = Math.Min(capacity, Seconds + (Stopwatch.GetElapsedTime(At, now).TotalSeconds * AllowanceRefillRate));
            At = now;
        }
    }

    /// <summary>Cuts the member off with <c>! message</c>, and its rooms are told it left for <paramref name="reason"/>.</summary>
    public void CutOff(string reason, string message) =>
        End(reason, new OutboundMessage(new ChatEvent(ChatEventType.Error, DateTimeOffset.UtcNow) { Text = message, Code = CutOffCode(reason) }));

    // "kicked by op: spam" is kicked; "too slow" is too_slow.
    private static string CutOffCode(string reason) =>
        reason.StartsWith("kicked", StringComparison.Ordinal) ? "kicked"
        : reason.StartsWith("banned", StringComparison.Ordinal) ? "banned"
        : reason.Replace(' ', '_');

    /// <summary>Ends the member's session from outside its own loop: a best-effort last line, then the reader stops.</summary>
    public void End(string reason, OutboundMessage lastLine)
    {
        if (Interlocked.CompareExchange(ref _cutOffReason, reason, string.Empty) != string.Empty)
        {
            return;
        }

        Queue.EnqueueFinal(lastLine.GetBytes(Format));
        Queue.Complete();
        try
        {
            // CancelAsync: the reader's cancellation callbacks must not run on the thread of whoever is broadcasting.
            _ = _cutOff.CancelAsync();
        }
        catch (ObjectDisposedException)
        {
            // The connection already ended on its own.
        }
    }

    public void Dispose() => _cutOff.Dispose();
}
