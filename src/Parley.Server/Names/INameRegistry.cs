using Parley.Protocol.Chat;

namespace Parley.Server.Names;

/// <summary>
/// Who holds which name, across every node of a chat. Names are compared by key (<see cref="ChatNames.Key"/>:
/// NFC, case-insensitive). In process by default; shared in Redis when several nodes are one chat.
/// </summary>
public interface INameRegistry
{
    /// <summary>Takes the name for <paramref name="owner"/>; false when someone else holds it. Taking one's own name again is true.</summary>
    ValueTask<bool> TryClaimAsync(string name, MemberRef owner, CancellationToken cancellation = default);

    /// <summary>Frees the name if <paramref name="owner"/> holds it.</summary>
    ValueTask ReleaseAsync(string name, MemberRef owner, CancellationToken cancellation = default);

    /// <summary>Who holds the name, if anyone.</summary>
    ValueTask<MemberRef?> FindAsync(string name, CancellationToken cancellation = default);

    /// <summary>A number for the next guest (<c>guest-N</c>), never given twice while the chat runs.</summary>
    ValueTask<long> NextGuestNumberAsync(CancellationToken cancellation = default);
}
