using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Server.Bus;
using Parley.Server.History;
using Parley.Server.Hosting;
using Parley.Server.Names;
using StackExchange.Redis;

namespace Parley.Redis;

/// <summary>
/// Makes every <c>parley serve</c> that names the same Redis one chat (<c>--redis</c>): the bus, the name registry and
/// the history on one StackExchange.Redis connection, a heartbeat that keeps this node's lease alive and finds nodes
/// that died, and the resynchronisation when Redis comes back. docs/cluster.md says what this guarantees.
/// </summary>
public sealed class RedisChatCluster : IChatCluster
{
    /// <summary>
    /// How long a node's lease lives without a heartbeat. A dead node's members leave every roster at most this plus
    /// one <see cref="HeartbeatInterval"/> after its last heartbeat: 10 s, inside the 15 s PROTOCOL.md promises.
    /// </summary>
    internal static readonly TimeSpan NodeTimeToLive = TimeSpan.FromSeconds(8);

    internal static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(2);

    private const string HeartbeatScript = """
        local existed = redis.call('EXISTS', KEYS[1])
        redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
        redis.call('SADD', KEYS[2], ARGV[1])
        redis.call('PEXPIRE', KEYS[3], ARGV[2])
        return existed
        """;

    private readonly string _configuration;
    private readonly RedisNameRegistry _names;
    private readonly RedisRoomHistory _history;
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _resyncGate = new(1, 1);
    private RedisRoomBus? _bus;
    private ConnectionMultiplexer? _redis;
    private ILogger _logger = NullLogger.Instance;
    private Task _heartbeat = Task.CompletedTask;
    private volatile bool _resyncNeeded;
    private DateTimeOffset _checkNodesAfter;

    /// <param name="options">The server's options: <see cref="ServerOptions.Redis"/> and <see cref="ServerOptions.HistoryKeep"/>.</param>
    public RedisChatCluster(ServerOptions options)
    {
        _configuration = options.Redis ?? throw new ArgumentException("--redis is not set", nameof(options));
        HistoryKeep = options.HistoryKeep;
        _names = new RedisNameRegistry(this);
        _history = new RedisRoomHistory(this);
    }

    public IRoomBus Bus => _bus ??= new RedisRoomBus(this);

    public INameRegistry Names => _names;

    public IRoomHistory History => _history;

    internal int HistoryKeep { get; }

