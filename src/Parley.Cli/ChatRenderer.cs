using System.Globalization;
using Parley.Protocol.Chat;
using Parley.Protocol.Text;

namespace Parley.Cli;

/// <summary>
/// Turns server events into console lines. Every field is sanitised again here: the client does not trust the
/// server to have done it, so a hostile or broken server cannot paint on the user's terminal either.
/// </summary>
/// <param name="color">ANSI colours (a terminal, and NO_COLOR unset).</param>
/// <param name="timestamps">
/// Interactive use: each line starts with the local time it was said (HH:mm, with the date when it was not
/// today), as irssi shows it. Piped output keeps the server's own text format, for scripts.
/// </param>
internal sealed class ChatRenderer(bool color, bool timestamps = false)
{
    private const string Reset = "\u001b[0m";
    private const string Dim = "\u001b[2m";
    private const string Red = "\u001b[31m";
    private const string Bold = "\u001b[1m";

    // Distinct, readable on dark and light backgrounds; red is kept for errors.
    private static readonly string[] NamePalette = ["\u001b[32m", "\u001b[33m", "\u001b[34m", "\u001b[35m", "\u001b[36m", "\u001b[92m", "\u001b[94m", "\u001b[95m"];

    public bool UsesColor => color;

    public bool UsesTimestamps => timestamps;

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
        if (!timestamps && !color)
        {
            return ChatEventFormatter.ToText(clean);
        }

        // The time prefix replaces the formatter's "[yyyy-MM-dd HH:mm:ss] " mark on replayed lines.
        var live = clean with { History = false };
        string line = !color ? ChatEventFormatter.ToText(live) : live.Type switch
        {
            ChatEventType.Message => $"<{Name(live.From)}> {live.Text}",
            ChatEventType.Action => $"* {Name(live.From)} {live.Text}",
            ChatEventType.Private => $"{Bold}*{Reset}{Name(live.From)}{Bold}*{Reset} {live.Text}",
            ChatEventType.Error => $"{Red}{ChatEventFormatter.ToText(live)}{Reset}",
            _ => $"{Dim}{ChatEventFormatter.ToText(live)}{Reset}",
        };
        return Stamp(e.Timestamp, line);
    }

    /// <summary>The user's own line, shown as the others see it.</summary>
    public string RenderOwn(string name, string text) => Stamp(DateTimeOffset.Now, color ? $"<{Name(name)}> {text}" : $"<{name}> {text}");

    /// <summary>The user's own action (<c>/me</c>).</summary>
    public string RenderOwnAction(string name, string text) => Stamp(DateTimeOffset.Now, color ? $"* {Name(name)} {text}" : $"* {name} {text}");

    /// <summary>A private message the user sent: the server does not echo it, so the client shows it (as irssi does).</summary>
    public string RenderSentPrivate(string to, string text) => Stamp(DateTimeOffset.Now, color ? $"-> {Bold}*{Reset}{Name(to)}{Bold}*{Reset} {text}" : $"-> *{to}* {text}");

    /// <summary>Something the client itself says (a key list, why a line was not sent).</summary>
    public string RenderLocal(string text, bool error = false) =>
        Stamp(DateTimeOffset.Now, color ? $"{(error ? Red : Dim)}{(error ? "! " : "* ")}{text}{Reset}" : $"{(error ? "! " : "* ")}{text}");

    /// <summary>Between replayed lines and the first live one.</summary>
    public string RenderHistoryEnd() => color ? $"{Dim}-- end of history --{Reset}" : "-- end of history --";

    private string Stamp(DateTimeOffset when, string line)
    {
        if (!timestamps)
        {
            return line;
        }

        var local = when.ToLocalTime();
        string format = local.Date == DateTimeOffset.Now.Date ? "HH:mm" : "yyyy-MM-dd HH:mm";
        string stamp = local.ToString(format, CultureInfo.InvariantCulture);
        return color ? $"{Dim}{stamp}{Reset} {line}" : $"{stamp} {line}";
    }

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
