using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Parley.Server.Connections;
using Parley.Testing;

namespace Parley.Cli.Tests;

/// <summary><c>parley serve</c> configured by a settings file, <c>PARLEY_*</c> variables and flags, as a user would.</summary>
public sealed class ServeConfigTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("parley-config-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Theory]
    [InlineData(false, false, 64)]
    [InlineData(true, false, 128)]
    [InlineData(true, true, 256)]
    public async Task AFlagWinsOverItsVariableAndTheVariableOverTheFile(bool setVariable, bool setFlag, int expectedMaxLine)
    {
        string file = WriteSettings("""{ "echo": 0, "maxLine": 64 }""");
        var environment = setVariable ? new Dictionary<string, string> { ["PARLEY_MAX_LINE"] = "128" } : [];
        string[] args = setFlag ? ["serve", "--config", file, "--max-line", "256"] : ["serve", "--config", file];

        await using var serve = ParleyProcess.Start(environment, args);
        await using var client = await LineClient.ConnectAsync(IPEndPoint.Parse(await serve.ListeningAddressAsync("echo")));
        await client.SendLineAsync(new string('x', 300));
        Assert.Equal($"! line too long (max {expectedMaxLine} bytes)", await client.ReadLineAsync());
    }

    [Fact]
    public async Task AListenerOfTheFileRunsRawChatBesideLineChatInOneProcess()
    {
        string file = WriteSettings("""
            {
              // The tutorials' chat room on one port, the line protocol on another.
              "listeners": [
                { "service": "chat", "port": 0, "framing": "raw" },
                { "service": "chat", "port": 0 },
              ],
            }
            """);
        await using var serve = ParleyProcess.Start("serve", "--config", file);
        var raw = IPEndPoint.Parse(await serve.ListeningAddressAsync("chat"));
        var line = IPEndPoint.Parse(await serve.ListeningAddressAsync("chat"));

        await using var first = await LineClient.ConnectAsync(raw);
        await using var second = await LineClient.ConnectAsync(raw);
        // The server may seat the second connection before the first; whoever was seated first hears of the other.
        var firstHears = first.ReadChunkAsync();
        var secondHears = second.ReadChunkAsync();
        var heard = await Task.WhenAny(firstHears, secondHears).DefaultTimeout();
        var (earlier, later) = heard == firstHears ? (first, second) : (second, first);
        Assert.Equal($"[{EndpointText.Of(later.Socket.LocalEndPoint)}] is online…\n", Encoding.UTF8.GetString(await heard));
        await later.SendAsync("zhangkang:hi"u8.ToArray());
        Assert.Equal("zhangkang:hi", Encoding.UTF8.GetString(await earlier.ReadChunkAsync()));

        await using var lines = await LineClient.ConnectAsync(line);
        await lines.SendLineAsync("/nick alice");
        await lines.ExpectLineAsync("* alice joined #lobby");
    }

    [Fact]
    public async Task EverySettingOfTheExampleFileIsAccepted()
    {
        // docs/parley.example.json is what users copy; it must start as it is (its ports moved to free ones).
        string example = File.ReadAllText(Path.Combine(ParleyProcess.RepositoryRoot(), "docs", "parley.example.json"));
        string file = WriteSettings(System.Text.RegularExpressions.Regex.Replace(example, @"""port"": \d+", "\"port\": 0")
            .Replace("\"history\": \"history.db\"", "\"history\": \"memory\"", StringComparison.Ordinal));
        await using var serve = ParleyProcess.Start("serve", "--config", file);
        Assert.NotNull(await serve.ListeningAddressAsync("chat"));
    }

    public static TheoryData<string[], string> Mistakes => new()
    {
        { ["serve", "--chat", "abc"], "parley: --chat: 'abc' is not a port number" },
        { ["serve", "--log-level", "verbose"], "parley: --log-level: 'verbose' is not a log level: use trace, debug, information, warning, error, critical or none" },
        { ["serve", "--max-line", "8"], "parley: --max-line must be at least 16 bytes" },
        { ["serve", "--history-keep", "-1"], "parley: --history-keep must not be negative" },
        { ["serve", "--irc-server-name", "my server!"], "parley: --irc-server-name: 'my server!' is not a host name (1-63 letters, digits, '.' and '-', starting and ending with a letter or digit)" },
        { ["serve", "--slow-reader-wait", "soon"], "parley: --slow-reader-wait: 'soon' is not a number of seconds" },
        { ["serve", "--config", "/nonexistent/parley.json"], "parley: --config: /nonexistent/parley.json does not exist" },
        { ["serve", "--tls-cert", "/tmp"], "parley: --tls-cert: /tmp is a directory, not a file" },
    };

    [Theory]
    [MemberData(nameof(Mistakes))]
    public async Task AMistakeOnTheCommandLineIsOneLineAndExitCodeTwo(string[] args, string expected)
    {
        await using var serve = ParleyProcess.Start(args);
        await AssertRefusedAsync(serve, expected);
    }

    public static TheoryData<string, string> FileMistakes => new()
    {
        { """{ "maxLines": 512 }""", "FILE: unknown key 'maxLines': did you mean 'maxLine'?" },
        { """{ "max-line": 512 }""", "FILE: unknown key 'max-line': did you mean 'maxLine'?" },
        { """{ "frobnicate": true }""", "FILE: unknown key 'frobnicate' (see docs/configuration.md)" },
        { """{ "maxLine": "big" }""", "FILE: maxLine: 'big' is not a whole number" },
        { """{ "maxLine": 8 }""", "FILE: maxLine must be at least 16 bytes" },
        { """{ "limitLoopback": "yes please" }""", "FILE: limitLoopback: 'yes please' is not true or false" },
        { """{ "chat": 0, "framing": "zigzag" }""", "FILE: framing: 'zigzag' is not line or raw" },
        { "{ \"chat\": 0,\n  \"maxLine\": }", "FILE: not valid JSON at line 2, column 14" },
        { """[1, 2]""", "FILE: the settings must be one JSON object, { \"key\": value, ... }" },
        { """{ "listeners": [{ "service": "gopher", "port": 70 }] }""", "FILE: listeners[0].service: 'gopher' is not a service: use chat, greet, echo, udp-greet, udp-echo, irc, web" },
        { """{ "listeners": [{ "service": "chat" }] }""", "FILE: listeners[0] needs a service and a port, as { \"service\": \"chat\", \"port\": 9999 }" },
        { """{ "listeners": [{ "service": "chat", "port": 0, "maxLine": 4 }] }""", "FILE: listeners[0].maxLine must be at least 16 bytes" },
        { """{ "listeners": [{ "service": "chat", "port": 0, "maxConnections": 4 }] }""", "FILE: listeners[0].maxConnections: not a key a listener can have" },
        { """{ "maxLine": 512, "maxLine": 1024 }""", "FILE: maxLine is given twice" },
    };

    [Theory]
    [MemberData(nameof(FileMistakes))]
    public async Task AMistakeInTheSettingsFileIsOneLineNamingTheKeyAndExitCodeTwo(string settings, string expected)
    {
        string file = WriteSettings(settings);
        await using var serve = ParleyProcess.Start("serve", "--config", file);
        await AssertRefusedAsync(serve, "parley: " + expected.Replace("FILE", file, StringComparison.Ordinal), prefixOnly: expected.EndsWith("can have", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("PARLEY_MAX_LINE", "abc", "parley: PARLEY_MAX_LINE: 'abc' is not a whole number")]
    [InlineData("PARLEY_MAX_LINE", "8", "parley: PARLEY_MAX_LINE must be at least 16 bytes")]
    [InlineData("PARLEY_CHAT", "70000", "parley: PARLEY_CHAT: port 70000 is not between 0 and 65535")]
    [InlineData("PARLEY_CONFIG", "/nonexistent/parley.json", "parley: --config: /nonexistent/parley.json does not exist")]
    public async Task AMistakeInAVariableIsOneLineNamingTheVariableAndExitCodeTwo(string variable, string value, string expected)
    {
        await using var serve = ParleyProcess.Start(new Dictionary<string, string> { [variable] = value }, "serve");
        await AssertRefusedAsync(serve, expected);
    }

    [Fact]
    public async Task AnEncryptedKeyWithAWrongPasswordSaysThePasswordIsWrong()
    {
        using var certificate = TestCertificates.SelfSigned();
        var (certificateFile, _) = TestCertificates.WritePem(certificate, _directory.FullName);
        string keyFile = Path.Combine(_directory.FullName, "encrypted.key.pem");
        using (var key = certificate.GetECDsaPrivateKey()!)
        {
            File.WriteAllText(keyFile, key.ExportEncryptedPkcs8PrivateKeyPem("right", new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 10_000)));
        }

        await using var wrong = ParleyProcess.Start("serve", "--chat", "0", "--tls-cert", certificateFile, "--tls-key", keyFile, "--tls-password", "wrong");
        await AssertRefusedAsync(wrong, "parley: --tls-password: wrong password for encrypted.key.pem");

        await using var none = ParleyProcess.Start("serve", "--chat", "0", "--tls-cert", certificateFile, "--tls-key", keyFile);
        await AssertRefusedAsync(none, "parley: --tls-key: encrypted.key.pem is encrypted: give its password with --tls-password or PARLEY_TLS_PASSWORD");

        await using var right = ParleyProcess.Start(new Dictionary<string, string> { ["PARLEY_TLS_PASSWORD"] = "right" }, "serve", "--chat", "0", "--tls-cert", certificateFile, "--tls-key", keyFile);
        Assert.NotNull(await right.ListeningAddressAsync("chat"));
    }

    [Fact]
    public async Task ABusyUdpPortIsReportedWithItsPort()
    {
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)holder.LocalEndPoint!).Port;

        await using var serve = ParleyProcess.Start("serve", "--udp-echo", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await AssertRefusedAsync(serve, $"parley: cannot listen on 127.0.0.1:{port}: address already in use");
    }

    [Fact]
    public async Task TheLogNamesCategoriesShortlyAndSumsUpTheServerPeriodically()
    {
        await using var serve = ParleyProcess.Start("serve", "--echo", "0", "--udp-greet", "0", "--summary-interval", "0.2");
        var echo = IPEndPoint.Parse(await serve.ListeningAddressAsync("echo"));
        string udp = await serve.ListeningAddressAsync("udp-greet");
        await using var client = await LineClient.ConnectAsync(echo);
        await client.SendLineAsync("ping");
        await client.ExpectLineAsync("ping");

        await WaitForStderrAsync(serve, "1 connections, ");
        string log = serve.StandardError;
        Assert.Contains($"info: UdpService[60] udp-greet answering datagrams on {udp}", log, StringComparison.Ordinal);
        Assert.Contains("info: EchoConnectionHandler[1] Accept new connection from", log, StringComparison.Ordinal);
        Assert.DoesNotContain("Parley.Server.", log, StringComparison.Ordinal);
    }

    private static async Task AssertRefusedAsync(ParleyProcess serve, string expected, bool prefixOnly = false)
    {
        Assert.Equal(2, await serve.WaitForExitAsync());
        string stderr = serve.StandardError.TrimEnd();
        if (prefixOnly)
        {
            Assert.StartsWith(expected, stderr, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal(expected, stderr);
        }

        Assert.DoesNotContain('\n', stderr);
        Assert.DoesNotContain("System.", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", stderr, StringComparison.Ordinal);
    }

    private static async Task WaitForStderrAsync(ParleyProcess process, string text)
    {
        using var timeout = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
        while (!process.StandardError.Contains(text, StringComparison.Ordinal))
        {
            // stderr arrives through an event with nothing to await; poll it briefly, bounded by the timeout.
            Assert.False(timeout.IsCancellationRequested, $"stderr never showed '{text}':\n{process.StandardError}");
            await Task.Delay(20, CancellationToken.None);
        }
    }

    private string WriteSettings(string json)
    {
        string path = Path.Combine(_directory.FullName, $"parley-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }
}
