namespace Parley.Protocol.Chat;

/// <summary>
/// A member's identity across every node of a chat: the node it is connected to and its number there. Names change;
/// this does not, so rosters and the name registry key on it.
/// </summary>
public readonly record struct MemberRef(string Node, long Id)
{
    public override string ToString() => $"{Node}/{Id}";
}
