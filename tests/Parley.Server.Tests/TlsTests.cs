using System.Security.Cryptography.X509Certificates;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

public sealed class TlsTests : IAsyncLifetime
{
    private readonly X509Certificate2 _certificate = TestCertificates.SelfSigned();
    private TestServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await TestServer.StartAsync([ServiceKind.Chat, ServiceKind.Greet, ServiceKind.Echo, ServiceKind.Irc], Framing.Line, o => o.TlsCertificate = _certificate);

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _certificate.Dispose();
    }

    [Fact]
    public async Task ChatOverTlsShowsTheConfiguredCertificateAndReachesTheRoom()
    {
        // The client refuses any certificate but the configured one, so a successful handshake proves it was shown.
        await using var alice = await LineClient.ConnectTlsAsync(_server.EndPointOf(ServiceKind.Chat), _certificate);
        await alice.SendLineAsync("/nick alice");
        await alice.ExpectLineAsync("* alice joined #lobby");

        await using var bob = await LineClient.ConnectTlsAsync(_server.EndPointOf(ServiceKind.Chat), _certificate);
        await bob.SendLineAsync("/nick bob");
        await alice.ExpectLineAsync("* bob joined #lobby");
        await bob.SendLineAsync("secret plans");
        await alice.ExpectLineAsync("<bob> secret plans");
    }

    [Fact]
    public async Task IrcOverTlsShowsTheSameCertificate()
    {
        await using var irc = await LineClient.ConnectTlsAsync(_server.EndPointOf(ServiceKind.Irc), _certificate);
        await irc.SendAsync("NICK secure\r\nUSER s 0 * :S\r\n"u8.ToArray());
        await irc.ExpectLineAsync(line => line.StartsWith(":parley 001 secure ", StringComparison.Ordinal), "the welcome");
    }

    [Fact]
    public async Task GreetAndEchoSpeakTheirUsualWordsOverTls()
    {
        await using (var greet = await LineClient.ConnectTlsAsync(_server.EndPointOf(ServiceKind.Greet), _certificate))
        {
            Assert.Equal("welcome!", await greet.ReadLineAsync());
            await greet.SendLineAsync("zhangkang");
            Assert.Equal("hello zhangkang", await greet.ReadLineAsync());
        }

        await using (var echo = await LineClient.ConnectTlsAsync(_server.EndPointOf(ServiceKind.Echo), _certificate))
        {
            await echo.SendLineAsync("张康 over tls");
            Assert.Equal("张康 over tls", await echo.ReadLineAsync());
        }
    }

    [Fact]
    public async Task APlainClientOnATlsPortIsClosedAndTheRoomNeverSeesIt()
    {
        await using var alice = await LineClient.ConnectTlsAsync(_server.EndPointOf(ServiceKind.Chat), _certificate);
        await alice.SendLineAsync("/nick alice");
        await alice.ExpectLineAsync("* alice joined #lobby");

        await using (var plainGreet = await _server.ConnectAsync(ServiceKind.Greet))
        {
            await plainGreet.SendLineAsync("zhangkang");
            Assert.Empty(await plainGreet.ReadToEndAsync());
        }

        await using (var plainChat = await _server.ConnectAsync(ServiceKind.Chat))
        {
            await plainChat.SendLineAsync("/nick mallory");
            await plainChat.SendLineAsync("in the clear");
            Assert.Empty(await plainChat.ReadToEndAsync());
        }

        await alice.SendLineAsync("/ping after");
        await alice.ExpectLineAsync("* pong after");
        Assert.DoesNotContain(alice.Seen, line => line.Contains("mallory", StringComparison.Ordinal) || line.Contains("clear", StringComparison.Ordinal));
    }
}
