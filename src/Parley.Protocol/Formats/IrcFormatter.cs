using System.Collections.Concurrent;
using System.Globalization;
using Parley.Protocol.Chat;
using Parley.Protocol.Framing;

namespace Parley.Protocol.Formats;

/// <summary>
/// Events as IRC lines: <c>:alice!alice@parley PRIVMSG #dev :hi</c>. What a line carries depends on the capabilities a
/// client negotiated (server-time adds <c>time</c>, message-tags adds <c>msgid</c>), and a message is formatted once per
/// formatter, so there is one formatter per combination (and server name): a room's line is rendered at most four times for IRC, however
/// many IRC members read it. Nothing here depends on who receives a line, which is why numerics (they name their
/// recipient) are written by the front end for one member, never by a formatter.
/// </summary>
public sealed class IrcFormatter : ChatFormatter
{
    /// <summary>The server's name when none is configured (<c>--irc-server-name</c>).</summary>
    public const string DefaultServerName = "parley";

    // One formatter per server name and combination of capabilities: a server has one name, so four in practice.
    private static readonly ConcurrentDictionary<(string ServerName, bool ServerTime, bool MessageTags), IrcFormatter> Formatters = new();

    private IrcFormatter(string serverName, bool serverTime, bool messageTags)
        : base(serverTime ? messageTags ? "irc+time+tags" : "irc+time" : messageTags ? "irc+tags" : "irc")
    {
        ServerName = serverName;
        ServerTime = serverTime;
        MessageTags = messageTags;
    }

    /// <summary>The server's name in its own lines, and the host part of every user's prefix.</summary>
    public string ServerName { get; }

    public bool ServerTime { get; }

    public bool MessageTags { get; }

    /// <summary>The formatter for a client's capabilities.</summary>
    public static IrcFormatter For(bool serverTime, bool messageTags) => For(DefaultServerName, serverTime, messageTags);

    /// <summary>The formatter for a client's capabilities on a server of that name.</summary>
    public static IrcFormatter For(string serverName, bool serverTime, bool messageTags) =>
        Formatters.GetOrAdd((serverName, serverTime, messageTags), key => new IrcFormatter(key.ServerName, key.ServerTime, key.MessageTags));

    /// <summary>A user as IRC shows them: <c>alice!alice@parley</c>. Every front end's users look alike.</summary>
    public static string Prefix(string name, string serverName) => $"{name}!{name}@{serverName}";

    public string Prefix(string name) => Prefix(name, ServerName);

    /// <summary>The channel of a room: room <c>dev</c> is <c>#dev</c>.</summary>
    public static string Channel(string room) => "#" + room;

    /// <summary>A room line's msgid: the room and its id, <c>dev:42</c>, unique on the server (':' is never in a room name).</summary>
    public static string MessageId(string room, long id) => string.Create(CultureInfo.InvariantCulture, $"{room}:{id}");

    /// <summary>The id in a msgid made by <see cref="MessageId"/> (or a bare number); false for anything else.</summary>
    public static bool TryParseMessageId(string msgid, out long id)
    {
        int colon = msgid.LastIndexOf(':');
        return long.TryParse(msgid.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out id);
    }

    /// <summary>The server-time tag's value: UTC with milliseconds, <c>2026-11-29T19:40:12.345Z</c>.</summary>
    public static string Time(DateTimeOffset timestamp) =>
        timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>The tags this formatter gives an event: time with server-time, msgid with message-tags.</summary>
    public List<KeyValuePair<string, string>>? TagsOf(ChatEvent e)
    {
        List<KeyValuePair<string, string>>? tags = null;
        if (ServerTime)
        {
            (tags ??= []).Add(new("time", Time(e.Timestamp)));
        }

        if (MessageTags && e.Id is long id && e.Room.Length > 0)
        {
            (tags ??= []).Add(new("msgid", MessageId(e.Room, id)));
        }
        else if (MessageTags && e.TagMessageId is { } tagMessageId)
        {
            (tags ??= []).Add(new("msgid", tagMessageId));
        }

        if (MessageTags && e.ClientTags is { } clientTags)
        {
            (tags ??= []).AddRange(clientTags);
        }

        return tags;
    }

