using System.Globalization;
using System.Text.Json;
using Parley.Protocol.Text;

namespace Parley.Protocol.Chat;

/// <summary>
/// Reads the JSON format back into events, for clients. Unknown fields are ignored so the server can add some.
/// Every string is sanitised: a client shows what it gets, and a server (or whatever answers in its place) could
/// send raw DEL or an escaped ESC inside valid JSON.
/// </summary>
public static class ChatEventParser
{
    public static bool TryParse(ReadOnlySpan<byte> line, out ChatEvent chatEvent)
    {
        chatEvent = null!;
        try
        {
            var reader = new Utf8JsonReader(line);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("type", out var typeElement)
                || typeElement.ValueKind != JsonValueKind.String
                || !ChatEventFormatter.TryParseTypeName(typeElement.GetString()!, out var type))
            {
                return false;
            }

            var timestamp = root.TryGetProperty("ts", out var ts) && ts.ValueKind == JsonValueKind.String
                && DateTimeOffset.TryParse(ts.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)
                ? parsed
                : DateTimeOffset.UtcNow;

            chatEvent = new ChatEvent(type, timestamp)
            {
                Room = StringOf(root, "room") ?? string.Empty,
                From = StringOf(root, "from") ?? string.Empty,
                Text = StringOf(root, "text") ?? string.Empty,
                To = StringOf(root, "to"),
                Id = root.TryGetProperty("id", out var id) && id.TryGetInt64(out long value) ? value : null,
                History = root.TryGetProperty("history", out var history) && history.ValueKind == JsonValueKind.True,
                Code = StringOf(root, "code"),
                Members = root.TryGetProperty("members", out var members) && members.ValueKind == JsonValueKind.Array
                    ? members.EnumerateArray().Select(m => TextSanitizer.Sanitize(m.GetString() ?? string.Empty)).ToArray()
                    : null,
                Rooms = root.TryGetProperty("rooms", out var rooms) && rooms.ValueKind == JsonValueKind.Array
                    ? rooms.EnumerateArray().Select(r => new RoomCount(StringOf(r, "name") ?? string.Empty,
                        r.TryGetProperty("members", out var n) && n.TryGetInt32(out int count) ? count : 0)).ToArray()
                    : null,
            };
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static string? StringOf(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? TextSanitizer.Sanitize(value.GetString()!)
            : null;
}
