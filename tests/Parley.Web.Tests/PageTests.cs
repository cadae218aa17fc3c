using Microsoft.Playwright;
using Parley.Server.Hosting;
using Parley.Testing;
using static Microsoft.Playwright.Assertions;
using static Parley.Web.Tests.WebChat;

namespace Parley.Web.Tests;

/// <summary>The chat page in a real browser, against the real server, beside a TCP client in the same rooms.</summary>
public sealed class PageTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private static readonly ServiceKind[] ChatAndWeb = [ServiceKind.Chat, ServiceKind.Web];

    [Fact]
    public async Task TwoPagesAndATcpClientInOneRoomHearEachOther()
    {
        await using var server = await TestServer.StartAsync(ChatAndWeb);
        var alice = await OpenAsync(browser.Browser, server, "alice", "dev");
        var bob = await OpenAsync(browser.Browser, server, "bob", "dev");
        await using var carol = await JoinTcpAsync(server, "carol", "dev");

        await SayAsync(alice, "hello from the browser");
        await Expect(Line(bob, "hello from the browser")).ToBeVisibleAsync();
        await carol.ExpectLineAsync("<alice> hello from the browser");

        await carol.SendLineAsync("hello from nc");
        await Expect(Line(alice, "hello from nc")).ToBeVisibleAsync();
        await Expect(Line(bob, "hello from nc")).ToBeVisibleAsync();

        // Chinese, and an emoji outside the BMP, both ways.
        await SayAsync(bob, "你好，张康 🌏");
        await Expect(Line(alice, "你好，张康 🌏")).ToBeVisibleAsync();
        await carol.ExpectLineAsync("<bob> 你好，张康 🌏");
        await carol.SendLineAsync("问题正在处理中...");
        await Expect(Line(bob, "问题正在处理中...")).ToBeVisibleAsync();
        await Expect(alice.Locator("#member-list")).ToContainTextAsync("carol");
    }

    [Fact]
    public async Task MarkupIsShownAsTextAndNeverRuns()
    {
        await using var server = await TestServer.StartAsync(ChatAndWeb);
        // mallory makes #dev, so is its channel operator and may set its topic (+t).
        await using var mallory = await JoinTcpAsync(server, "mallory", "dev");
        var alice = await OpenAsync(browser.Browser, server, "alice", "dev");
        bool dialog = false;
        alice.Dialog += (_, d) =>
        {
            dialog = true;
            _ = d.DismissAsync();
        };

        const string Markup = "<img src=x onerror=alert(1)><b>bold</b><script>alert(2)</script>";
        await mallory.SendLineAsync(Markup);
        await mallory.SendLineAsync("/topic <i>topic</i>");
        await Expect(Line(alice, Markup)).ToBeVisibleAsync();
        await Expect(alice.Locator("#topic")).ToHaveTextAsync("<i>topic</i>");
        await Expect(alice.Locator("#logs img, #logs b, #logs script, #topic i")).ToHaveCountAsync(0);
        Assert.False(dialog, "a line from another user ran script in the page");
    }

    [Fact]
    public async Task PrivateMessagesAndUnreadCountsReachTheRightTabs()
    {
        await using var server = await TestServer.StartAsync(ChatAndWeb);
        var alice = await OpenAsync(browser.Browser, server, "alice", "dev");
        await using var carol = await JoinTcpAsync(server, "carol", "lobby");

        // alice is in the lobby too, but looking at #dev: the lobby's tab counts what she has not seen.
        await carol.SendLineAsync("anyone in the lobby?");
        await Expect(alice.GetByRole(AriaRole.Button, new() { Name = "#lobby, 2 members, 1 unread" })).ToBeVisibleAsync();

        await carol.SendLineAsync("/msg alice psst");
        await alice.GetByRole(AriaRole.Button, new() { NameRegex = new("^carol, 1 unread") }).ClickAsync();
        await Expect(Line(alice, "psst")).ToBeVisibleAsync();
        await SayAsync(alice, "hi carol");
        await carol.ExpectLineAsync("*alice* hi carol");

        await alice.GetByRole(AriaRole.Button, new() { NameRegex = new("^#lobby") }).ClickAsync();
        await Expect(Line(alice, "anyone in the lobby?")).ToBeVisibleAsync();
        await Expect(alice.GetByRole(AriaRole.Button, new() { NameRegex = new("^#lobby, 2 members$") })).ToBeVisibleAsync();
    }

    [Fact]
    public async Task SlashCommandsTypedInTheBoxWork()
    {
        await using var server = await TestServer.StartAsync(ChatAndWeb);
        var alice = await OpenAsync(browser.Browser, server, "alice", "dev");

        // alice makes #ops, so is its channel operator and may set its topic (+t).
        await SayAsync(alice, "/join ops");
        await Expect(alice.GetByRole(AriaRole.Heading, new() { Name = "#ops" })).ToBeVisibleAsync();
        await using var carol = await JoinTcpAsync(server, "carol", "ops");
        await SayAsync(alice, "/topic release at noon");
        await carol.ExpectLineAsync(line => line.Contains("set the topic", StringComparison.Ordinal) && line.EndsWith("release at noon", StringComparison.Ordinal), "the topic");
        await Expect(alice.Locator("#topic")).ToHaveTextAsync("release at noon");
        await SayAsync(alice, "/me waves");
        await carol.ExpectLineAsync("* alice waves");

        // Still in #dev as well: a line there goes to #dev, not to the room last joined.
        await alice.GetByRole(AriaRole.Button, new() { NameRegex = new("^#dev") }).ClickAsync();
        await using var dave = await JoinTcpAsync(server, "dave", "dev");
        await SayAsync(alice, "back in dev");
        await dave.ExpectLineAsync("<alice> back in dev");

        await SayAsync(alice, "/part ops");
        await carol.ExpectLineAsync("* alice left #ops");
        await Expect(alice.GetByRole(AriaRole.Button, new() { NameRegex = new("^#ops") })).ToHaveCountAsync(0);
        await SayAsync(alice, "/nosuchcommand");
        await Expect(Line(alice, "unknown command /nosuchcommand (try /help)")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task HistoryShowsAfterAReloadAndOlderPagesLoad()
    {
        await using var server = await TestServer.StartAsync(ChatAndWeb);
        await using var carol = await JoinTcpAsync(server, "carol", "old");
        // More than one page of 50 before what the room replays (20), so the button has to page back by id.
        for (int i = 1; i <= 60; i++)
        {
            await carol.SendLineAsync($"line {i}");
        }

        await carol.SendLineAsync("/ping sent");
        await carol.ExpectLineAsync("* pong sent");

        var alice = await OpenAsync(browser.Browser, server, "alice", "old");
        await Expect(Line(alice, "line 60")).ToBeVisibleAsync();
        await Expect(Line(alice, "line 40")).ToHaveCountAsync(0);
        await SayAsync(alice, "said before the reload");
        await carol.ExpectLineAsync("<alice> said before the reload");

        await alice.ReloadAsync();
        await ExpectInRoomAsync(alice, "alice");
        await Expect(Line(alice, "said before the reload")).ToBeVisibleAsync();
        await Expect(Line(alice, "line 60")).ToBeVisibleAsync();

        await alice.GetByRole(AriaRole.Button, new() { Name = "Load older messages" }).ClickAsync();
        await Expect(Line(alice, "line 1")).ToBeVisibleAsync();
        var texts = await alice.Locator("ol.log:not([hidden]) li[data-id] .text").AllTextContentsAsync();
        Assert.Equal([.. Enumerable.Range(1, 60).Select(i => $"line {i}"), "said before the reload"], texts);
    }

    [Fact]
    public async Task ThePageReconnectsAfterTheServerRestarts()
    {
        string history = Path.Combine(Directory.CreateTempSubdirectory("parley-web-").FullName, "history.db");
        var first = await TestServer.StartAsync(options =>
        {
            options.History = HistoryMode.Sqlite;
            options.HistoryPath = history;
            options.Services.Add(new ServiceBinding(ServiceKind.Chat, 0));
            options.Services.Add(new ServiceBinding(ServiceKind.Web, 0));
        });
        int chatPort = first.EndPointOf(ServiceKind.Chat).Port;
        int webPort = first.EndPointOf(ServiceKind.Web).Port;
        var alice = await OpenAsync(browser.Browser, first, "alice", "dev");
        await using (var carol = await JoinTcpAsync(first, "carol", "dev"))
        {
            await carol.SendLineAsync("before the restart");
            await Expect(Line(alice, "before the restart")).ToBeVisibleAsync();
        }

        await first.DisposeAsync();
        await Expect(alice.GetByRole(AriaRole.Status)).ToContainTextAsync("Reconnecting");

        await using var second = await TestServer.StartAsync(options =>
        {
            options.History = HistoryMode.Sqlite;
            options.HistoryPath = history;
            options.Services.Add(new ServiceBinding(ServiceKind.Chat, chatPort));
            options.Services.Add(new ServiceBinding(ServiceKind.Web, webPort));
        });
        await ExpectInRoomAsync(alice, "alice");
        await using var dave = await JoinTcpAsync(second, "dave", "dev");
        await dave.SendLineAsync("after the restart");
        await Expect(Line(alice, "after the restart")).ToBeVisibleAsync();
        await SayAsync(alice, "still here");
        await dave.ExpectLineAsync("<alice> still here");
        // Caught up without showing a line twice.
        await Expect(Line(alice, "before the restart")).ToHaveCountAsync(1);
    }

    [Fact]
    public async Task TheSignInFormSaysAWrongPasswordIsWrongAndTheRightOneEnters()
    {
        await using var server = await TestServer.StartAsync(ChatAndWeb, Framing.Line, options => options.Password = "sesame");
        var page = await OpenSignInAsync(browser.Browser, server);

        await SignInAsync(page, "alice", "open up");
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("wrong password");
        await Expect(page.GetByLabel("Your name")).ToHaveValueAsync("alice");

        await SignInAsync(page, "alice", "sesame");
        await ExpectInRoomAsync(page, "alice");
        await using var bob = await server.ConnectAsync();
        await bob.SendLineAsync("/pass sesame");
        await bob.SendLineAsync("/nick bob");
        await bob.ExpectLineAsync("* bob joined #lobby");
        await SayAsync(page, "the right password let me in");
        await bob.ExpectLineAsync("<alice> the right password let me in");
    }

    [Fact]
    public async Task ANameSomeoneHoldsIsRefusedOnTheFormAndAnotherCanBePicked()
    {
        await using var server = await TestServer.StartAsync(ChatAndWeb);
        var holder = await OpenAsync(browser.Browser, server, "bob", "lobby");
        var page = await OpenSignInAsync(browser.Browser, server);

        await SignInAsync(page, "bob", string.Empty);
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("the name bob is taken");
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Join the chat" })).ToBeVisibleAsync();

        await SignInAsync(page, "bobby", string.Empty);
        await ExpectInRoomAsync(page, "bobby");
        await SayAsync(page, "bobby it is");
        await Expect(Line(holder, "bobby it is")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task ThePageWorksAtPhoneWidthAndTakesItsScreenshots()
    {
        await using var server = await TestServer.StartAsync(ChatAndWeb);
        // carol makes #dev, so is its channel operator and may set its topic (+t).
        await using var carol = await JoinTcpAsync(server, "carol", "dev");
        var desktop = await OpenAsync(browser.Browser, server, "alice", "dev");
        var phone = await OpenAsync(browser.Browser, server, "张康", "dev", new ViewportSize { Width = 390, Height = 740 });
        await carol.SendLineAsync("/topic Parley's web page: the same rooms as nc and parley chat");
        await carol.SendLineAsync("hello from a terminal");
        await SayAsync(desktop, "hello from the desktop");
        await SayAsync(phone, "你好，来自手机");
        await Expect(Line(desktop, "你好，来自手机")).ToBeVisibleAsync();
        await Expect(Line(phone, "hello from the desktop")).ToBeVisibleAsync();

        // At phone width the room list folds behind a button, and the keyboard reaches everything.
        await Expect(phone.Locator("#sidebar")).ToBeHiddenAsync();
        var rooms = phone.GetByRole(AriaRole.Button, new() { Name = "Rooms", Exact = true });
        await rooms.ClickAsync();
        await Expect(phone.Locator("#sidebar")).ToBeVisibleAsync();
        await phone.Keyboard.PressAsync("Escape");
        await Expect(phone.Locator("#sidebar")).ToBeHiddenAsync();
        var box = await MessageBox(phone).BoundingBoxAsync();
        Assert.NotNull(box);
        Assert.True(box.X >= 0 && box.X + box.Width <= 390, $"the message box runs off a phone's screen: {box.X} + {box.Width}");

        string folder = Environment.GetEnvironmentVariable("PARLEY_SCREENSHOTS") ?? Directory.CreateTempSubdirectory("parley-shots-").FullName;
        byte[] wide = await desktop.ScreenshotAsync(new() { Path = Path.Combine(folder, "web-desktop.png") });
        byte[] narrow = await phone.ScreenshotAsync(new() { Path = Path.Combine(folder, "web-phone.png") });
        Assert.True(wide.Length > 1000 && narrow.Length > 1000);
    }
}