    /// <summary>A node id for a process with no chat hub (no member is ever made there).</summary>
    internal string FallbackNodeId { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    internal ILogger Logger => _logger;

    internal bool IsConnected => _redis?.IsConnected == true;

    internal IDatabase Database => _redis?.GetDatabase() ?? throw new BusUnavailableException("not connected to Redis yet");

    private RedisRoomBus RoomBus => (RedisRoomBus)Bus;

    public async Task ConnectAsync(ILoggerFactory loggers, CancellationToken cancellation)
    {
        _logger = loggers.CreateLogger("Parley.Redis");
        ConfigurationOptions config;
        try
        {
            config = ConfigurationOptions.Parse(_configuration);
        }
        catch (ArgumentException ex)
        {
            throw new ServerStartException($"--redis: '{_configuration}' is not a Redis configuration ({ex.Message})", ex);
        }

        if (config.EndPoints.Count == 0)
        {
            throw new ServerStartException($"--redis: '{_configuration}' names no Redis server (try localhost:6379)", new ArgumentException("no endpoints"));
        }

        // Unreachable at start: one line and exit 2, rather than a node that looks up but is not part of the chat.
        config.AbortOnConnectFail = true;
        // While Redis is away a line is refused at once (its sender is told), never queued to go out late and out of order.
        config.BacklogPolicy = BacklogPolicy.FailFast;
        config.ReconnectRetryPolicy = new LinearRetry(1000);
        config.ClientName ??= $"parley-{RoomBus.NodeId}";
        string endPoints = string.Join(", ", config.EndPoints.Select(e => e is System.Net.DnsEndPoint dns ? $"{dns.Host}:{dns.Port}" : e.ToString()));
        try
        {
            _redis = await ConnectionMultiplexer.ConnectAsync(config).WaitAsync(cancellation);
        }
        catch (RedisConnectionException ex)
        {
            throw new ServerStartException($"--redis: cannot reach Redis at {endPoints}; is redis-server running there?", ex);
        }

        _redis.ConnectionFailed += (_, e) =>
        {
            _resyncNeeded = true;
            if (e.ConnectionType == ConnectionType.Interactive)
            {
                RedisLog.Lost(_logger, e.FailureType.ToString());
            }
        };
        _redis.ConnectionRestored += (_, _) => _resyncNeeded = true;

        try
        {
            await HeartbeatAsync();
            await RoomBus.StartAsync(_redis.GetSubscriber());
        }
        catch (Exception ex) when (IsUnreachable(ex))
        {
            await _redis.DisposeAsync();
            throw new ServerStartException($"--redis: Redis at {endPoints} did not answer: {Describe(ex)}", ex);
        }

        RedisLog.Connected(_logger, RoomBus.NodeId, endPoints);
        _heartbeat = Task.Run(() => BeatAsync(_stopping.Token), CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _heartbeat;
        _bus?.Complete();
        if (_bus is not null)
        {
            await _bus.Stopped;
        }

        if (_redis is { } redis)
        {
            // Let the lease go at once: this node's names are free and its members gone for the others now, not in 8 s.
            try
            {
                if (redis.IsConnected)
                {
                    var db = redis.GetDatabase();
                    await db.KeyDeleteAsync([RedisKeys.Node(RoomBus.NodeId), RedisKeys.NodeMembers(RoomBus.NodeId)]);
                    await db.SetRemoveAsync(RedisKeys.Nodes, RoomBus.NodeId);
                }
            }
            catch (Exception ex) when (IsUnreachable(ex))
            {
                // The lease expires by itself.
            }

            await redis.DisposeAsync();
        }

        _bus?.Dispose();
        _stopping.Dispose();
    }

    internal static bool IsUnreachable(Exception ex) => ex is RedisException or ObjectDisposedException or BusUnavailableException;

    /// <summary>Why Redis could not be used, in a few words (the log keeps the exception).</summary>
    internal static string Describe(Exception ex) => ex switch
    {
        RedisConnectionException => "no connection to Redis",
        RedisTimeoutException => "Redis did not answer in time",
        RedisServerException server => $"Redis refused: {server.Message}",
        _ => "Redis cannot be used right now",
    };

    private async Task BeatAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                if (!IsConnected)
                {
                    // The others' leases cannot be checked from here; give them a beat to renew once Redis is back.
                    _checkNodesAfter = DateTimeOffset.UtcNow + HeartbeatInterval * 2;
                    continue;
                }

                try
                {
                    bool wasAlive = await HeartbeatAsync();
                    if (!wasAlive || _resyncNeeded)
                    {
                        await ResynchroniseAsync();
                    }

                    if (DateTimeOffset.UtcNow >= _checkNodesAfter)
                    {
                        await CheckNodesAsync();
                    }
                }
                catch (Exception ex) when (IsUnreachable(ex))
                {
                    _resyncNeeded = true;
                    RedisLog.ResyncFailed(_logger, Describe(ex));
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    // True when this node's lease was still there: false after an outage long enough for the others to take it for dead
    // (or a Redis that restarted empty), which calls for a resynchronisation.
    private async Task<bool> HeartbeatAsync()
    {
        string node = RoomBus.NodeId;
        var existed = await Database.ScriptEvaluateAsync(HeartbeatScript,
            [RedisKeys.Node(node), RedisKeys.Nodes, RedisKeys.NodeMembers(node)],
            [node, (long)NodeTimeToLive.TotalMilliseconds]);
        return (long)existed == 1;
    }

    private async Task ResynchroniseAsync()
    {
        await _resyncGate.WaitAsync();
        try
        {
            _resyncNeeded = false;
            var lost = await _names.ReclaimAsync();
            foreach (var (name, owner) in lost)
            {
                if (RoomBus.Subscriber is { } hub)
                {
                    await hub.OnNameLostAsync(owner, name);
                }
            }

            int seats = await RoomBus.RepublishAsync();
            RedisLog.Resynchronised(_logger, _names.HeldCount, seats, lost.Count);
        }
        catch
        {
            _resyncNeeded = true;
            throw;
        }
        finally
        {
            _resyncGate.Release();
        }
    }

    private async Task CheckNodesAsync()
    {
        var db = Database;
        foreach (string node in RoomBus.KnownNodes.ToArray())
        {
            if (!await db.KeyExistsAsync(RedisKeys.Node(node)))
            {
                await RoomBus.DropNodeAsync(node);
            }
        }
    }
}
