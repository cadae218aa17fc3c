using System.Net;
using Microsoft.Playwright;
using Parley.Server.Hosting;
using Parley.Testing;
using static Microsoft.Playwright.Assertions;

namespace Parley.Web.Tests;

/// <summary>What the tests do with the page, in the words of someone using it.</summary>
internal static class WebChat
{
    public static string PageAddress(TestServer server) => $"http://{server.EndPointOf(ServiceKind.Web)}/";

    /// <summary>Opens the page signed in as <paramref name="name"/> in <paramref name="room"/> (a deep link), and waits until the room knows it is there.</summary>
    public static async Task<IPage> OpenAsync(IBrowser browser, TestServer server, string name, string room, ViewportSize? viewport = null)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = viewport ?? new ViewportSize { Width = 1100, Height = 700 } });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(10_000);
        await page.GotoAsync($"{PageAddress(server)}?name={Uri.EscapeDataString(name)}&room={Uri.EscapeDataString(room)}");
        await ExpectInRoomAsync(page, name);
        return page;
    }

    /// <summary>Waits until the page is connected and its room's member list has <paramref name="name"/>: its lines now reach the room.</summary>
    public static async Task ExpectInRoomAsync(IPage page, string name)
    {
        await Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync($"Connected as {name}");
        // Attached rather than visible: at phone width the member list is folded away.
        await Expect(page.Locator("#member-list").GetByText(name, new() { Exact = true })).ToBeAttachedAsync();
    }

    public static ILocator MessageBox(IPage page) => page.GetByRole(AriaRole.Textbox, new() { Name = "Message" });

    public static async Task SayAsync(IPage page, string text)
    {
        await MessageBox(page).FillAsync(text);
        await MessageBox(page).PressAsync("Enter");
    }

    /// <summary>The text of the shown room's lines that say exactly <paramref name="text"/>.</summary>
    public static ILocator Line(IPage page, string text) =>
        page.Locator("ol.log:not([hidden]) li .text").Filter(new() { HasTextRegex = new System.Text.RegularExpressions.Regex("^" + System.Text.RegularExpressions.Regex.Escape(text) + "$") });

    /// <summary>Opens the page as someone who followed a plain link: the sign-in form.</summary>
    public static async Task<IPage> OpenSignInAsync(IBrowser browser, TestServer server)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1100, Height = 700 } });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(10_000);
        await page.GotoAsync(PageAddress(server));
        return page;
    }

    public static async Task SignInAsync(IPage page, string name, string password)
    {
        await page.GetByLabel("Your name").FillAsync(name);
        await page.GetByLabel("Server password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Join the chat" }).ClickAsync();
    }

    public static async Task<LineClient> JoinTcpAsync(TestServer server, string name, string room)
    {
        var client = await server.JoinChatAsync(name);
        if (room != "lobby")
        {
            await client.SendLineAsync($"/join {room}");
            await client.ExpectLineAsync($"* {name} joined #{room}");
        }

        return client;
    }

    public static IPEndPoint Web(this TestServer server) => server.EndPointOf(ServiceKind.Web);
}
