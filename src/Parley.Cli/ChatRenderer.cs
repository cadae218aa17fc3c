using Parley.Protocol.Chat;
using Parley.Protocol.Text;

namespace Parley.Cli;

/// <summary>
/// Turns server events into console lines. Every field is sanitised again here: the client does not trust the
/// server to have done it, so a hostile or broken server cannot paint on the user's terminal either.
/// </summary>
internal sealed class ChatRenderer(bool color)
{
    private const string Reset = "\u001b[0m";
    private const string Dim = "\u001b[2m";
    private const string Red = "\u001b[31m";
    private const string Bold = "\u001b[1m";

    // Distinct, readable on dark and light backgrounds; red is kept for errors.
    private static readonly string[] NamePalette = ["\u001b[32m", "\u001b[33m", "\u001b[34m", "\u001b[35m", "\u001b[36m", "\u001b[92m", "\u001b[94m", "\u001b[95m"];

    public bool UsesColor => color;

    public string Render(ChatEvent e)
    {
        var clean = e with
        {
            Room = TextSanitizer.Sanitize(e.Room),
            From = TextSanitizer.Sanitize(e.From),
            Text = TextSanitizer.Sanitize(e.Text),
            To = e.To is null ? null : TextSanitizer.Sanitize(e.To),
            Members = e.Members?.Select(TextSanitizer.Sanitize).ToArray(),
            Rooms = e.Rooms?.Select(r => r with { Room = TextSanitizer.Sanitize(r.Room) }).ToArray(),
        };
        if (!color)
        {
            return ChatEventFormatter.ToText(clean);
        }

        return clean.Type switch
        {
            ChatEventType.Message => $"<{Name(clean.From)}> {clean.Text}",
            ChatEventType.Action => $"* {Name(clean.From)} {clean.Text}",
            ChatEventType.Private => $"{Bold}*{Reset}{Name(clean.From)}{Bold}*{Reset} {clean.Text}",
            ChatEventType.Error => $"{Red}{ChatEventFormatter.ToText(clean)}{Reset}",
            _ => $"{Dim}{ChatEventFormatter.ToText(clean)}{Reset}",
        };
    }

    /// <summary>The user's own line, shown as the others see it.</summary>
    public string RenderOwn(string name, string text) => color ? $"<{Name(name)}> {text}" : $"<{name}> {text}";

    private static string Name(string name)
    {
        // A stable colour per name, so a conversation is easy to follow; string.GetHashCode is randomised per process.
        uint hash = 2166136261;
        foreach (char c in name)
        {
            hash = (hash ^ c) * 16777619;
        }

        return $"{NamePalette[hash % (uint)NamePalette.Length]}{name}{Reset}";
    }
}
