using Parley.Protocol.Chat;

namespace Parley.Server.History;

/// <summary>Which page of a room's history to read.</summary>
public enum HistoryDirection
{
    /// <summary>The most recent lines.</summary>
    Latest,

    /// <summary>Lines with ids below <see cref="HistoryQuery.Id"/>: the page before it.</summary>
    Before,

    /// <summary>Lines with ids above <see cref="HistoryQuery.Id"/>: what a client that saw that id missed.</summary>
    After,
}

/// <summary>A page of a room's history; <see cref="Limit"/> lines at most, always returned oldest first.</summary>
public readonly record struct HistoryQuery(HistoryDirection Direction, long Id, int Limit)
{
    public static HistoryQuery Latest(int limit) => new(HistoryDirection.Latest, 0, limit);
}

/// <summary>Why lines of a room were not kept.</summary>
public enum HistoryLossReason
{
    /// <summary>The write queue was full: the disk fell behind the room, and lines were relayed but not kept.</summary>
    QueueFull,

    /// <summary>The store failed to write them (a full disk, an I/O error): history is unavailable until it recovers.</summary>
    WriteFailed,
}

/// <summary>Lines of the room with key <see cref="RoomKey"/> were relayed but not kept.</summary>
public readonly record struct HistoryLoss(string RoomKey, HistoryLossReason Reason);

/// <summary>
/// What a room keeps of what was said: messages, actions and topic changes (never private messages), by id.
/// Rooms are named by their key (<see cref="ChatNames.Key"/>); the events carry the room's display name.
/// </summary>
/// <remarks>
/// <see cref="Append"/> is on the relay path and must never wait on storage: a store queues the line and writes
/// in the background. Reads may wait; they run when a member enters a room or asks for a page.
/// </remarks>
public interface IRoomHistory : IAsyncDisposable
{
    /// <summary>
    /// The highest id the room has ever given, or 0. Asked when a room is first used in this process, so a room's
    /// ids carry on above every id it gave before: after it emptied, and after a restart of a persistent store.
    /// </summary>
    ValueTask<long> LastIdAsync(string roomKey, CancellationToken cancellation = default);

    /// <summary>Keeps a room line (it has its <see cref="ChatEvent.Id"/>). Returns at once; the write happens later.</summary>
    void Append(string roomKey, ChatEvent line);

    /// <summary>A page of the room's lines, oldest first, each marked <see cref="ChatEvent.History"/>.</summary>
    ValueTask<IReadOnlyList<ChatEvent>> ReadAsync(string roomKey, HistoryQuery query, CancellationToken cancellation = default);

    /// <summary>The room's latest topic line (<see cref="ChatEventType.Topic"/>), or null when it never had one.</summary>
    ValueTask<ChatEvent?> TopicAsync(string roomKey, CancellationToken cancellation = default);

    /// <summary>
    /// Raised when lines of a room were relayed but not kept, so the room can be told (nothing is lost silently). A
    /// store raises it at most once per room per batch it writes, not per line, and never under a lock of its own; it
    /// may be raised on the relay's thread (inside <see cref="Append"/>) or on the store's writer.
    /// </summary>
    event Action<HistoryLoss>? LinesNotKept;

    /// <summary>False while the store is failing (a full disk, say): chat goes on and members are told history is unavailable.</summary>
    bool IsAvailable { get; }
}
