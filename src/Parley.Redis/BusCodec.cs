using System.Buffers;
using System.Text.Json;
using Parley.Protocol.Chat;
using Parley.Server.Bus;

namespace Parley.Redis;

/// <summary>
/// What travels on the bus channel. The first byte says what it is: <c>L</c> room lines (written by the numbering
/// script: <c>L{firstId}\t{room}\t{node}\t{member}\t{seq}\n[lines]</c>), and JSON for the rest: <c>P</c> presence,
/// <c>S</c> a node's whole presence, <c>M</c> a private line, <c>K</c> a cut-off, <c>B</c> a ban; and <c>G{node}</c>, a node found dead. Written by hand with Utf8JsonWriter
/// and read with JsonDocument, so nothing needs reflection (the CLI stays AOT-clean).
/// </summary>
internal static class BusCodec
{
    public const byte Lines = (byte)'L';
    public const byte Presence = (byte)'P';
    public const byte Snapshot = (byte)'S';
    public const byte Private = (byte)'M';
    public const byte CutOff = (byte)'K';
    public const byte NodeGone = (byte)'G';
    public const byte Ban = (byte)'B';

    /// <summary>One seat of a node's presence: a member in a room.</summary>
    public readonly record struct Seat(long Member, string Room, string RoomName, string Name, bool Announced)
    {
        public string Field => $"{Member}\t{Room}";

        // Names and room names never hold a TAB (ChatNames allows letters, digits, _ - .).
        public string Value => $"{(Announced ? 1 : 0)}\t{RoomName}\t{Name}";

        public static Seat Parse(string field, string value)
        {
            var f = field.Split('\t', 2);
            var v = value.Split('\t', 3);
            return new Seat(long.Parse(f[0], System.Globalization.CultureInfo.InvariantCulture), f[1], v[1], v[2], v[0] == "1");
        }
    }

    public static byte[] EncodeLines(IReadOnlyList<ChatEvent> lines)
    {
        return Write(0, json =>
        {
            json.WriteStartArray();
            foreach (var line in lines)
            {
                WriteEvent(json, line);
            }

            json.WriteEndArray();
        });
    }

    public static ChatEvent[] DecodeLines(ReadOnlySpan<byte> json, long firstId)
    {
        using var document = JsonDocument.Parse(json.ToArray());
        var lines = new ChatEvent[document.RootElement.GetArrayLength()];
        int i = 0;
        foreach (var element in document.RootElement.EnumerateArray())
        {
            lines[i] = ReadEvent(element) with { Id = firstId + i };
            i++;
        }

        return lines;
    }

    public static byte[] EncodePresence(string node, long seq, string roomKey, PresenceChange change) => Write(Presence, json =>
    {
        json.WriteStartObject();
        json.WriteString("n", node);
        json.WriteNumber("s", seq);
        json.WriteString("r", roomKey);
        json.WriteString("rn", change.RoomName);
        json.WriteNumber("k", (int)change.Kind);
        json.WriteString("mn", change.Member.Node);
        json.WriteNumber("m", change.Member.Id);
        json.WriteString("nm", change.Name);
        if (change.Notice is { } notice)
        {
            json.WritePropertyName("e");
            WriteEvent(json, notice);
        }

        json.WriteEndObject();
    });

    public static (string Node, long Seq, string RoomKey, PresenceChange Change) DecodePresence(JsonElement root)
    {
        var change = new PresenceChange(
            (PresenceKind)root.GetProperty("k").GetInt32(),
            root.GetProperty("rn").GetString()!,
            new MemberRef(root.GetProperty("mn").GetString()!, root.GetProperty("m").GetInt64()),
            root.GetProperty("nm").GetString()!,
            root.TryGetProperty("e", out var notice) ? ReadEvent(notice) : null);
        return (root.GetProperty("n").GetString()!, root.GetProperty("s").GetInt64(), root.GetProperty("r").GetString()!, change);
    }

    public static byte[] EncodeSnapshot(string node, long seq, IReadOnlyList<Seat> seats) => Write(Snapshot, json =>
    {
        json.WriteStartObject();
        json.WriteString("n", node);
        json.WriteNumber("s", seq);
        json.WriteStartArray("e");
        foreach (var seat in seats)
        {
            json.WriteStartArray();
            json.WriteStringValue(seat.Field);
            json.WriteStringValue(seat.Value);
            json.WriteEndArray();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    });

    public static (string Node, long Seq, List<Seat> Seats) DecodeSnapshot(JsonElement root)
    {
        var seats = new List<Seat>();
        foreach (var pair in root.GetProperty("e").EnumerateArray())
        {
            seats.Add(Seat.Parse(pair[0].GetString()!, pair[1].GetString()!));
        }

        return (root.GetProperty("n").GetString()!, root.GetProperty("s").GetInt64(), seats);
    }

    public static byte[] EncodePrivate(MemberRef to, ChatEvent line) => Write(Private, json =>
    {
        json.WriteStartObject();
        json.WriteString("n", to.Node);
        json.WriteNumber("m", to.Id);
        json.WritePropertyName("e");
        WriteEvent(json, line);
        json.WriteEndObject();
    });

    public static byte[] EncodeCutOff(MemberRef member, string reason, string message) => Write(CutOff, json =>
    {
        json.WriteStartObject();
        json.WriteString("n", member.Node);
        json.WriteNumber("m", member.Id);
        json.WriteString("why", reason);
        json.WriteString("say", message);
        json.WriteEndObject();
    });

    public static byte[] EncodeBan(string address, string by, string originNode) => Write(Ban, json =>
    {
        json.WriteStartObject();
        json.WriteString("n", originNode);
        json.WriteString("a", address);
        json.WriteString("by", by);
        json.WriteEndObject();
    });

    public static MemberRef Target(JsonElement root) => new(root.GetProperty("n").GetString()!, root.GetProperty("m").GetInt64());

    public static void WriteEvent(Utf8JsonWriter json, ChatEvent line)
    {
        json.WriteStartObject();
        json.WriteNumber("t", (int)line.Type);
        json.WriteNumber("ts", line.Timestamp.ToUnixTimeMilliseconds());
        json.WriteString("r", line.Room);
        json.WriteString("f", line.From);
        json.WriteString("x", line.Text);
        if (line.To is { } to)
        {
            json.WriteString("to", to);
        }

        if (line.Code is { } code)
        {
            json.WriteString("c", code);
        }

        json.WriteEndObject();
    }

    public static ChatEvent ReadEvent(JsonElement element) =>
        new((ChatEventType)element.GetProperty("t").GetInt32(), DateTimeOffset.FromUnixTimeMilliseconds(element.GetProperty("ts").GetInt64()))
        {
            Room = element.GetProperty("r").GetString()!,
            From = element.GetProperty("f").GetString()!,
            Text = element.GetProperty("x").GetString()!,
            To = element.TryGetProperty("to", out var to) ? to.GetString() : null,
            Code = element.TryGetProperty("c", out var code) ? code.GetString() : null,
        };

    private static byte[] Write(byte kind, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        if (kind != 0)
        {
            buffer.Write([kind]);
        }

        using (var json = new Utf8JsonWriter(buffer))
        {
            write(json);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
