using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Parley.Protocol.Chat;

/// <summary>Turns a <see cref="ChatEvent"/> into one LF-terminated line of wire bytes, in text or JSON format.</summary>
public static class ChatEventFormatter
{
    // The relaxed encoder writes 张康 as UTF-8 rather than \u escapes; it still escapes controls and quotes,
    // and nobody renders these lines as HTML.
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// The text line for an event. A replayed line starts with when it was said (UTC), so a reader tells it from
    /// a live one: <c>[2026-11-29 19:40:12] &lt;alice&gt; hi</c>.
    /// </summary>
    public static string ToText(ChatEvent e) => e.History
        ? $"[{e.Timestamp.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture)}] {LiveText(e)}"
        : LiveText(e);

    private static string LiveText(ChatEvent e) => e.Type switch
    {
        ChatEventType.Message => $"<{e.From}> {e.Text}",
        ChatEventType.Action => $"* {e.From} {e.Text}",
        ChatEventType.Private => $"*{e.From}* {e.Text}",
        ChatEventType.Join => $"* {e.From} joined #{e.Room}",
        ChatEventType.Leave => e.Text.Length > 0 ? $"* {e.From} left #{e.Room} ({e.Text})" : $"* {e.From} left #{e.Room}",
        ChatEventType.Nick => $"* {e.From} is now known as {e.To}",
        ChatEventType.Error => $"! {e.Text}",
        ChatEventType.Who => e.MemberCount is int count && count > (e.Members?.Count ?? 0)
            ? $"* {count} members in #{e.Room}, the first {e.Members?.Count ?? 0}: {string.Join(", ", e.Members ?? [])}"
            : $"* members of #{e.Room}: {string.Join(", ", e.Members ?? [])}",
        ChatEventType.Rooms => $"* rooms: {string.Join(", ", (e.Rooms ?? []).Select(r => $"#{r.Room} ({r.Members})"))}",
        ChatEventType.Pong => e.Text.Length > 0 ? $"* pong {e.Text}" : "* pong",
        ChatEventType.Topic => e.From.Length > 0 ? $"* {e.From} set the topic of #{e.Room}: {e.Text}" : $"* the topic of #{e.Room} is: {e.Text}",
        ChatEventType.Mode => $"* {e.From} set mode {e.Text}{(e.To is null ? string.Empty : " " + e.To)} on #{e.Room}",
        ChatEventType.Kick => e.Text.Length > 0 ? $"* {e.From} kicked {e.To} out of #{e.Room} ({e.Text})" : $"* {e.From} kicked {e.To} out of #{e.Room}",
        _ => $"* {e.Text}",
    };

    public static byte[] FormatText(ChatEvent chatEvent)
    {
        string line = ToText(chatEvent);
        var bytes = new byte[Encoding.UTF8.GetByteCount(line) + 1];
        Encoding.UTF8.GetBytes(line, bytes);
        bytes[^1] = (byte)'\n';
        return bytes;
    }

    public static byte[] FormatJson(ChatEvent e)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
        {
            json.WriteStartObject();
            json.WriteString("type", TypeName(e.Type));
            json.WriteString("room", e.Room);
            json.WriteString("from", e.From);
            json.WriteString("text", e.Type is ChatEventType.Who or ChatEventType.Rooms ? LiveText(e)[2..] : e.Text);
            json.WriteString("ts", e.Timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture));
            if (e.Id is long id)
            {
                json.WriteNumber("id", id);
            }

            if (e.History)
            {
                json.WriteBoolean("history", true);
            }

            if (e.Code is not null)
            {
                json.WriteString("code", e.Code);
            }

            if (e.MemberCount is int memberCount)
            {
                json.WriteNumber("count", memberCount);
            }

            if (e.To is not null)
            {
                json.WriteString("to", e.To);
            }

            if (e.Members is not null)
            {
                json.WriteStartArray("members");
                foreach (string member in e.Members)
                {
                    json.WriteStringValue(member);
                }

                json.WriteEndArray();
            }

            if (e.Rooms is not null)
            {
                json.WriteStartArray("rooms");
                foreach (var room in e.Rooms)
                {
                    json.WriteStartObject();
                    json.WriteString("name", room.Room);
                    json.WriteNumber("members", room.Members);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        }

        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    public static string TypeName(ChatEventType type) => type switch
    {
        ChatEventType.Message => "message",
        ChatEventType.Action => "action",
        ChatEventType.Private => "private",
        ChatEventType.Join => "join",
        ChatEventType.Leave => "leave",
        ChatEventType.Nick => "nick",
        ChatEventType.Notice => "notice",
        ChatEventType.Error => "error",
        ChatEventType.Who => "who",
        ChatEventType.Rooms => "rooms",
        ChatEventType.Pong => "pong",
        ChatEventType.Topic => "topic",
        ChatEventType.Mode => "mode",
        ChatEventType.Kick => "kick",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    public static bool TryParseTypeName(string name, out ChatEventType type)
    {
        foreach (var candidate in Enum.GetValues<ChatEventType>())
        {
            if (TypeName(candidate) == name)
            {
                type = candidate;
                return true;
            }
        }

        type = default;
        return false;
    }
}
