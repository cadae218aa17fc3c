using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Parley.Testing;

namespace Parley.Cli.Tests;

/// <summary>
/// The clients with stdin piped, as scripts use them, and their command lines (issue 16, items 3, 5, 8, 9, 10, 12).
/// </summary>
public sealed class ChatClientTests
{
    [Theory]
    [InlineData("greet")]
    [InlineData("echo")]
    public async Task ChatAtAServiceThatIsNotChatSaysSoWithExitCodeTwo(string service)
    {
        await using var serve = ParleyProcess.Start("serve", $"--{service}", "0");
        string address = await serve.ListeningAddressAsync(service);
        await using var chat = ParleyProcess.Start("chat", address, "--name", "lost");
        Assert.Equal(2, await chat.WaitForExitAsync());
        Assert.Equal($"parley: {address} does not speak Parley chat (is it the greet or echo service?)", chat.StandardError.Trim());
    }

    [Fact]
    public async Task ChatAtARawChatRoomGivesUpWithinSeconds()
    {
        // The tutorials' chat room says nothing to a newcomer: only the missing pong tells it apart.
        await using var serve = ParleyProcess.Start("serve", "--chat", "0", "--framing", "raw");
        string address = await serve.ListeningAddressAsync("chat");
        await using var chat = ParleyProcess.Start("chat", address, "--name", "lost");
        Assert.Equal(2, await chat.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal($"parley: {address} does not speak Parley chat (is it the greet or echo service?)", chat.StandardError.Trim());
    }

    [Fact]
    public async Task APlainChatClientAtATlsPortIsToldToAddTls()
    {
        var directory = Directory.CreateTempSubdirectory("parley-tls-hint-");
        try
        {
            using var certificate = TestCertificates.SelfSigned();
            var (certificateFile, keyFile) = TestCertificates.WritePem(certificate, directory.FullName);
            await using var serve = ParleyProcess.Start("serve", "--chat", "0", "--tls-cert", certificateFile, "--tls-key", keyFile);
            string address = await serve.ListeningAddressAsync("chat");
            await using var chat = ParleyProcess.Start("chat", address, "--name", "plain");
            Assert.Equal(2, await chat.WaitForExitAsync());
            Assert.Equal($"parley: {address} closed the connection before the chat began (if it is a TLS service, add --tls)", chat.StandardError.Trim());
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task APlainConnectAtATlsPortIsToldToAddTls()
    {
        var directory = Directory.CreateTempSubdirectory("parley-tls-hint-");
        try
        {
            using var certificate = TestCertificates.SelfSigned();
            var (certificateFile, keyFile) = TestCertificates.WritePem(certificate, directory.FullName);
            await using var serve = ParleyProcess.Start("serve", "--chat", "0", "--tls-cert", certificateFile, "--tls-key", keyFile);
            string address = await serve.ListeningAddressAsync("chat");
            await using var connect = ParleyProcess.Start("connect", address);
            await connect.StandardInput.WriteLineAsync("hello");
            connect.StandardInput.Close();
            Assert.Equal(0, await connect.WaitForExitAsync());
            Assert.Equal($"parley: {address} closed the connection without answering (if it is a TLS service, add --tls)", connect.StandardError.Trim());
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task TheClientTakesItsOwnPasswordVariableNotTheServers()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0", "--password", "opensesame");
        string chat = await serve.ListeningAddressAsync("chat");

        // PARLEY_PASSWORD is the server's: a client in the same shell must not send it anywhere.
        await using (var serverVariable = ParleyProcess.Start(new Dictionary<string, string> { ["PARLEY_PASSWORD"] = "opensesame" }, "chat", chat, "--name", "eve"))
        {
            Assert.Equal(2, await serverVariable.WaitForExitAsync());
            string message = serverVariable.StandardError.Trim();
            Assert.Equal($"parley: {chat} needs a password: give --password PASSWORD or set PARLEY_CHAT_PASSWORD", message);
            Assert.DoesNotContain("/pass", message, StringComparison.Ordinal);
        }

        await using var clientVariable = ParleyProcess.Start(new Dictionary<string, string> { ["PARLEY_CHAT_PASSWORD"] = "opensesame" }, "chat", chat, "--name", "ali");
        await clientVariable.StandardInput.WriteLineAsync("/who");
        clientVariable.StandardInput.Close();
        Assert.Contains("* members of #lobby: ali", await clientVariable.ReadToEndAsync());
        Assert.Equal(0, await clientVariable.WaitForExitAsync());
    }

    [Fact]
    public async Task AClientBoundForAnotherRoomIsNeverNamedInTheLobby()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0");
        string chat = await serve.ListeningAddressAsync("chat");
        await using var watcher = await LineClient.ConnectAsync(IPEndPoint.Parse(chat));
        await watcher.SendLineAsync("/nick lobbywatcher");
        await watcher.ExpectLineAsync("* lobbywatcher joined #lobby");

        await using var client = ParleyProcess.Start("chat", chat, "--name", "roomy", "--room", "dev");
        await client.StandardInput.WriteLineAsync("/who");
        client.StandardInput.Close();
        Assert.Contains("* members of #dev: roomy", await client.ReadToEndAsync());
        Assert.Equal(0, await client.WaitForExitAsync());

        await watcher.SendLineAsync("/ping done");
        await watcher.ExpectLineAsync("* pong done");
        Assert.DoesNotContain(watcher.Seen, line => line.Contains("roomy", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("unknown command 'frobnicate' (one of: serve, chat, connect, listen, bench) (see 'parley --help')", "frobnicate")]
    [InlineData("no command given (one of: serve, chat, connect, listen, bench) (see 'parley --help')")]
    [InlineData("unknown option '--frob' (see 'parley chat --help')", "chat", "127.0.0.1:1", "--frob")]
    [InlineData("HOST:PORT is missing (see 'parley connect --help')", "connect")]
    [InlineData("'abc' is not a whole number for --members (see 'parley bench fanout --help')", "bench", "fanout", "127.0.0.1:1", "-n", "abc")]
    [InlineData("--wait must be between 0 and 600 seconds", "connect", "127.0.0.1:1", "-w", "-1")]
    [InlineData("'::1:9999' is not HOST:PORT: write an IPv6 address in brackets, as [::1]:9999", "chat", "::1:9999")]
    public async Task ParseErrorsAreInTheUsersWords(string message, params string[] args)
    {
        await using var parley = ParleyProcess.Start(args);
        Assert.Equal(2, await parley.WaitForExitAsync());
        Assert.Equal($"parley: {message}", parley.StandardError.Trim());
    }

    [Fact]
    public async Task SigintEndsConnectAndListenWithExitCodeZero()
    {
        await using var serve = ParleyProcess.Start("serve", "--echo", "0");
        string echo = await serve.ListeningAddressAsync("echo");
        await using var connect = ParleyProcess.Start("connect", echo);
        await connect.StandardInput.WriteLineAsync("ping");
        await connect.ExpectLineAsync("ping");
        connect.Signal("INT");
        Assert.Equal(0, await connect.WaitForExitAsync());
        Assert.Empty(connect.StandardError);

        await using var listen = ParleyProcess.Start("listen", "0");
        string address = await WaitForListeningAsync(listen);
        await using var peer = await LineClient.ConnectAsync(IPEndPoint.Parse(address));
        await peer.SendLineAsync("hello");
        await listen.ExpectLineAsync("hello");
        listen.Signal("INT");
        Assert.Equal(0, await listen.WaitForExitAsync());
        Assert.DoesNotContain("unexpected", listen.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FanoutAgainstARateLimitedServerEndsOnTimeAndKeepsToARoomOfItsOwn()
    {
        // The server's default rate limit: the bench's lines trickle through at 20 a second per publisher.
        await using var serve = ParleyProcess.Start("serve", "--chat", "0");
        string chat = await serve.ListeningAddressAsync("chat");
        await using var watcher = await LineClient.ConnectAsync(IPEndPoint.Parse(chat));
        await watcher.SendLineAsync("/nick benchwatcher");
        await watcher.ExpectLineAsync("* benchwatcher joined #lobby");

        var clock = Stopwatch.StartNew();
        await using var bench = ParleyProcess.Start("bench", "fanout", chat, "-n", "3", "-p", "1", "-t", "1", "--json");
        var output = await bench.ReadToEndAsync();
        Assert.Equal(0, await bench.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        // A 1 s run: set-up, 1 s of warm-up, 1 s of sending and bounded drains. Before, it ran past 90 s.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        var report = JsonDocument.Parse(Assert.Single(output)).RootElement;
        Assert.True(report.GetProperty("sent").GetInt64() > 0);

        await watcher.SendLineAsync("/ping done");
        await watcher.ExpectLineAsync("* pong done");
        Assert.DoesNotContain(watcher.Seen, line => line.Contains("~B~", StringComparison.Ordinal));
    }

    private static async Task<string> WaitForListeningAsync(ParleyProcess process)
    {
        using var timeout = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
        while (!timeout.IsCancellationRequested)
        {
            string stderr = process.StandardError;
            int at = stderr.IndexOf("listening on ", StringComparison.Ordinal);
            if (at >= 0 && stderr.IndexOf('\n', at) is var end and > 0)
            {
                return stderr[(at + "listening on ".Length)..end].Trim();
            }

            // stderr arrives through an event with nothing to await: poll it, bounded by the timeout above.
            await Task.Delay(20, CancellationToken.None);
        }

        throw new TimeoutException($"parley listen never said where it listens: {process.StandardError}");
    }
}
