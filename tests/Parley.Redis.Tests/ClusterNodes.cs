using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Redis.Tests;

/// <summary>A redis-server of the test's own and chat nodes in process on it, each on its own loopback port.</summary>
internal sealed class ClusterNodes : IAsyncDisposable
{
    private readonly List<TestServer> _nodes = [];

    private ClusterNodes(RedisServer redis) => Redis = redis;

    public RedisServer Redis { get; }

    public IReadOnlyList<TestServer> Nodes => _nodes;

    public static async Task<ClusterNodes> StartAsync(int count, Action<ServerOptions>? configure = null)
    {
        var cluster = new ClusterNodes(await RedisServer.StartAsync());
        for (int i = 0; i < count; i++)
        {
            await cluster.AddNodeAsync(configure);
        }

        return cluster;
    }

    public async Task<TestServer> AddNodeAsync(Action<ServerOptions>? configure = null)
    {
        var node = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, options =>
        {
            options.Redis = Redis.Configuration;
            configure?.Invoke(options);
            options.Cluster = new RedisChatCluster(options);
        });
        _nodes.Add(node);
        return node;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        await Redis.DisposeAsync();
    }
}
