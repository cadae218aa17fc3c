using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;

namespace Parley.Server.Hosting;

/// <summary>What a setting's value looks like, which decides how a flag, a variable and a file key carry it.</summary>
public enum SettingShape
{
    /// <summary>One value: <c>--max-line 512</c>, <c>PARLEY_MAX_LINE=512</c>, <c>"maxLine": 512</c>.</summary>
    Value,

    /// <summary>On when given: <c>--limit-loopback</c>, <c>PARLEY_LIMIT_LOOPBACK=true</c>, <c>"limitLoopback": true</c>.</summary>
    Switch,

    /// <summary>Repeatable: <c>--allow A --allow B</c>, <c>PARLEY_ALLOW=A,B</c>, <c>"allow": ["A", "B"]</c>.</summary>
    List,

    /// <summary>A service's port: <c>--chat 9999</c>; the file also has <c>listeners</c> for services with their own options.</summary>
    Port,
}

/// <summary>A setting's value as one source gave it, with the name to blame when it is wrong.</summary>
/// <param name="Texts">The value as text (a list setting may have several).</param>
/// <param name="Label">Where it came from, as the user wrote it: <c>--max-line</c>, <c>PARLEY_MAX_LINE</c>, <c>parley.json: maxLine</c>.</param>
/// <param name="BaseDirectory">Relative paths are relative to this (the settings file's folder), or to the working directory when null.</param>
public readonly record struct SettingValue(IReadOnlyList<string> Texts, string Label, string? BaseDirectory = null)
{
    /// <summary>The value of a one-value setting; given twice on the command line, the last one counts.</summary>
    public string Text => Texts[^1];

    internal int Integer() =>
        int.TryParse(Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) ? value : throw Invalid("is not a whole number");

    internal long Long() =>
        long.TryParse(Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value) ? value : throw Invalid("is not a whole number");

    internal double Number() =>
        double.TryParse(Text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && double.IsFinite(value) ? value : throw Invalid("is not a number");

    // Bounded before TimeSpan sees it: TimeSpan.FromSeconds throws on values past about 29,000 years.
    internal TimeSpan Seconds() =>
        double.TryParse(Text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && Math.Abs(value) < 1e9
            ? TimeSpan.FromSeconds(value)
            : throw Invalid("is not a number of seconds");

    internal int Port() =>
        int.TryParse(Text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) ? value : throw Invalid("is not a port number");

    internal bool Switch() => Text.ToUpperInvariant() switch
    {
        "TRUE" or "1" or "YES" or "ON" => true,
        "FALSE" or "0" or "NO" or "OFF" => false,
        _ => throw Invalid("is not true or false"),
    };

    /// <summary>A path as the user meant it: a relative one in a settings file is relative to that file.</summary>
    internal string Path(string text) => BaseDirectory is null ? text : System.IO.Path.GetFullPath(text, BaseDirectory);

    internal SettingsException Invalid(string why) => new($"{Label}: '{Text}' {why}");
}

/// <summary>A mistake in the settings (a flag, a variable or the file), in one line a user can act on.</summary>
public sealed class SettingsException(string message) : Exception(message);

/// <summary>
/// One setting of <c>parley serve</c> under its three names: the flag <c>--max-line</c>, the variable
/// <c>PARLEY_MAX_LINE</c> and the settings file's key <c>maxLine</c>. <see cref="All"/> is the list the command line,
/// the variables, the file and docs/configuration.md all follow, so a setting added here is added everywhere.
/// </summary>
public sealed class ServerSetting
{
    private static readonly ServerOptions Defaults = new();

    private readonly Func<ServerOptions, string?> _defaultText;
    private readonly Action<ServerOptions, SettingValue> _apply;

    private ServerSetting(string name, SettingShape shape, string helpName, string description, bool perListener, Func<ServerOptions, string?> defaultText, Action<ServerOptions, SettingValue> apply)
    {
        Name = name;
        Shape = shape;
        HelpName = helpName;
        Description = description;
        PerListener = perListener;
        _defaultText = defaultText;
        _apply = apply;
    }

    /// <summary>The flag without its dashes: <c>max-line</c>.</summary>
    public string Name { get; }

    public SettingShape Shape { get; }

    public string HelpName { get; }

    public string Description { get; }

    /// <summary>Whether a settings file's listener may give its own value (framing, TLS, per-connection limits).</summary>
    public bool PerListener { get; }

    public string Flag => "--" + Name;

    public string Variable => "PARLEY_" + Name.Replace('-', '_').ToUpperInvariant();

    /// <summary>The settings file's key: the flag in camelCase (<c>max-line</c> is <c>maxLine</c>).</summary>
    public string Key => string.Concat(Name.Split('-').Select((word, i) => i == 0 ? word : char.ToUpperInvariant(word[0]) + word[1..]));

    /// <summary>The default as a user would write it (read from <see cref="ServerOptions"/>), or null when there is none.</summary>
    public string? DefaultText => _defaultText(Defaults);

    /// <summary>This setting's value in <paramref name="options"/>, written as a user would write it.</summary>
    internal string? TextOf(ServerOptions options) => _defaultText(options);

    /// <summary>The service a <see cref="SettingShape.Port"/> setting starts.</summary>
    public ServiceKind? Service => Shape == SettingShape.Port ? ServiceKinds.Single(kind => ServiceNames.Of(kind) == Name) : null;

    public void Apply(ServerOptions options, SettingValue value) => _apply(options, value);

    // Static fields initialise in the order written: these must come before All, which reads them.
    private static readonly ServiceKind[] ServiceKinds = Enum.GetValues<ServiceKind>();

    // Log levels by the names users write, not the enum's ("information" and "none" as in appsettings.json).
    private static readonly (string Name, LogLevel Level)[] LogLevels =
    [
        ("trace", LogLevel.Trace), ("debug", LogLevel.Debug), ("information", LogLevel.Information),
        ("warning", LogLevel.Warning), ("error", LogLevel.Error), ("critical", LogLevel.Critical), ("none", LogLevel.None),
    ];

    // The order is the order of `parley serve --help` and of docs/configuration.md.
    public static IReadOnlyList<ServerSetting> All { get; } =
    [
        Port("chat", "Run the chat service on PORT (0 picks a free port)"),
        Port("greet", "Run the greeting service (welcome!, hello X, exit) on PORT"),
        Port("echo", "Run the echo service on PORT"),
        Port("udp-greet", "Run the UDP greeting service (Hello, X!) on PORT"),
        Port("udp-echo", "Run the UDP echo service on PORT"),
        Port("irc", "Run the IRC service (irssi, WeeChat, HexChat; channel #NAME is room NAME) on PORT"),
        Port("web", "Serve the chat page (/), its WebSocket (/ws), /metrics and /healthz over HTTP on PORT (HTTPS with --tls-cert)"),
        Value("bind", "ADDR", "Address to listen on (::1 and :: work; 0.0.0.0 exposes the server to the network)", perListener: true,
            o => o.BindAddress.ToString(), (o, v) => o.BindAddress = ParseBindAddress(v)),
        Value("framing", "line|raw", "line: one message per LF-ended line; raw: every read is a message (the tutorials' programs)", perListener: true,
            o => o.Framing == Framing.Raw ? "raw" : "line", (o, v) => o.Framing = v.Text switch
            {
                "line" => Framing.Line,
                "raw" => Framing.Raw,
                _ => throw v.Invalid("is not line or raw"),
            }),
        Value("reply", "TEXT", "Echo service: answer every message with TEXT instead of echoing it", perListener: true,
            o => o.EchoReply, (o, v) => o.EchoReply = v.Text),
        Value("backlog", "N", "Listen backlog: connections the kernel queues before they are accepted", perListener: false,
            o => Invariant(o.ListenBacklog), (o, v) => o.ListenBacklog = v.Integer()),
        Value("max-line", "BYTES", "Longest line accepted, in bytes; longer ones are discarded with an error", perListener: true,
            o => Invariant(o.MaxLineBytes), (o, v) => o.MaxLineBytes = v.Integer()),
        Value("max-backlog", "BYTES", "Outbound bytes queued for one chat member before it is cut off as too slow", perListener: true,
            o => Invariant(o.MaxBacklogBytes), (o, v) => o.MaxBacklogBytes = v.Long()),
        Value("max-connections", "N", "Connections across all TCP services; more are told the server is full", perListener: false,
            o => Invariant(o.MaxConnections), (o, v) => o.MaxConnections = v.Integer()),
        Value("max-per-address", "N", "Connections from one remote address (loopback exempt unless --limit-loopback)", perListener: false,
            o => Invariant(o.MaxConnectionsPerAddress), (o, v) => o.MaxConnectionsPerAddress = v.Integer()),
        Switch("limit-loopback", "Apply --max-per-address to loopback clients too",
            o => o.LimitLoopback ? "true" : "false", (o, v) => o.LimitLoopback = v.Switch()),
        Value("password", "PASSWORD", "Chat clients must send /pass PASSWORD first (PARLEY_PASSWORD keeps it out of ps)", perListener: true,
            o => o.Password, (o, v) => o.Password = v.Text),
        Value("oper-password", "PASSWORD", "Chat users who send /oper PASSWORD may /kick and /ban", perListener: false,
            o => o.OperatorPassword, (o, v) => o.OperatorPassword = v.Text),
        // The three TLS settings make one certificate together; ServerConfiguration loads it once all are known.
        Value("tls-cert", "FILE", "Serve TCP over TLS with this certificate: a PEM file (with --tls-key) or a PFX file", perListener: true,
            _ => null, (_, _) => { }),
        Value("tls-key", "FILE", "The PEM private key for --tls-cert", perListener: true,
            _ => null, (_, _) => { }),
        Value("tls-password", "PASSWORD", "The password of a PFX file or encrypted key", perListener: true,
            _ => null, (_, _) => { }),
        Value("line-timeout", "SECONDS", "Close a connection that takes longer than SECONDS to finish a line (0: never)", perListener: true,
            o => Invariant(o.LineTimeout.TotalSeconds), (o, v) => o.LineTimeout = v.Seconds()),
        Value("idle-timeout", "SECONDS", "Close a TCP connection that sends nothing for SECONDS (0: never)", perListener: true,
            o => Invariant(o.IdleTimeout.TotalSeconds), (o, v) => o.IdleTimeout = v.Seconds()),
        Value("irc-ping", "SECONDS", "IRC: PING a client quiet for SECONDS, drop it after as long again (0: never)", perListener: true,
            o => Invariant(o.IrcPingInterval.TotalSeconds), (o, v) => o.IrcPingInterval = v.Seconds()),
        Value("irc-server-name", "NAME", "IRC: the name the server gives itself (prefixes, 004, WHO, WHOIS), a host name such as irc.example.com", perListener: false,
            o => o.IrcServerName, (o, v) => o.IrcServerName = v.Text),
        Value("rate-limit", "LINES_PER_S", "Chat lines per second per connection before the server reads more slowly (0: off)", perListener: true,
            o => Invariant(o.RateLimit), (o, v) => o.RateLimit = v.Number()),
        Value("rate-burst", "N", "Chat lines a connection may send at once above --rate-limit", perListener: true,
            o => Invariant(o.RateBurst), (o, v) => o.RateBurst = v.Integer()),
        List("allow", "CIDR", "Only accept clients from this network (CIDR, repeatable), e.g. 192.168.0.0/16",
            (o, v) => Replace(o.Allow, v.Texts.Select(text => ParseNetwork(text, v)))),
        List("deny", "CIDR", "Refuse clients from this network (CIDR, repeatable); wins over --allow",
            (o, v) => Replace(o.Deny, v.Texts.Select(text => ParseNetwork(text, v)))),
        List("web-origin", "ORIGIN", "Let pages from ORIGIN (repeatable, e.g. https://chat.example.com) open the WebSocket; its own pages always may",
            (o, v) => Replace(o.WebOrigins, v.Texts.Select(text => ParseOrigin(text, v)))),
        Value("history", "PATH|memory|off", "Where rooms keep what was said: a SQLite file, memory (until exit) or off", perListener: false,
            o => o.History switch
            {
                HistoryMode.Sqlite => o.HistoryPath ?? "history.db beside --config, else in the user's data directory",
                HistoryMode.Memory => "memory",
                HistoryMode.Off => "off",
                _ => throw new ArgumentOutOfRangeException(nameof(o), o.History, "unknown history mode"),
            },
            ApplyHistory),
        Value("history-keep", "N", "Lines kept per room; older ones are pruned (0: keep all)", perListener: false,
            o => Invariant(o.HistoryKeep), (o, v) => o.HistoryKeep = v.Integer()),
        Value("history-days", "N", "Days lines are kept; older ones are pruned (0: regardless of age)", perListener: false,
            o => Invariant(o.HistoryDays), (o, v) => o.HistoryDays = v.Integer()),
        Value("redis", "CONFIG", "Be one node of a chat over Redis: a StackExchange.Redis configuration string such as localhost:6379 (docs/cluster.md)", perListener: false,
            o => o.Redis, (o, v) => o.Redis = v.Text.Length > 0 ? v.Text : throw v.Invalid("is not a Redis configuration (try localhost:6379)")),
        Value("replay", "N", "Lines a member is shown when it enters a room (0: none)", perListener: false,
            o => Invariant(o.Replay), (o, v) => o.Replay = v.Integer()),
        Value("presence-limit", "N", "Rooms larger than N members tell nobody of joins, leaves and renames", perListener: false,
            o => Invariant(o.PresenceLimit), (o, v) => o.PresenceLimit = v.Integer()),
        Value("max-output-memory", "BYTES", "Queued output of all connections together; past it the largest backlogs are cut off", perListener: false,
            o => Invariant(o.MaxOutputMemory), (o, v) => o.MaxOutputMemory = v.Long()),
        Value("slow-reader-wait", "SECONDS", "Longest a room's publishers are held back for one member that is behind", perListener: false,
            o => Invariant(o.SlowReaderWait.TotalSeconds), (o, v) => o.SlowReaderWait = v.Seconds()),
        Value("compact-after", "N", "Compact the heap once a crowd of at least N connections has arrived or left and gone quiet (0: never)", perListener: false,
            o => Invariant(o.CompactAfterConnections), (o, v) => o.CompactAfterConnections = v.Integer()),
        Value("log-level", "LEVEL", "Least important log messages written to stderr: " + string.Join(", ", LogLevels.Select(level => level.Name)), perListener: false,
            o => LogLevels.First(level => level.Level == o.LogLevel).Name, (o, v) => o.LogLevel = ParseLogLevel(v)),
        Value("summary-interval", "SECONDS", "Log one line with connections and messages per second every SECONDS (0: never)", perListener: false,
            o => Invariant(o.SummaryInterval.TotalSeconds), (o, v) => o.SummaryInterval = v.Seconds()),
    ];

    /// <summary>The settings a settings file's listener may give for itself.</summary>
    public static IEnumerable<ServerSetting> ForListeners => All.Where(setting => setting.PerListener);

    public static ServerSetting Named(string name) => All.Single(setting => setting.Name == name);

    private static LogLevel ParseLogLevel(SettingValue value)
    {
        string text = value.Text.ToLowerInvariant() switch
        {
            "info" => "information",
            "warn" => "warning",
            var other => other,
        };
        foreach (var (name, level) in LogLevels)
        {
            if (name == text)
            {
                return level;
            }
        }

        throw value.Invalid($"is not a log level: use {string.Join(", ", LogLevels[..^1].Select(level => level.Name))} or none");
    }

    private static void ApplyHistory(ServerOptions options, SettingValue value)
    {
        options.History = value.Text switch
        {
            "memory" => HistoryMode.Memory,
            "off" => HistoryMode.Off,
            "" => throw value.Invalid("is not a file, memory or off"),
            _ => HistoryMode.Sqlite,
        };
        options.HistoryPath = options.History == HistoryMode.Sqlite ? value.Path(value.Text) : null;
    }

    private static IPAddress ParseBindAddress(SettingValue value)
    {
        if (value.Text.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            return IPAddress.Loopback;
        }

        return IPAddress.TryParse(value.Text.Trim('[', ']'), out var address)
            ? address
            : throw value.Invalid("is not an IP address (try 127.0.0.1, ::1 or 0.0.0.0)");
    }

    // A bare address means that one host: 10.0.0.5 is 10.0.0.5/32.
    private static IPNetwork ParseNetwork(string text, SettingValue value)
    {
        if (IPNetwork.TryParse(text, out var network))
        {
            return network;
        }

        return IPAddress.TryParse(text, out var host)
            ? new IPNetwork(host, host.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)
            : throw new SettingsException($"{value.Label}: '{text}' is not a network such as 192.168.0.0/16 or an address");
    }

    // As a browser writes it in the Origin header: scheme, host and a port only when not the scheme's default.
    private static string ParseOrigin(string text, SettingValue value)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0)
        {
            throw new SettingsException($"{value.Label}: '{text}' is not an origin such as https://chat.example.com or http://localhost:8080");
        }

        return uri.GetComponents(UriComponents.SchemeAndServer, UriFormat.UriEscaped).ToLowerInvariant();
    }

    private static void Replace<T>(List<T> list, IEnumerable<T> items)
    {
        var parsed = items.ToList();
        list.Clear();
        list.AddRange(parsed);
    }

    private static string Invariant(IFormattable value) => value.ToString(null, CultureInfo.InvariantCulture);

    private static ServerSetting Port(string name, string description) =>
        new(name, SettingShape.Port, "PORT", description, perListener: false, _ => null, (_, _) => { });

    private static ServerSetting Value(string name, string helpName, string description, bool perListener, Func<ServerOptions, string?> defaultText, Action<ServerOptions, SettingValue> apply) =>
        new(name, SettingShape.Value, helpName, description, perListener, defaultText, apply);

    private static ServerSetting Switch(string name, string description, Func<ServerOptions, string?> defaultText, Action<ServerOptions, SettingValue> apply) =>
        new(name, SettingShape.Switch, "", description, perListener: false, defaultText, apply);

    private static ServerSetting List(string name, string helpName, string description, Action<ServerOptions, SettingValue> apply) =>
        new(name, SettingShape.List, helpName, description, perListener: false, _ => null, apply);
}
