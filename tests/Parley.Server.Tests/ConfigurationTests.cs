using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>Settings from flags, variables and the file (<see cref="ServerConfiguration"/>), and listeners with their own options.</summary>
public sealed class ConfigurationTests : IDisposable
{
    private static readonly Dictionary<string, IReadOnlyList<string>> NoFlags = [];

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("parley-configuration-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void AFlagWinsOverAVariableWhichWinsOverTheFile()
    {
        string file = WriteSettings("""{ "maxLine": 100, "rateBurst": 7, "replay": 3 }""");
        var environment = new Dictionary<string, string> { ["PARLEY_RATE_BURST"] = "8", ["PARLEY_REPLAY"] = "4" };
        var flags = new Dictionary<string, IReadOnlyList<string>> { ["config"] = [file], ["replay"] = ["5"] };

        var options = ServerConfiguration.Load(flags, environment.GetValueOrDefault);

        Assert.Equal(100, options.MaxLineBytes);
        Assert.Equal(8, options.RateBurst);
        Assert.Equal(5, options.Replay);
        Assert.Equal(Path.GetFullPath(file), options.ConfigFile);
    }

    [Fact]
    public void EveryDefaultWrittenInTheFileReadsBackAsTheDefault()
    {
        // The defaults shown in --help and docs are read from ServerOptions; writing them back must change nothing.
        foreach (var setting in ServerSetting.All.Where(s => s.DefaultText is not null && s.Name != "history"))
        {
            string file = WriteSettings($$"""{ "{{setting.Key}}": "{{setting.DefaultText}}" }""");
            var options = ServerConfiguration.Load(new Dictionary<string, IReadOnlyList<string>> { ["config"] = [file] }, _ => null);
            Assert.True(setting.DefaultText == setting.TextOf(options), $"{setting.Key}: {setting.TextOf(options)} is not the default {setting.DefaultText}");
        }
    }

    [Fact]
    public void DocsListEverySettingWithItsVariableKeyAndDefault()
    {
        string[] rows = File.ReadAllLines(Path.Combine(ParleyProcess.RepositoryRoot(), "docs", "configuration.md"));
        foreach (var setting in ServerSetting.All)
        {
            string? row = rows.FirstOrDefault(line => line.StartsWith($"| `{setting.Flag}", StringComparison.Ordinal));
            Assert.True(row is not null, $"docs/configuration.md has no row for {setting.Flag}");
            Assert.Contains($"`{setting.Variable}`", row, StringComparison.Ordinal);
            Assert.Contains($"`{setting.Key}`", row, StringComparison.Ordinal);
            Assert.Contains($"| {setting.DefaultText ?? "none"}", row, StringComparison.Ordinal);
            Assert.Equal(setting.PerListener, row.Contains("| yes |", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void AListenerHasItsOwnLimitsAndSharesTheProcessWideOnes()
    {
        string file = WriteSettings("""
            {
              "maxConnections": 50,
              "maxLine": 1000,
              "listeners": [
                { "service": "chat", "port": 0, "framing": "raw", "maxLine": 512 },
                { "service": "chat", "port": 0 },
              ],
            }
            """);
        var flags = new Dictionary<string, IReadOnlyList<string>> { ["config"] = [file], ["max-line"] = ["2000"] };

        var options = ServerConfiguration.Load(flags, _ => null);

        Assert.Equal(2, options.Services.Count);
        var raw = options.For(options.Services[0]);
        var line = options.For(options.Services[1]);
        Assert.Equal((Framing.Raw, 512, 50), (raw.Framing, raw.MaxLineBytes, raw.MaxConnections));
        Assert.Equal((Framing.Line, 2000, 50), (line.Framing, line.MaxLineBytes, line.MaxConnections));
    }

    [Fact]
    public void AServiceOnTheCommandLineReplacesTheFilesListenersForThatServiceOnly()
    {
        string file = WriteSettings("""{ "listeners": [{ "service": "chat", "port": 0, "framing": "raw" }, { "service": "greet", "port": 0 }] }""");
        var options = ServerConfiguration.Load(new Dictionary<string, IReadOnlyList<string>> { ["config"] = [file], ["chat"] = ["7000"] }, _ => null);
        Assert.Equal(new ServiceBinding(ServiceKind.Chat, 7000), options.Services[0]);
        Assert.Equal(ServiceKind.Greet, options.Services[1].Kind);
        Assert.Equal(2, options.Services.Count);
    }

    [Fact]
    public async Task EachListenerRunsWithItsOwnOptions()
    {
        // Two echo listeners in one server, each enforcing its own longest line: one handler instance per listener.
        await using var server = await TestServer.StartAsync(options =>
        {
            options.Services.Add(new ServiceBinding(ServiceKind.Echo, 0));
            var small = options.CopyForListener();
            small.MaxLineBytes = 32;
            options.Services.Add(new ServiceBinding(ServiceKind.Echo, 0, small));
        });

        await using var wide = await LineClient.ConnectAsync(server.Server.Endpoints[0].EndPoint);
        await using var narrow = await LineClient.ConnectAsync(server.Server.Endpoints[1].EndPoint);
        string line = new('x', 100);
        await wide.SendLineAsync(line);
        await narrow.SendLineAsync(line);
        Assert.Equal(line, await wide.ReadLineAsync());
        Assert.Equal("! line too long (max 32 bytes)", await narrow.ReadLineAsync());
    }

    [Theory]
    [InlineData("Parley.Server.Chat.ChatConnectionHandler", "ChatConnectionHandler")]
    [InlineData("Microsoft.AspNetCore.Server.Kestrel", "Kestrel")]
    [InlineData("Program", "Program")]
    public void LogCategoriesAreShortenedToTheTypeName(string category, string expected) =>
        Assert.Equal(expected, ServerLogFormatter.ShortCategory(category));

    private string WriteSettings(string json)
    {
        string path = Path.Combine(_directory.FullName, $"parley-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }
}
