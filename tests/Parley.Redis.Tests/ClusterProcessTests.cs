using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Parley.Testing;

namespace Parley.Redis.Tests;

/// <summary>Real <c>parley serve --redis</c> processes: what an operator running several machines sees.</summary>
public sealed partial class ClusterProcessTests
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
    public async Task ChatGivenSeveralNodesMovesToTheNextWhenItsNodeDiesAndMissesNoLine()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var doomed = ParleyProcess.Start("serve", "--chat", "0", "--redis", redis.Configuration);
        await using var survivor = ParleyProcess.Start("serve", "--chat", "0", "--redis", redis.Configuration);
        string doomedAddress = await doomed.ListeningAddressAsync("chat");
        string survivorAddress = await survivor.ListeningAddressAsync("chat");
        await using var talker = await LineClient.ConnectAsync(IPEndPoint.Parse(survivorAddress));
        await talker.SendLineAsync("/nick talker");
        await talker.ExpectLineAsync("* talker joined #lobby");
        await using var reader = ParleyProcess.Start("chat", doomedAddress, survivorAddress, "--name", "reader");
        await talker.ExpectLineAsync("* reader joined #lobby");
        for (int i = 1; i <= 5; i++)
        {
            await talker.SendLineAsync($"line {i}");
        }

        await reader.ExpectLineAsync(l => Said(l) == "line 5", "the lines before its node died");

        doomed.Signal("KILL");
        for (int i = 6; i <= 10; i++)
        {
            await talker.SendLineAsync($"line {i}");
        }

        // Back on the other node under its own name once the dead node's lease is gone (8 s after its last heartbeat),
        // with the lines said meanwhile: the lease and the client's backoff take most of the usual wait by design, so
        // on a loaded machine these two get more.
        var moving = TimeSpan.FromSeconds(40);
        await talker.ExpectLineAsync("* reader joined #lobby", moving);
        await reader.ExpectLineAsync(l => Said(l) == "line 10", "the lines said while it moved", moving);
        await talker.SendLineAsync("line 11");
        await reader.ExpectLineAsync(l => Said(l) == "line 11", "a line said once it was back");
        reader.StandardInput.Close();
        Assert.Equal(0, await reader.WaitForExitAsync());
        Assert.Equal(Enumerable.Range(1, 11).Select(i => $"line {i}"), reader.StandardOutputSeen.Select(Said).OfType<string>());
        Assert.Contains($"reconnected to {survivorAddress} as reader in #lobby", reader.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RedisUnreachableAtStartIsOneLineAndExitCode2()
    {
        int nobody = Loopback.FreePort();
        await using var serve = ParleyProcess.Start("serve", "--chat", "0", "--redis", $"127.0.0.1:{nobody},password=secret");
        // StackExchange.Redis tries the connection three times before it gives up; on a loaded machine that, and the
        // process's own start, can pass the default wait.
        Assert.Equal(2, await serve.WaitForExitAsync(TimeSpan.FromSeconds(40)));
        string[] errors = serve.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal([$"parley: --redis: cannot reach Redis at 127.0.0.1:{nobody}; is redis-server running there?"], errors);
        Assert.DoesNotContain("secret", serve.StandardError, StringComparison.Ordinal);
        Assert.Empty(serve.StandardOutputSeen);
    }

    private static string? Said(string line) => SpokenLine().Match(line) is { Success: true } m ? m.Groups[1].Value : null;

    [GeneratedRegex(@"^(?:\[[0-9: -]+\] )?<talker> (.*)$")]
    private static partial Regex SpokenLine();
}
