using Microsoft.Playwright;

namespace Parley.Web.Tests;

/// <summary>
/// One headless chromium for a test class (starting one costs about a second); each test opens its own contexts,
/// which share nothing. It is Debian's chromium, launched by path: no browser is downloaded, and where chromium is
/// missing the tests fail saying so rather than pass without having run.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public IBrowser Browser => _browser ?? throw new InvalidOperationException("the browser is started in InitializeAsync");

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException(
                $"The web tests drive a real browser and {ChromiumPath} is not there: install it with `apt-get install -y chromium` (.ci/run does this when it is missing).");
        }

        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ChromiumPath, Headless = true, Timeout = 30_000 });
        Assertions.SetDefaultExpectTimeout(10_000);
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
    }
}
