using Parley.Protocol.Chat;
using Parley.Protocol.Formats;

namespace Parley.Server.Chat;

/// <summary>
/// An event on its way to many members. Each format is produced once, on first use, and the same bytes are
/// shared by every recipient that uses it: the relay allocates per message and per format, never per recipient.
/// </summary>
internal sealed class OutboundMessage
{
    private readonly ChatEvent? _event;
    private readonly OutboundMessage[]? _parts;
    private readonly byte[]? _raw;
    private byte[]?[]? _formatted;

    public OutboundMessage(ChatEvent chatEvent) => _event = chatEvent;

    private OutboundMessage(byte[] raw) => _raw = raw;

    private OutboundMessage(OutboundMessage[] parts) => _parts = parts;

    /// <summary>
    /// Several messages that go to the same members: a stream front end sends them as one run of lines, and a
    /// message-framed one (a WebSocket) still sees each in <see cref="Parts"/>.
    /// </summary>
    public static OutboundMessage Together(OutboundMessage[] parts) => parts.Length == 1 ? parts[0] : new(parts);

    /// <summary>Bytes that go out as they are in every format: the raw chat room's chunks and notices.</summary>
    public static OutboundMessage Raw(byte[] bytes) => new(bytes);

    /// <summary>The event this message carries, or null for raw bytes and runs.</summary>
    public ChatEvent? Event => _event;

    /// <summary>The messages of a <see cref="Together"/> run, or null for a single one.</summary>
    public IReadOnlyList<OutboundMessage>? Parts => _parts;

    // A race here formats the same bytes twice at worst; that is cheaper than a lock on the relay path.
    public byte[] GetBytes(ChatFormatter formatter)
    {
        if (_raw is not null)
        {
            return _raw;
        }

        var formatted = _formatted ??= new byte[]?[ChatFormatter.SlotCount];
        if (formatter.Slot >= formatted.Length)
        {
            // A formatter made after this message: rare, and only ever a few.
            return Format(formatter);
        }

        return formatted[formatter.Slot] ??= Format(formatter);
    }

    private byte[] Format(ChatFormatter formatter)
    {
        if (_event is not null)
        {
            return formatter.Format(_event);
        }

        var parts = _parts!;
        var bytes = new byte[parts.Length][];
        int total = 0;
        for (int i = 0; i < parts.Length; i++)
        {
            bytes[i] = parts[i].GetBytes(formatter);
            total += bytes[i].Length;
        }

        var all = new byte[total];
        int at = 0;
        foreach (byte[] part in bytes)
        {
            part.CopyTo(all, at);
            at += part.Length;
        }

        return all;
    }
}
