using Parley.Protocol.Chat;
using Parley.Server.Connections;

namespace Parley.Server.Chat;

/// <summary>
/// One chat connection as the hub sees it: a name, a room, a format and an outbound queue. The hub changes
/// name and room under its lock; everyone else only reads them.
/// </summary>
internal sealed class ChatMember : IDisposable
{
    private readonly CancellationTokenSource _cutOff = new();
    private volatile ChatFormat _format = ChatFormat.Text;
    private volatile string _cutOffReason = string.Empty;

    public ChatMember(string remote, string guestName, OutboundQueue queue)
    {
        Remote = remote;
        Name = guestName;
        Queue = queue;
    }

    public string Remote { get; }

    /// <summary>The peer's address, for <c>/ban</c>; parsed from <see cref="Remote"/> so the hub needs no socket.</summary>
    public System.Net.IPAddress? RemoteAddress =>
        System.Net.IPEndPoint.TryParse(Remote, out var endPoint) ? endPoint.Address : null;

    public OutboundQueue Queue { get; }

    public string Name { get; internal set; }

    public ChatRoom? Room { get; internal set; }

    /// <summary>False until the room has been told this member joined (see <see cref="Hosting.ServerOptions.NickGracePeriod"/>).</summary>
    public bool IsAnnounced { get; internal set; }

    /// <summary>True once the member gave the operator password (<c>/oper</c>): it may <c>/kick</c> and <c>/ban</c>.</summary>
    public bool IsOperator { get; set; }

    public ChatFormat Format
    {
        get => _format;
        set => _format = value;
    }

    /// <summary>Fires when the hub cuts this member off; the connection's reader ends on it.</summary>
    public CancellationToken CutOffToken => _cutOff.Token;

    public string CutOffReason => _cutOffReason;

    /// <summary>Queues an event for this member in its own format; cuts the member off if its backlog is full.</summary>
    public void Send(OutboundMessage message)
    {
        if (!Queue.TryEnqueue(message.GetBytes(Format)))
        {
            CutOff("too slow", message: "disconnected: too slow");
        }
    }

    /// <summary>Cuts the member off with <c>! message</c>, and the room is told it left for <paramref name="reason"/>.</summary>
    public void CutOff(string reason, string message) =>
        End(reason, new OutboundMessage(new ChatEvent(ChatEventType.Error, DateTimeOffset.UtcNow) { Text = message }));

    /// <summary>Ends the member's session from outside its own loop: a best-effort last line, then the reader stops.</summary>
    public void End(string reason, OutboundMessage lastLine)
    {
        _cutOffReason = reason;
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

/// <summary>
/// An event on its way to many members. Each format is produced once, on first use, and the same bytes are
/// shared by every recipient that uses it.
/// </summary>
internal sealed class OutboundMessage
{
    private readonly ChatEvent? _event;
    private readonly OutboundMessage[]? _parts;
    private byte[]? _text;
    private byte[]? _json;

    public OutboundMessage(ChatEvent chatEvent) => _event = chatEvent;

    private OutboundMessage(byte[] bytes) => _text = _json = bytes;

    private OutboundMessage(OutboundMessage[] parts) => _parts = parts;

    /// <summary>Several messages that go to the same members, as one run of lines in each format.</summary>
    public static OutboundMessage Together(OutboundMessage[] parts) => new(parts);

    /// <summary>Bytes that go out as they are in every format: the raw chat room's chunks and notices.</summary>
    public static OutboundMessage Raw(byte[] bytes) => new(bytes);

    private ChatEvent Event => _event ?? throw new InvalidOperationException("a raw message has no event");

    // A race here formats the same bytes twice at worst; that is cheaper than a lock on the relay path.
    public byte[] GetBytes(ChatFormat format) => format == ChatFormat.Json
        ? _json ??= _parts is null ? ChatEventFormatter.FormatJson(Event) : Concatenate(format)
        : _text ??= _parts is null ? ChatEventFormatter.FormatText(Event) : Concatenate(format);

    private byte[] Concatenate(ChatFormat format)
    {
        var parts = _parts!.Select(part => part.GetBytes(format)).ToArray();
        var all = new byte[parts.Sum(part => part.Length)];
        int at = 0;
        foreach (byte[] part in parts)
        {
            part.CopyTo(all, at);
            at += part.Length;
        }

        return all;
    }
}
