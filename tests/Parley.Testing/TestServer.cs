using System.Net;
using Microsoft.Extensions.Logging;
using Parley.Server.Hosting;
using Xunit;

namespace Parley.Testing;

/// <summary>The real server, in process, on ephemeral loopback ports.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private TestServer(ParleyServer server, ServerOptions options)
    {
        Server = server;
        Options = options;
    }

    public ParleyServer Server { get; }

    public ServerOptions Options { get; }

    public static async Task<TestServer> StartAsync(Action<ServerOptions> configure)
    {
        // History in memory unless a test asks otherwise: the default SQLite file lives in the user's data directory.
        var options = new ServerOptions { History = HistoryMode.Memory };
        configure(options);
        var server = await ParleyServer.StartAsync(options, logging => logging.ClearProviders()).DefaultTimeout();
        return new TestServer(server, options);
    }

    /// <summary>One service of each kind given, each on a port the kernel picks.</summary>
    public static Task<TestServer> StartAsync(params ServiceKind[] services) => StartAsync(services, Framing.Line);

    public static Task<TestServer> StartAsync(ServiceKind[] services, Framing framing, Action<ServerOptions>? configure = null) => StartAsync(options =>
    {
        foreach (var kind in services)
        {
            options.Services.Add(new ServiceBinding(kind, 0));
        }

        options.Framing = framing;
        configure?.Invoke(options);
    });

    public IPEndPoint EndPointOf(ServiceKind kind) => Server.EndPointOf(kind);

    public Task<LineClient> ConnectAsync(ServiceKind kind = ServiceKind.Chat) => LineClient.ConnectAsync(EndPointOf(kind));

    /// <summary>Connects to chat with the name sent first, and returns once the server has seen it join.</summary>
    public async Task<LineClient> JoinChatAsync(string name)
    {
        var client = await ConnectAsync();
        await client.SendLineAsync($"/nick {name}");
        await client.ExpectLineAsync($"* {name} joined #lobby");
        return client;
    }

    /// <summary>Joins chat as <paramref name="name"/>, connecting again for as long as the server answers that it is full.</summary>
    public async Task<LineClient> RetryJoinChatAsync(string name, TimeSpan? within = null)
    {
        using var deadline = new CancellationTokenSource(within ?? TaskTimeoutExtensions.DefaultWait);
        while (true)
        {
            var client = await ConnectAsync();
            await client.SendLineAsync($"/nick {name}");
            string? line;
            do
            {
                // Replayed lines and the private welcome come first; a full server answers with one error line.
                line = await client.ReadLineAsync();
                if (line == $"* {name} joined #lobby")
                {
                    return client;
                }
            }
            while (line is not null && !line.StartsWith("! ", StringComparison.Ordinal));

            await client.DisposeAsync();
            Assert.False(deadline.IsCancellationRequested, $"no slot was freed; last answer: {line}");
        }
    }

    public Task StopAsync() => Server.StopAsync().DefaultTimeout(TimeSpan.FromSeconds(10));

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
