using System.Text.Json;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>History on a real SQLite file across a restart of the server: replay, paging and ids carry on.</summary>
public sealed class HistoryRestartTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("parley-restart-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task WhatWasSaidIsReplayedAfterARestartAndIdsCarryOn()
    {
        string file = Path.Combine(_directory, "history.db");
        await using (var before = await StartAsync(file))
        {
            await using var alice = await before.JoinChatAsync("alice");
            await alice.SendLineAsync("/join dev");
            await alice.ExpectLineAsync("* alice joined #dev");
            await alice.SendLineAsync("/topic plans");
            await alice.ExpectLineAsync("* alice set the topic of #dev: plans");
            for (int i = 1; i <= 30; i++)
            {
                await alice.SendLineAsync($"line {i}");
            }

            await alice.SendLineAsync("/ping said");
            await alice.ExpectLineAsync("* pong said");
        }

        await using var after = await StartAsync(file);
        await using var bob = await after.ConnectAsync();
        await bob.SendLineAsync("/format json");
        await bob.SendLineAsync("/join dev");
        await bob.SendLineAsync("/ping joined");
        await bob.ExpectLineAsync(l => l.Contains("\"type\":\"pong\"", StringComparison.Ordinal), "the pong");
        var replay = bob.Seen.Select(Parse).Where(e => e.Type == "message" && e.Room == "dev").ToList();
        Assert.All(replay, e => Assert.True(e.History));
        Assert.Equal(Enumerable.Range(11, 20).Select(i => $"line {i}"), replay.Select(e => e.Text));
        Assert.Contains(bob.Seen.Select(Parse), e => e.Type == "topic" && e.Text == "plans");

        await bob.SendLineAsync("/history before 5 3");
        await bob.SendLineAsync("/ping paged");
        await bob.ExpectLineAsync(l => l.Contains("pong", StringComparison.Ordinal) && l.Contains("paged", StringComparison.Ordinal), "the second pong");
        var page = bob.Seen.Select(Parse).Where(e => e.History).TakeLast(3).ToList();
        Assert.Equal([2L, 3, 4], page.Select(e => e.Id));

        await using var carol = await after.JoinChatAsync("carol");
        await carol.SendLineAsync("/join dev");
        await carol.ExpectLineAsync("* carol joined #dev");
        await carol.SendLineAsync("after the restart");
        var live = Parse(await bob.ExpectLineAsync(l => l.Contains("after the restart", StringComparison.Ordinal), "the live line"));
        Assert.False(live.History);
        Assert.Equal(32, live.Id);
    }

    private static Task<TestServer> StartAsync(string file) =>
        TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o =>
        {
            o.History = HistoryMode.Sqlite;
            o.HistoryPath = file;
        });

    private static Event Parse(string line)
    {
        if (!line.StartsWith('{'))
        {
            return new Event(string.Empty, string.Empty, line, null, false);
        }

        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        return new Event(
            root.GetProperty("type").GetString()!,
            root.GetProperty("room").GetString()!,
            root.GetProperty("text").GetString()!,
            root.TryGetProperty("id", out var id) ? id.GetInt64() : null,
            root.TryGetProperty("history", out var history) && history.GetBoolean());
    }

    private sealed record Event(string Type, string Room, string Text, long? Id, bool History);
}
