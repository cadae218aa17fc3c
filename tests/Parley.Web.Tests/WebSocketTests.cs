using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Web.Tests;

/// <summary>The WebSocket and the HTTP endpoints without a browser: origins, limits, metrics, health.</summary>
public sealed class WebSocketTests
{
    private static readonly ServiceKind[] ChatAndWeb = [ServiceKind.Chat, ServiceKind.Web];

    [Fact]
    public async Task AForeignOriginIsRefusedAndListedOnesAreLetIn()
    {
        await using var server = await TestServer.StartAsync(ChatAndWeb, Framing.Line, options => options.WebOrigins.Add("https://chat.example.com"));
        var web = server.EndPointOf(ServiceKind.Web);

        var refused = await Assert.ThrowsAsync<WebSocketException>(() => ConnectAsync(web, "https://evil.example"));
        Assert.Contains("403", refused.Message, StringComparison.Ordinal);

        using var own = await ConnectAsync(web, $"http://{web}");
        Assert.Equal("welcome", (await ReceiveAsync(own)).GetProperty("code").GetString());
        using var listed = await ConnectAsync(web, "https://chat.example.com");
        Assert.Equal("welcome", (await ReceiveAsync(listed)).GetProperty("code").GetString());

        // A page on a name that was made to point at loopback (DNS rebinding) is not this server's page.
        var rebound = await Assert.ThrowsAsync<WebSocketException>(() => ConnectAsync(web, $"http://evil.example:{web.Port}", host: $"evil.example:{web.Port}"));
        Assert.Contains("403", rebound.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheSocketHasTheLimitsOfTcp()
    {
        await using var server = await TestServer.StartAsync(ChatAndWeb, Framing.Line, options =>
        {
            options.MaxLineBytes = 64;
            options.LimitLoopback = true;
            options.MaxConnectionsPerAddress = 1;
        });
        var web = server.EndPointOf(ServiceKind.Web);
        using var first = await ConnectAsync(web);
        await ReceiveAsync(first);
        await SendAsync(first, new string('x', 200));
        var tooLong = await ReceiveUntilAsync(first, e => e.GetProperty("type").GetString() == "error");
        Assert.Equal("line_too_long", tooLong.GetProperty("code").GetString());

        using var second = await ConnectAsync(web);
        var refused = await ReceiveAsync(second);
        Assert.Equal("refused", refused.GetProperty("code").GetString());
        Assert.Contains("too many connections", refused.GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task APasswordIsAskedForFirst()
    {
        await using var server = await TestServer.StartAsync(ChatAndWeb, Framing.Line, options => options.Password = "sesame");
        var web = server.EndPointOf(ServiceKind.Web);
        using var wrong = await ConnectAsync(web);
        await SendAsync(wrong, "/pass open up");
        Assert.Equal("wrong_password", (await ReceiveAsync(wrong)).GetProperty("code").GetString());

        using var right = await ConnectAsync(web);
        await SendAsync(right, "/pass sesame");
        Assert.Equal("welcome", (await ReceiveAsync(right)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task MetricsAndHealthAreServed()
    {
        await using var server = await TestServer.StartAsync(ChatAndWeb);
        var web = server.EndPointOf(ServiceKind.Web);
        using var http = new HttpClient { BaseAddress = new Uri($"http://{web}/"), Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal("ok\n", await http.GetStringAsync("healthz"));

        using var socket = await ConnectAsync(web);
        await ReceiveAsync(socket);
        await SendAsync(socket, "/nick metered");
        await ReceiveUntilAsync(socket, e => e.GetProperty("type").GetString() == "join");

        using var metrics = await http.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.StartsWith("text/plain", metrics.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        string text = await metrics.Content.ReadAsStringAsync();
        Assert.Matches(@"(?m)^parley_connections_active\{[^}]*frontend=""web""[^}]*\} [1-9]", text);
        Assert.Matches(@"(?m)^parley_chat_messages_in_total\{[^}]*frontend=""web""[^}]*\} [1-9]", text);
        Assert.Matches(@"(?m)^parley_chat_messages_out_total(\{[^}]*\})? [1-9]", text);
    }

    [Fact]
    public async Task ThePageIsServedWithAStrictPolicyAndWeighsLittle()
    {
        await using var server = await TestServer.StartAsync(ChatAndWeb);
        using var http = new HttpClient { BaseAddress = new Uri($"http://{server.EndPointOf(ServiceKind.Web)}/"), Timeout = TimeSpan.FromSeconds(10) };
        long weight = 0;
        foreach (string path in new[] { "", "app.js", "app.css" })
        {
            using var response = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("default-src 'none'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
            weight += (await response.Content.ReadAsByteArrayAsync()).Length;
        }

        Assert.InRange(weight, 1, 100 * 1024);
        using var missing = await http.GetAsync("nothing-here");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task WithACertificateThePageAndSocketAreHttpsAndWss()
    {
        using var certificate = TestCertificates.SelfSigned("localhost");
        await using var server = await TestServer.StartAsync(ChatAndWeb, Framing.Line, options => options.TlsCertificate = certificate);
        var web = server.EndPointOf(ServiceKind.Web);
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, presented, _, _) => presented?.Thumbprint == certificate.Thumbprint };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
        Assert.Contains("<title>Parley</title>", await http.GetStringAsync($"https://localhost:{web.Port}/"), StringComparison.Ordinal);

        using var socket = await ConnectAsync(web, $"https://localhost:{web.Port}", secure: certificate);
        Assert.Equal("welcome", (await ReceiveAsync(socket)).GetProperty("code").GetString());
        await Assert.ThrowsAsync<HttpRequestException>(() => new HttpClient { Timeout = TimeSpan.FromSeconds(10) }.GetStringAsync($"http://{web}/"));
    }

    [Fact]
    public void WebAloneBringsTheChatServiceAlongAndOriginsAreChecked()
    {
        var options = ServerConfiguration.Load(new Dictionary<string, IReadOnlyList<string>> { ["web"] = ["8080"], ["web-origin"] = ["HTTPS://Chat.Example.com/"] }, _ => null);
        Assert.Equal([new ServiceBinding(ServiceKind.Chat, ServerOptions.DefaultChatPort), new ServiceBinding(ServiceKind.Web, 8080)], options.EffectiveServices);
        Assert.Equal(["https://chat.example.com"], options.WebOrigins);

        var wrong = Assert.Throws<SettingsException>(() => ServerConfiguration.Load(new Dictionary<string, IReadOnlyList<string>> { ["web-origin"] = ["chat.example.com/path"] }, _ => null));
        Assert.Equal("--web-origin: 'chat.example.com/path' is not an origin such as https://chat.example.com or http://localhost:8080", wrong.Message);
    }

    private static async Task<ClientWebSocket> ConnectAsync(IPEndPoint web, string? origin = null, string? host = null, System.Security.Cryptography.X509Certificates.X509Certificate2? secure = null)
    {
        var socket = new ClientWebSocket();
        if (secure is not null)
        {
            socket.Options.RemoteCertificateValidationCallback = (_, presented, _, _) => presented is not null && presented.GetCertHashString() == secure.Thumbprint;
        }

        if (origin is not null)
        {
            socket.Options.SetRequestHeader("Origin", origin);
        }

        if (host is not null)
        {
            socket.Options.SetRequestHeader("Host", host);
        }

        using var timeout = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
        try
        {
            await socket.ConnectAsync(new Uri(secure is null ? $"ws://{web}/ws" : $"wss://localhost:{web.Port}/ws"), timeout.Token);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return socket;
    }

    private static async Task SendAsync(ClientWebSocket socket, string line)
    {
        using var timeout = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
        await socket.SendAsync(Encoding.UTF8.GetBytes(line), WebSocketMessageType.Text, endOfMessage: true, timeout.Token);
    }

    private static async Task<JsonElement> ReceiveAsync(ClientWebSocket socket)
    {
        using var timeout = new CancellationTokenSource(TaskTimeoutExtensions.DefaultWait);
        var buffer = new byte[64 * 1024];
        int filled = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(filled), timeout.Token);
            Assert.NotEqual(WebSocketMessageType.Close, result.MessageType);
            filled += result.Count;
            if (result.EndOfMessage)
            {
                return JsonDocument.Parse(buffer.AsMemory(0, filled)).RootElement.Clone();
            }
        }
    }

    private static async Task<JsonElement> ReceiveUntilAsync(ClientWebSocket socket, Func<JsonElement, bool> match)
    {
        while (true)
        {
            var next = await ReceiveAsync(socket);
            if (match(next))
            {
                return next;
            }
        }
    }
}
