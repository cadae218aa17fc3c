namespace Parley.Protocol.Chat;

/// <summary>The kinds of line the chat service writes; the JSON <c>type</c> field is the lower-case name.</summary>
public enum ChatEventType
{
    Message,
    Action,
    Private,
    Join,
    Leave,
    Nick,
    Notice,
    Error,
    Who,
    Rooms,
    Pong,
    Topic,

    /// <summary>A channel mode changed: <see cref="ChatEvent.Text"/> is the change (<c>+o</c>, <c>-t</c>), <see cref="ChatEvent.To"/> whom it is about, if anyone.</summary>
    Mode,

    /// <summary>A channel operator put <see cref="ChatEvent.To"/> out of the room; <see cref="ChatEvent.Text"/> is why.</summary>
    Kick,
}

/// <summary>One room's entry in a <c>/rooms</c> answer.</summary>
public readonly record struct RoomCount(string Room, int Members);

/// <summary>
/// Something the server tells a client. It is formatted to wire bytes once per format and the same bytes go
/// to every recipient, so nothing here may depend on who receives it.
/// </summary>
public sealed record ChatEvent(ChatEventType Type, DateTimeOffset Timestamp)
{
    /// <summary>The room it happened in; empty for private messages and server answers outside a room.</summary>
    public string Room { get; init; } = string.Empty;

    /// <summary>Who said or did it; for a rename, the old name.</summary>
    public string From { get; init; } = string.Empty;

    /// <summary>The message or action text, the notice or error text, or the reason a member left.</summary>
    public string Text { get; init; } = string.Empty;

    /// <summary>For room messages and actions: increasing within a room, so a client can order and de-duplicate.</summary>
    public long? Id { get; init; }

    /// <summary>For a rename: the new name; for a mode change or a kick, whom it is about.</summary>
    public string? To { get; init; }

    /// <summary>For <c>/who</c>: the members of the room.</summary>
    public IReadOnlyList<string>? Members { get; init; }

    /// <summary>For <c>/who</c> in a room larger than the names listed: how many members it has.</summary>
    public int? MemberCount { get; init; }

    /// <summary>For <c>/rooms</c>: every room and how many are in it.</summary>
    public IReadOnlyList<RoomCount>? Rooms { get; init; }

    /// <summary>
    /// For errors and some notices: what happened, as a word a program can test (<c>name_taken</c>, <c>too_slow</c>,
    /// <c>shutting_down</c>), so clients need not match English text. JSON only.
    /// </summary>
    public string? Code { get; init; }

    /// <summary>True when the line is replayed from the room's history rather than said now.</summary>
    public bool History { get; init; }

    /// <summary>
    /// IRC's client-only tags (<c>+draft/reply=…</c>) a client attached to what it said: relayed as they came to IRC
    /// clients that negotiated message-tags, and to nobody else (other front ends have no place for them).
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>>? ClientTags { get; init; }

    /// <summary>
    /// IRC's msgid for what has no room id (private lines, TAGMSG), so a client can reply to it (<c>+draft/reply</c>);
    /// never one of a room's ids.
    /// </summary>
    public string? TagMessageId { get; init; }

    /// <summary>A TAGMSG: tags only, for IRC clients that take client tags (<see cref="Formats.ChatFormatter.TakesClientTags"/>).</summary>
    public bool IsTagsOnly => Code == TagsOnlyCode;

    /// <summary>The <see cref="Code"/> of a TAGMSG.</summary>
    public const string TagsOnlyCode = "tagmsg";
}
