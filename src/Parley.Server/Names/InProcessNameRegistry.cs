using System.Collections.Concurrent;
using Parley.Protocol.Chat;

namespace Parley.Server.Names;

/// <summary>The name registry of a chat on one node (or of several hubs in one process, in tests).</summary>
internal sealed class InProcessNameRegistry : INameRegistry
{
    private readonly ConcurrentDictionary<string, MemberRef> _holders = new(StringComparer.Ordinal);
    private long _lastGuestNumber;

    public ValueTask<bool> TryClaimAsync(string name, MemberRef owner, CancellationToken cancellation = default) =>
        ValueTask.FromResult(_holders.GetOrAdd(ChatNames.Key(name), owner) == owner);

    public ValueTask ReleaseAsync(string name, MemberRef owner, CancellationToken cancellation = default)
    {
        _holders.TryRemove(new KeyValuePair<string, MemberRef>(ChatNames.Key(name), owner));
        return ValueTask.CompletedTask;
    }

    public ValueTask<MemberRef?> FindAsync(string name, CancellationToken cancellation = default) =>
        ValueTask.FromResult(_holders.TryGetValue(ChatNames.Key(name), out var holder) ? holder : (MemberRef?)null);

    public ValueTask<long> NextGuestNumberAsync(CancellationToken cancellation = default) =>
        ValueTask.FromResult(Interlocked.Increment(ref _lastGuestNumber));
}
