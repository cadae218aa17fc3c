using System.Diagnostics;
using System.Net;
using Parley.Testing;

namespace Parley.Redis.Tests;

/// <summary>Real <c>parley serve --redis</c> processes: what an operator running several machines sees.</summary>
public sealed class ClusterProcessTests
{
    [Fact]
    public async Task ANodeKilledWithSigkillHasItsMembersLeaveEveryonesViewWithin15Seconds()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var doomed = ParleyProcess.Start("serve", "--chat", "0", "--redis", redis.Configuration);
        await using var survivor = ParleyProcess.Start(new Dictionary<string, string> { ["PARLEY_REDIS"] = redis.Configuration }, "serve", "--chat", "0");
        await using var alice = await LineClient.ConnectAsync(IPEndPoint.Parse(await doomed.ListeningAddressAsync("chat")));
        await using var bob = await LineClient.ConnectAsync(IPEndPoint.Parse(await survivor.ListeningAddressAsync("chat")));
        await bob.SendLineAsync("/nick bob");
        await bob.ExpectLineAsync("* bob joined #lobby");
        await alice.SendLineAsync("/nick alice");
        await bob.ExpectLineAsync("* alice joined #lobby");

        doomed.Signal("KILL");
        var clock = Stopwatch.StartNew();
        string left = await bob.ExpectLineAsync(line => line.StartsWith("* alice left #lobby", StringComparison.Ordinal), "alice left");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"alice left everyone's view {clock.Elapsed.TotalSeconds:0.0} s after her node died");
        Assert.Equal("* alice left #lobby (server lost)", left);

        await bob.SendLineAsync("/msg alice are you there?");
        await bob.ExpectLineAsync("! no such user: alice");
        await using var newAlice = await LineClient.ConnectAsync(IPEndPoint.Parse(survivor.StandardOutputSeen[0][(survivor.StandardOutputSeen[0].LastIndexOf(' ') + 1)..]));
        await newAlice.SendLineAsync("/nick alice");
        await bob.ExpectLineAsync("* alice joined #lobby");
    }

    [Fact]
    public async Task RedisUnreachableAtStartIsOneLineAndExitCode2()
    {
        int nobody = Loopback.FreePort();
        await using var serve = ParleyProcess.Start("serve", "--chat", "0", "--redis", $"127.0.0.1:{nobody},password=secret");
        Assert.Equal(2, await serve.WaitForExitAsync());
        string[] errors = serve.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal([$"parley: --redis: cannot reach Redis at 127.0.0.1:{nobody}; is redis-server running there?"], errors);
        Assert.DoesNotContain("secret", serve.StandardError, StringComparison.Ordinal);
        Assert.Empty(serve.StandardOutputSeen);
    }
}
