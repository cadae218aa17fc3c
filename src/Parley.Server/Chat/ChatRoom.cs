namespace Parley.Server.Chat;

/// <summary>
/// A room's members as an immutable snapshot: the hub swaps in a new array under its lock when someone joins
/// or leaves, and a broadcast reads whichever array is current without locking.
/// </summary>
internal sealed class ChatRoom(string name)
{
    private ChatMember[] _members = [];
    private long _lastMessageId;

    public string Name { get; } = name;

    public ChatMember[] Members => Volatile.Read(ref _members);

    /// <summary>
    /// Held while a message is numbered and queued to every member, so every member sees the room's lines in the
    /// same order and ids only increase. Queueing never blocks, so no I/O happens under it.
    /// </summary>
    public Lock BroadcastGate { get; } = new();

    public long NextMessageId() => ++_lastMessageId;

    internal void Add(ChatMember member) => Volatile.Write(ref _members, [.. _members, member]);

    internal void Remove(ChatMember member) => Volatile.Write(ref _members, Array.FindAll(_members, m => m != member));
}
