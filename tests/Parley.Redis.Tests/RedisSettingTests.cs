using Parley.Server.Hosting;

namespace Parley.Redis.Tests;

/// <summary>--redis is a setting like the others: a flag, PARLEY_REDIS and the settings file's "redis", in that order.</summary>
public sealed class RedisSettingTests
{
    [Fact]
    public void TheFlagWinsOverTheVariableWhichWinsOverTheFile()
    {
        string file = Path.Combine(Directory.CreateTempSubdirectory("parley-redis-").FullName, "parley.json");
        File.WriteAllText(file, """{ "redis": "from-file:6379" }""");
        var config = new Dictionary<string, IReadOnlyList<string>> { ["config"] = [file] };

        Assert.Equal("from-file:6379", ServerConfiguration.Load(config, _ => null).Redis);
        Assert.Equal("from-env:6379", ServerConfiguration.Load(config, name => name == "PARLEY_REDIS" ? "from-env:6379" : null).Redis);
        config["redis"] = ["from-flag:6379"];
        Assert.Equal("from-flag:6379", ServerConfiguration.Load(config, name => name == "PARLEY_REDIS" ? "from-env:6379" : null).Redis);
        Assert.Null(ServerConfiguration.Load(new Dictionary<string, IReadOnlyList<string>>(), _ => null).Redis);
    }

    [Fact]
    public void AnEmptyRedisConfigurationIsRefusedInOneLine()
    {
        var flags = new Dictionary<string, IReadOnlyList<string>> { ["redis"] = [""] };
        var error = Assert.Throws<SettingsException>(() => ServerConfiguration.Load(flags, _ => null));
        Assert.Equal("--redis: '' is not a Redis configuration (try localhost:6379)", error.Message);
    }
}
