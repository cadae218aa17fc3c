using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Parley.Testing;

namespace Parley.Cli.Tests;

/// <summary>The real <c>parley</c> process, as a user runs it.</summary>
public partial class CliTests
{
    [Fact]
    public async Task ServePrintsOneListeningLinePerServiceAndStopsCleanlyOnSigterm()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0", "--greet", "0", "--echo", "0", "--udp-greet", "0", "--udp-echo", "0");
        var lines = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            lines.Add(await serve.ReadLineAsync() ?? "");
        }

        string[] services = ["chat", "greet", "echo", "udp-greet", "udp-echo"];
        for (int i = 0; i < services.Length; i++)
        {
            Assert.Matches($"^{services[i]} listening on 127\\.0\\.0\\.1:\\d+$", lines[i]);
        }

        serve.Signal("TERM");
        Assert.Equal(0, await serve.WaitForExitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task ServeLogsConnectionsInTheTutorialsWordsOnStderr()
    {
        await using var serve = ParleyProcess.Start("serve", "--greet", "0");
        string greet = await serve.ListeningAddressAsync("greet");
        string client;
        await using (var connection = await LineClient.ConnectAsync(IPEndPoint.Parse(greet)))
        {
            client = connection.Socket.LocalEndPoint!.ToString()!;
            await connection.ExpectLineAsync("welcome!");
            await connection.SendLineAsync("exit");
            Assert.Null(await connection.ReadLineAsync());
        }

        serve.Signal("TERM");
        Assert.Equal(0, await serve.WaitForExitAsync(TimeSpan.FromSeconds(5)));
        Assert.Contains($"Accept new connection from {client}", serve.StandardError, StringComparison.Ordinal);
        Assert.Contains($"Connection from {client} closed", serve.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TwoChatClientsWithPipedStdinTalkThroughTheServer()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0");
        string chat = await serve.ListeningAddressAsync("chat");

        await using var watcher = await JoinAsync(chat, "watcher");
        await using var bob = ParleyProcess.Start("chat", chat, "--name", "bob");
        await watcher.ExpectLineAsync("* bob joined #lobby");
        await using var alice = ParleyProcess.Start("chat", chat, "--name", "alice");
        await bob.ExpectLineAsync("* alice joined #lobby");
        await alice.StandardInput.WriteLineAsync("hello bob");
        await alice.StandardInput.WriteLineAsync("/me waves");
        alice.StandardInput.Close();

        await bob.ExpectLineAsync("<alice> hello bob");
        await bob.ExpectLineAsync("* alice waves");
        await bob.ExpectLineAsync("* alice left #lobby (quit)");
        Assert.Equal(0, await alice.WaitForExitAsync());

        await bob.StandardInput.WriteLineAsync("bye alice");
        bob.StandardInput.Close();
        Assert.Equal(0, await bob.WaitForExitAsync());
        Assert.Empty(bob.StandardError);
    }

    [Fact]
    public async Task APipedChatClientPrintsRepliesBeforeItExits()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0");
        string chat = await serve.ListeningAddressAsync("chat");
        await using var client = ParleyProcess.Start("chat", chat, "--name", "张康", "--room", "dev");
        await client.StandardInput.WriteLineAsync("/who");
        await client.StandardInput.WriteLineAsync("/rooms");
        client.StandardInput.Close();
        var output = await client.ReadToEndAsync();
        Assert.Equal(0, await client.WaitForExitAsync());
        Assert.Contains("* members of #dev: 张康", output);
        Assert.Contains("* rooms: #dev (1), #lobby (0)", output);
    }

    [Fact]
    public async Task AChatClientSaysSoWhenTheServerShutsDown()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0");
        string chat = await serve.ListeningAddressAsync("chat");
        await using var watcher = await JoinAsync(chat, "watcher");
        await using var client = ParleyProcess.Start("chat", chat, "--name", "carol", "--no-reconnect");
        await watcher.ExpectLineAsync("* carol joined #lobby");

        serve.Signal("INT");
        await client.ExpectLineAsync("* server shutting down");
        Assert.Equal(1, await client.WaitForExitAsync());
        // It was told why: not a connection "lost" (issue 16, item 4), though not a deliberate exit either.
        Assert.Equal($"parley: {chat} shut down", client.StandardError.Trim());
        Assert.Equal(0, await serve.WaitForExitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task AChatClientWhoseFirstLinesArriveLateStillStartsUnderItsName()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0");
        var chat = IPEndPoint.Parse(await serve.ListeningAddressAsync("chat"));
        await using var watcher = await JoinAsync(chat.ToString(), "watcher");

        // A slow link: the server seats a guest before the client's lines arrive; the room only ever sees the chosen name.
        using var proxy = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        proxy.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        proxy.Listen();
        var relaying = Task.Run(async () =>
        {
            using var client = await proxy.AcceptAsync();
            using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await server.ConnectAsync(chat);
            await using var toServer = new NetworkStream(server);
            await using var toClient = new NetworkStream(client);
            // The server seats the connection as a guest and welcomes it before any of the client's lines arrive.
            var welcome = new byte[64 * 1024];
            int received = await toServer.ReadAsync(welcome).AsTask().DefaultTimeout();
            Assert.Contains("* you are guest-", System.Text.Encoding.UTF8.GetString(welcome, 0, received), StringComparison.Ordinal);
            await toClient.WriteAsync(welcome.AsMemory(0, received));
            await Task.WhenAny(toClient.CopyToAsync(toServer), toServer.CopyToAsync(toClient));
        });

        await using var late = ParleyProcess.Start("chat", proxy.LocalEndPoint!.ToString()!, "--name", "slowpoke");
        await late.StandardInput.WriteLineAsync("made it");
        await late.StandardInput.WriteLineAsync("/who");
        late.StandardInput.Close();
        Assert.Contains("* members of #lobby: watcher, slowpoke", await late.ReadToEndAsync());
        Assert.Equal(0, await late.WaitForExitAsync());
        await watcher.ExpectLineAsync("<slowpoke> made it");
        Assert.DoesNotContain(watcher.Seen, l => l.Contains("guest-", StringComparison.Ordinal) && !l.StartsWith("* you are ", StringComparison.Ordinal));
        await relaying.DefaultTimeout();
    }

    [Fact]
    public async Task AChatClientWhoseNameIsTakenIsToldSoAndExitsWithTwo()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0");
        string chat = await serve.ListeningAddressAsync("chat");
        await using var watcher = await JoinAsync(chat, "watcher");
        await using var first = ParleyProcess.Start("chat", chat, "--name", "dup");
        await watcher.ExpectLineAsync("* dup joined #lobby");
        await using var second = ParleyProcess.Start("chat", chat, "--name", "DUP");
        Assert.Equal(2, await second.WaitForExitAsync());
        Assert.Equal("parley: the name DUP is taken", second.StandardError.Trim());
    }

    [Fact]
    public async Task ChatTakesAPasswordAndAWrongOneIsOneLineAndExitCodeTwo()
    {
        await using var serve = ParleyProcess.Start("serve", "--chat", "0", "--password", "opensesame");
        string chat = await serve.ListeningAddressAsync("chat");

        await using var wrong = ParleyProcess.Start("chat", chat, "--name", "eve", "--password", "guess");
        Assert.Equal(2, await wrong.WaitForExitAsync());
        Assert.Equal("parley: wrong password", wrong.StandardError.Trim());

        await using var right = ParleyProcess.Start("chat", chat, "--name", "ali", "--password", "opensesame");
        await right.StandardInput.WriteLineAsync("/who");
        right.StandardInput.Close();
        Assert.Contains("* members of #lobby: ali", await right.ReadToEndAsync());
        Assert.Equal(0, await right.WaitForExitAsync());
    }

    [Fact]
    public async Task ConnectSendsStdinToEchoAndPrintsTheAnswers()
    {
        await using var serve = ParleyProcess.Start("serve", "--echo", "0", "--udp-greet", "0");
        string echo = await serve.ListeningAddressAsync("echo");
        string udp = await serve.ListeningAddressAsync("udp-greet");

        await using var tcp = ParleyProcess.Start("connect", echo);
        await tcp.StandardInput.WriteLineAsync("one");
        await tcp.StandardInput.WriteLineAsync("张康");
        tcp.StandardInput.Close();
        Assert.Equal(["one", "张康"], await tcp.ReadToEndAsync());
        Assert.Equal(0, await tcp.WaitForExitAsync());

        await using var datagrams = ParleyProcess.Start("connect", udp, "--udp");
        await datagrams.StandardInput.WriteLineAsync("zhangkang");
        await datagrams.StandardInput.WriteLineAsync("jack");
        datagrams.StandardInput.Close();
        Assert.Equal(["Hello, zhangkang!", "Hello, jack!"], await datagrams.ReadToEndAsync());
        Assert.Equal(0, await datagrams.WaitForExitAsync());
    }

    [Fact]
    public async Task ListenAcceptsOnePeerAtATimeBothWays()
    {
        await using var listen = ParleyProcess.Start("listen", "0");
        string address = await WaitForStderrAsync(listen, ListeningPattern());
        var endPoint = IPEndPoint.Parse(address);

        for (int round = 0; round < 2; round++)
        {
            await using var peer = await LineClient.ConnectAsync(endPoint);
            await peer.SendLineAsync($"hi from peer {round}");
            await listen.ExpectLineAsync($"hi from peer {round}");
            await listen.StandardInput.WriteLineAsync($"hi back {round}");
            Assert.Equal($"hi back {round}", await peer.ReadLineAsync());
        }
    }

    [Fact]
    public async Task AnUnreachableServerIsOneLineAndExitCodeTwo()
    {
        int port = Loopback.FreePort();
        await using var chat = ParleyProcess.Start("chat", $"127.0.0.1:{port}", "--name", "x");
        Assert.Equal(2, await chat.WaitForExitAsync());
        Assert.Equal($"parley: cannot connect to 127.0.0.1:{port}: connection refused", chat.StandardError.Trim());

        await using var connect = ParleyProcess.Start("connect", $"127.0.0.1:{port}");
        Assert.Equal(2, await connect.WaitForExitAsync());
        Assert.Equal($"parley: cannot connect to 127.0.0.1:{port}: connection refused", connect.StandardError.Trim());
    }

    [Fact]
    public async Task APortInUseIsOneLineAndExitCodeTwo()
    {
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        holder.Listen();
        int port = ((IPEndPoint)holder.LocalEndPoint!).Port;

        await using var serve = ParleyProcess.Start("serve", "--chat", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(2, await serve.WaitForExitAsync());
        Assert.Equal($"parley: cannot listen on 127.0.0.1:{port}: address already in use", serve.StandardError.Trim());
    }

    [Theory]
    [InlineData("serve", "--chat", "notaport")]
    [InlineData("serve", "--chat", "70000")]
    [InlineData("serve", "--framing", "zigzag")]
    [InlineData("serve", "--bind", "not-an-address")]
    [InlineData("serve", "--no-such-flag")]
    [InlineData("serve", "--allow", "not/a/network")]
    [InlineData("serve", "--idle-timeout", "-5")]
    [InlineData("serve", "--tls-cert", "/nonexistent/server.pem", "--tls-key", "/nonexistent/server.key")]
    [InlineData("serve", "--tls-key", "/nonexistent/server.key")]
    [InlineData("serve", "--tls-cert", "/etc/hostname")]
    [InlineData("connect", "127.0.0.1:1", "--udp", "--tls")]
    [InlineData("connect", "127.0.0.1:1", "--tls-ca", "/etc/hostname")]
    [InlineData("chat", "nocolon")]
    [InlineData("chat", "127.0.0.1:1", "--name", "two words")]
    [InlineData("connect")]
    [InlineData("frobnicate")]
    public async Task BadArgumentsAreOneLineAndExitCodeTwo(params string[] args)
    {
        await using var parley = ParleyProcess.Start(args);
        Assert.Equal(2, await parley.WaitForExitAsync());
        string stderr = parley.StandardError.Trim();
        Assert.StartsWith("parley: ", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', stderr);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    private static async Task<LineClient> JoinAsync(string address, string name)
    {
        var client = await LineClient.ConnectAsync(IPEndPoint.Parse(address));
        await client.SendLineAsync($"/nick {name}");
        await client.ExpectLineAsync($"* {name} joined #lobby");
        return client;
    }

    private static async Task<string> WaitForStderrAsync(ParleyProcess process, Regex pattern)
    {
        using var timeout = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
        while (!timeout.IsCancellationRequested)
        {
            var match = pattern.Match(process.StandardError);
            if (match.Success)
            {
                return match.Groups[1].Value;
            }

            // stderr arrives through an event with nothing to await; poll it briefly, bounded by the timeout above.
            await Task.Delay(20, CancellationToken.None);
        }

        throw new TimeoutException($"stderr never matched {pattern}: {process.StandardError}");
    }

    [GeneratedRegex(@"listening on (\S+)")]
    private static partial Regex ListeningPattern();
}
