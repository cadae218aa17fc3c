using System.Collections.Concurrent;
using System.Globalization;
using Parley.Protocol.Chat;
using Parley.Server.Bus;
using Parley.Server.Names;
using StackExchange.Redis;

namespace Parley.Redis;

/// <summary>
/// Names across nodes. A name's key holds its holder (<c>node/member</c>); the lease is the holder's node key, which a
/// live node renews at every heartbeat. A name whose node stopped heartbeating is free: claiming it or looking it up
/// finds the node key gone, so a dead node's names come free when its key expires, with no renewal per name. Taking a
/// dead node's name also tells every node that the node is gone, before the new holder is announced anywhere.
/// </summary>
internal sealed class RedisNameRegistry(RedisChatCluster cluster) : INameRegistry
{
    private const string ClaimScript = """
        local holder = redis.call('GET', KEYS[1])
        if holder and holder ~= ARGV[1] then
          local node = string.match(holder, '^(.*)/')
          if node and redis.call('EXISTS', ARGV[2] .. node) == 1 then return 0 end
          if node then redis.call('PUBLISH', ARGV[3], 'G' .. node) end
        end
        redis.call('SET', KEYS[1], ARGV[1])
        return 1
        """;

    private const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
        return 1
        """;

    private const string FindScript = """
        local holder = redis.call('GET', KEYS[1])
        if not holder then return false end
        local node = string.match(holder, '^(.*)/')
        if not node or redis.call('EXISTS', ARGV[1] .. node) == 0 then
          redis.call('DEL', KEYS[1])
          return false
        end
        return holder
        """;

    // The names this node's members hold, to claim again after an outage; and those freed while Redis was out.
    private readonly ConcurrentDictionary<string, (string Name, MemberRef Owner)> _held = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Name, MemberRef Owner)> _unreleased = new(StringComparer.Ordinal);

    public int HeldCount => _held.Count;

    public async ValueTask<bool> TryClaimAsync(string name, MemberRef owner, CancellationToken cancellation = default)
    {
        string key = ChatNames.Key(name);
        var claimed = (long)await RunAsync(ClaimScript, RedisKeys.Name(key), owner.ToString(), RedisKeys.NodePrefix, RedisKeys.BusChannelName) == 1;
        if (claimed)
        {
            _held[key] = (name, owner);
            _unreleased.TryRemove(key, out _);
        }

        return claimed;
    }

    public async ValueTask ReleaseAsync(string name, MemberRef owner, CancellationToken cancellation = default)
    {
        string key = ChatNames.Key(name);
        if (_held.TryGetValue(key, out var held) && held.Owner == owner)
        {
            _held.TryRemove(key, out _);
        }

        try
        {
            await RunAsync(ReleaseScript, RedisKeys.Name(key), owner.ToString(), string.Empty);
        }
        catch (BusUnavailableException)
        {
            // Leaving never fails: the name is let go when Redis is back (until then it stays with this live node).
            _unreleased[key] = (name, owner);
        }
    }

    public async ValueTask<MemberRef?> FindAsync(string name, CancellationToken cancellation = default)
    {
        var holder = await RunAsync(FindScript, RedisKeys.Name(ChatNames.Key(name)), RedisKeys.NodePrefix, string.Empty);
        if (holder.IsNull)
        {
            return null;
        }

        string text = holder.ToString();
        int slash = text.LastIndexOf('/');
        return new MemberRef(text[..slash], long.Parse(text.AsSpan(slash + 1), CultureInfo.InvariantCulture));
    }

    public async ValueTask<long> NextGuestNumberAsync(CancellationToken cancellation = default)
    {
        try
        {
            return await cluster.Database.StringIncrementAsync(RedisKeys.Guests);
        }
        catch (Exception ex) when (RedisChatCluster.IsUnreachable(ex))
        {
            throw new BusUnavailableException(RedisChatCluster.Describe(ex), ex);
        }
    }

    /// <summary>
    /// After an outage: lets go of the names freed meanwhile and claims this node's names again. Returns the names
    /// someone else took while this node was taken for dead.
    /// </summary>
    public async Task<List<(string Name, MemberRef Owner)>> ReclaimAsync()
    {
        foreach (var (key, (name, owner)) in _unreleased.ToArray())
        {
            await RunAsync(ReleaseScript, RedisKeys.Name(key), owner.ToString(), string.Empty);
            _unreleased.TryRemove(key, out _);
        }

        var lost = new List<(string, MemberRef)>();
        foreach (var (key, (name, owner)) in _held.ToArray())
        {
            if ((long)await RunAsync(ClaimScript, RedisKeys.Name(key), owner.ToString(), RedisKeys.NodePrefix, RedisKeys.BusChannelName) != 1)
            {
                _held.TryRemove(key, out _);
                lost.Add((name, owner));
            }
        }

        return lost;
    }

    private async Task<RedisResult> RunAsync(string script, RedisKey key, string first, string second, string third = "")
    {
        try
        {
            return await cluster.Database.ScriptEvaluateAsync(script, [key], [first, second, third]);
        }
        catch (Exception ex) when (RedisChatCluster.IsUnreachable(ex))
        {
            throw new BusUnavailableException(RedisChatCluster.Describe(ex), ex);
        }
    }
}
