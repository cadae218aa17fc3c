using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Parley.Redis;
using Parley.Server.Hosting;

namespace Parley.Cli;

/// <summary>
/// <c>parley serve</c>: runs any set of services in one process. Its flags are made from <see cref="ServerSetting.All"/>,
/// the list the <c>PARLEY_*</c> variables and the settings file follow too; <see cref="ServerConfiguration"/> merges
/// the three and <see cref="ServerOptions"/> holds every default.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var command = new Command("serve", "Run the chat, greeting, echo and UDP services (with no service flag: chat on 9999). " +
            "Every flag is also a variable (--max-line is PARLEY_MAX_LINE) and a key of the --config file (maxLine); " +
            "flags win over variables, variables over the file.");
        var config = new Option<string>("--config") { Description = "Read settings from this JSON file (see docs/configuration.md)", HelpName = "FILE" };
        command.Options.Add(config);
        var flags = new List<(ServerSetting Setting, Option Option)>();
        foreach (var setting in ServerSetting.All)
        {
            // Every value arrives as text and is parsed by the setting itself, so a flag, its variable and its file
            // key share one parser and one wording of each mistake ("--chat: 'abc' is not a port number").
            Option option = setting.Shape switch
            {
                SettingShape.Switch => new Option<bool>(setting.Flag),
                SettingShape.List => new Option<string[]>(setting.Flag) { HelpName = setting.HelpName },
                SettingShape.Value or SettingShape.Port => new Option<string>(setting.Flag) { HelpName = setting.HelpName },
                _ => throw new ArgumentOutOfRangeException(nameof(setting), setting.Shape, "a setting shape without a flag"),
            };
            option.Description = setting.DefaultText is { } defaultText && setting.Shape != SettingShape.Switch
                ? $"{setting.Description} [default: {defaultText}]"
                : setting.Description;
            command.Options.Add(option);
            flags.Add((setting, option));
        }

        command.SetAction((parse, cancellation) => Cli.RunAsync(async token =>
        {
            var given = new Dictionary<string, IReadOnlyList<string>>();
            foreach (var (setting, option) in flags)
            {
                // A bool option reports an implicit "false" when absent; only what the user typed may win over the
                // variable and the file.
                if (parse.GetResult(option) is not { Implicit: false })
                {
                    continue;
                }

                given[setting.Name] = option switch
                {
                    Option<bool> flag => [parse.GetValue(flag) ? "true" : "false"],
                    Option<string[]> list => parse.GetValue(list) ?? [],
                    Option<string> value => [parse.GetValue(value) ?? ""],
                    _ => throw new InvalidOperationException($"{setting.Flag} has no reader"),
                };
            }

            if (parse.GetValue(config) is { } file)
            {
                given[ServerConfiguration.ConfigName] = [file];
            }

            ServerOptions options;
            try
            {
                options = ServerConfiguration.Load(given, Environment.GetEnvironmentVariable);
            }
            catch (SettingsException ex)
            {
                throw new UsageException(ex.Message);
            }

            if (options.Redis is not null)
            {
                options.Cluster = new RedisChatCluster(options);
            }

            return await ServeAsync(options, token);
        }, cancellation));
        return command;
    }

    private static async Task<int> ServeAsync(ServerOptions options, CancellationToken cancellation)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var signals = Cli.OnTerminationSignals(stop.Cancel);
        var server = await ParleyServer.StartAsync(options, logging => ConfigureLogging(logging, options.LogLevel), cancellation);
        await using (server)
        {
            foreach (var endpoint in server.Endpoints)
            {
                Console.Out.WriteLine(endpoint.ToString());
            }

            await Console.Out.FlushAsync(cancellation);
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
                // SIGINT or SIGTERM: fall through to the graceful stop.
            }

            await server.StopAsync(CancellationToken.None);
        }

        return ExitCodes.Ok;
    }

    // stdout carries only the "listening on" lines that scripts read; every log line goes to stderr.
    private static void ConfigureLogging(ILoggingBuilder logging, LogLevel level)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(level);
        logging.AddFilter("Microsoft", level > LogLevel.Warning ? level : LogLevel.Warning);
        // A failed start is reported once, as one "parley: cannot listen on ..." line; the host would log it again.
        logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        logging.AddConsole(console =>
        {
            console.FormatterName = ServerLogFormatter.FormatterName;
            console.LogToStandardErrorThreshold = LogLevel.Trace;
        });
        logging.Services.AddSingleton<ConsoleFormatter, ServerLogFormatter>();

        // The format prints no scopes, but a provider that accepts them makes the logging factory keep one per
        // connection: Kestrel opens a scope for each and holds it (with an execution context) while the connection
        // lives, about 200 B of every idle connection. Handing the console provider over without its scope support
        // keeps every log line and drops those.
        var console = logging.Services.First(d => d.ServiceType == typeof(ILoggerProvider) && d.ImplementationType == typeof(ConsoleLoggerProvider));
        logging.Services.Remove(console);
        logging.Services.AddSingleton<ConsoleLoggerProvider>();
        logging.Services.AddSingleton<ILoggerProvider>(services => new ScopelessLoggerProvider(services.GetRequiredService<ConsoleLoggerProvider>()));
    }

    /// <summary>A provider that passes loggers through but does not take the factory's scopes (see ConfigureLogging).</summary>
    private sealed class ScopelessLoggerProvider(ILoggerProvider inner) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => inner.CreateLogger(categoryName);

        public void Dispose() => inner.Dispose();
    }
}