    public override byte[] Format(ChatEvent chatEvent) => Format(chatEvent, TagsOf(chatEvent));

    public override bool TakesClientTags => MessageTags;

    /// <summary>The event with the tags given (a front end adds <c>batch</c> to a history page).</summary>
    public byte[] Format(ChatEvent e, IReadOnlyList<KeyValuePair<string, string>>? tags)
    {
        string from = e.From.Length > 0 ? Prefix(e.From) : ServerName;
        if (e.IsTagsOnly)
        {
            return IrcMessage.Format(tags, from, "TAGMSG", e.Room.Length > 0 ? Channel(e.Room) : e.To ?? "*");
        }

        return e.Type switch
        {
            ChatEventType.Message => IrcMessage.Format(tags, from, Verb(e), Channel(e.Room), Replayed(e, e.Text)),
            ChatEventType.Action => IrcMessage.Format(tags, from, "PRIVMSG", Channel(e.Room), IrcCtcp.Action(Replayed(e, e.Text))),
            // A private line has no action kind; "/me text" is how an action travels privately, from IRC or the line protocol.
            ChatEventType.Private => IrcMessage.Format(tags, from, Verb(e), e.To ?? "*", e.Text.StartsWith("/me ", StringComparison.Ordinal) ? IrcCtcp.Action(e.Text[4..]) : e.Text),
            ChatEventType.Join => IrcMessage.Format(tags, from, "JOIN", Channel(e.Room)),
            // A member that leaves the server leaves each of its rooms as one event per room, so IRC sees a PART in each
            // (a QUIT per room would be shown once per channel the two share).
            ChatEventType.Leave => e.Text.Length > 0
                ? IrcMessage.Format(tags, from, "PART", Channel(e.Room), e.Text)
                : IrcMessage.Format(tags, from, "PART", Channel(e.Room)),
            ChatEventType.Nick => IrcMessage.Format(tags, from, "NICK", e.To ?? e.From),
            ChatEventType.Topic => e.From.Length > 0
                ? IrcMessage.Format(tags, from, "TOPIC", Channel(e.Room), e.Text)
                : IrcMessage.Format(tags, ServerName, "NOTICE", "*", $"the topic of {Channel(e.Room)} is: {e.Text}"),
            ChatEventType.Mode => e.To is null
                ? IrcMessage.Format(tags, from, "MODE", Channel(e.Room), e.Text)
                : IrcMessage.Format(tags, from, "MODE", Channel(e.Room), e.Text, e.To),
            ChatEventType.Kick => IrcMessage.Format(tags, from, "KICK", Channel(e.Room), e.To ?? "*", e.Text),
            // The server closes the link after an error it sends unasked (cut off, kicked, too slow).
            ChatEventType.Error => IrcMessage.Format(null, null, "ERROR", e.Text),
            ChatEventType.Notice or ChatEventType.Who or ChatEventType.Rooms or ChatEventType.Pong =>
                IrcMessage.Format(tags, ServerName, "NOTICE", "*", ChatEventFormatter.ToText(e with { History = false })[2..]),
            _ => throw new ArgumentOutOfRangeException(nameof(e), e.Type, "an event IRC has no words for"),
        };
    }

    /// <summary>The <see cref="ChatEvent.Code"/> of a message an IRC client sent as NOTICE, relayed as NOTICE to IRC.</summary>
    public const string NoticeCode = "notice";

    private static string Verb(ChatEvent e) => e.Code == NoticeCode ? "NOTICE" : "PRIVMSG";

    // Without server-time a client cannot tell a replayed line from a live one, so the line says when it was said.
    private string Replayed(ChatEvent e, string text) => e.History && !ServerTime
        ? $"[{e.Timestamp.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}] {text}"
        : text;
}
