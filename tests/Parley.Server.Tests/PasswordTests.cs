using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public class PasswordTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync([ServiceKind.Chat], Framing.Line, o => o.Password = "s3cret 张");

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task TheRightPasswordFirstLetsAClientIn()
    {
        await using var alice = await _server.ConnectAsync();
        await alice.SendAsync("/pass s3cret 张\n/nick alice\n"u8.ToArray());
        await alice.ExpectLineAsync("* alice joined #lobby");
    }

    [Theory]
    [InlineData("/nick mallory", "! password required: send /pass PASSWORD first")]
    [InlineData("/pass guess", "! wrong password")]
    [InlineData("/pass s3cret", "! wrong password")]
    public async Task AnyOtherFirstLineIsRefusedAndTheRoomNeverHearsOfIt(string first, string refusal)
    {
        await using var alice = await _server.ConnectAsync();
        await alice.SendLineAsync("/pass s3cret 张");
        await alice.SendLineAsync("/nick alice");
        await alice.ExpectLineAsync("* alice joined #lobby");

        await using var mallory = await _server.ConnectAsync();
        await mallory.SendLineAsync(first);
        await mallory.SendLineAsync("can anyone hear me?");
        Assert.Equal([refusal], await mallory.ReadToEndAsync());

        await alice.SendLineAsync("/ping after");
        await alice.ExpectLineAsync("* pong after");
        // Alice's own welcome names her guest name; nothing else may mention a guest.
        Assert.DoesNotContain(alice.Seen, l => l.Contains("mallory", StringComparison.Ordinal) || l.Contains("anyone", StringComparison.Ordinal)
            || (l.Contains("guest", StringComparison.Ordinal) && !l.StartsWith("* you are guest-", StringComparison.Ordinal)));
    }
}
