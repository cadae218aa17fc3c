using System.Net;
using Microsoft.Extensions.Logging;

namespace Parley.Server.Hosting;

/// <summary>How TCP services cut the byte stream into messages.</summary>
public enum Framing
{
    /// <summary>UTF-8 lines ended by LF; the default.</summary>
    Line,

    /// <summary>Every read is one message, for the tutorials' programs that never send a newline.</summary>
    Raw,
}

/// <summary>The services a <c>parley serve</c> process runs.</summary>
public enum ServiceKind
{
    Chat,
    Greet,
    Echo,
    UdpGreet,
    UdpEcho,
    Irc,
    Web,
}

/// <summary>Where rooms keep what was said (<c>--history</c>).</summary>
public enum HistoryMode
{
    /// <summary>A SQLite file: <see cref="ServerOptions.HistoryPath"/>, or the default location.</summary>
    Sqlite,

    /// <summary>In memory: kept while the process runs (tests, trying things out).</summary>
    Memory,

    /// <summary>Nothing is kept; joins replay nothing.</summary>
    Off,
}

/// <summary>
/// One service to run and the port to run it on (0 picks a free one). <paramref name="Options"/> are this listener's own
/// options (a settings file's <c>listeners</c> entry: framing, TLS, limits), or null to use the process-wide ones.
/// </summary>
public readonly record struct ServiceBinding(ServiceKind Kind, int Port, ServerOptions? Options = null);

/// <summary>
/// Everything <c>parley serve</c> is told; validated by <see cref="Validate"/> before anything binds. This class is
/// the one place where defaults are written: flags, variables, the settings file and docs read them from here.
/// </summary>
public sealed class ServerOptions
{
    /// <summary>The port the tutorials use, and so the chat service's default.</summary>
    public const int DefaultChatPort = 9999;

    /// <summary>Defaults to one chat service on <see cref="DefaultChatPort"/> when left empty.</summary>
    public List<ServiceBinding> Services { get; } = [];

    /// <summary>Defaults to loopback: exposing a server to the network must be asked for (<c>--bind 0.0.0.0</c>).</summary>
    public IPAddress BindAddress { get; set; } = IPAddress.Loopback;

    /// <summary>Defaults to lines: the chat protocol. Raw is for the tutorials' programs, which send no newline.</summary>
    public Framing Framing { get; set; } = Framing.Line;

    /// <summary>A fixed reply for the echo service (the tutorials' "ok, 问题正在处理中..."); null echoes each message.</summary>
    public string? EchoReply { get; set; }

    /// <summary>
    /// Defaults to 4096, Linux's default somaxconn (the kernel caps it there anyway). At 512, opening 19,000
    /// connections 500 at a time overflowed the accept queue 200 to 700 times per run (<c>nstat TcpExtListenOverflows</c>):
    /// those clients wait for SYN-ACK retransmits, and now and then one is dropped. At 4096: none.
    /// </summary>
    public int ListenBacklog { get; set; } = 4096;

    /// <summary>
    /// Defaults to 4096 bytes. A longer line is dropped up to its LF and answered with an error, never buffered,
    /// so one client cannot make the server hold an unbounded line.
    /// </summary>
    public int MaxLineBytes { get; set; } = 4096;

    /// <summary>
    /// Defaults to 1 MiB per member: enough for thousands of queued chat lines, small enough that 10,000 members who
    /// stop reading cannot exhaust memory. A member past it is disconnected as too slow; the room never waits.
    /// </summary>
    public long MaxBacklogBytes { get; set; } = 1024 * 1024;

    /// <summary>Defaults to 4 seconds, so the process exits within the 5 seconds the protocol promises.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(4);

    /// <summary>
    /// Defaults to 19,500 across all TCP services: every connection costs a file descriptor, and a process that runs
    /// out of them can no longer accept anyone (the per-process limit on the development machine is 20,000).
    /// </summary>
    public int MaxConnections { get; set; } = 19_500;

    /// <summary>
    /// Defaults to 64 per remote address: plenty for people behind one NAT, few enough that one host cannot take
    /// every slot. Loopback is exempt unless <see cref="LimitLoopback"/> is set.
    /// </summary>
    public int MaxConnectionsPerAddress { get; set; } = 64;

    /// <summary>
    /// Defaults to 20 chat lines per second per connection, with <see cref="RateBurst"/> on top: far above anyone
    /// typing, low enough that one client cannot flood a room. A client over it is read later, not dropped. Zero
    /// turns it off (benchmarks measure the relay, not the policy).
    /// </summary>
    public double RateLimit { get; set; } = 20;

    /// <summary>Defaults to 100 lines: a pasted block goes through at once.</summary>
    public int RateBurst { get; set; } = 100;

    /// <summary>
    /// Defaults to none. When set, a chat client's first line must be <c>/pass PASSWORD</c>; without it the
    /// connection hears nothing and is closed. It travels in clear text unless the connection is protected.
    /// </summary>
    public string? Password { get; set; }

    /// <summary>Defaults to none, and then nobody can become an operator. <c>/oper PASSWORD</c> grants /kick and /ban.</summary>
    public string? OperatorPassword { get; set; }

    /// <summary>
    /// Defaults to none (plain TCP). When set, every TCP service speaks TLS with this certificate, through Kestrel's
    /// TLS connection middleware; UDP services are unaffected.
    /// </summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? TlsCertificate { get; set; }

    /// <summary>Defaults to empty: everyone may connect. When given, only addresses in these networks may (<c>--allow</c>).</summary>
    public List<IPNetwork> Allow { get; } = [];

    /// <summary>Defaults to empty. Addresses in these networks are refused, even if allowed (<c>--deny</c>).</summary>
    public List<IPNetwork> Deny { get; } = [];

    /// <summary>
    /// Defaults to empty: only pages the server itself served may open its WebSocket. Other origins listed here
    /// (<c>https://chat.example.com</c>, as a browser sends them) may too (<c>--web-origin</c>).
    /// </summary>
    public List<string> WebOrigins { get; } = [];

    /// <summary>Defaults to false: local tools, benchmarks and tests open many connections from 127.0.0.1 and ::1.</summary>
    public bool LimitLoopback { get; set; }

    /// <summary>
    /// Defaults to off (zero). When set, a TCP connection that sends nothing for this long is told so and closed,
    /// so a vanished client leaves its room within a bounded time even where keepalives cannot see it.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; }

    /// <summary>
    /// Defaults to 30 seconds: how long a line may take from its first byte to its LF. Anyone typing into nc
    /// finishes a line well within it; a client dribbling a byte a second (slowloris) is told and closed instead of
    /// holding a connection forever. Zero turns it off. Line framing only.
    /// </summary>
    public TimeSpan LineTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Defaults to 60 seconds: an IRC client that sends nothing for this long is sent PING, and one that still sends
    /// nothing for as long again is dropped (so a dead client goes within two minutes). Zero never pings.
    /// </summary>
    public TimeSpan IrcPingInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Defaults to <c>parley</c>: the name the IRC front end gives itself in numerics, in its own lines and as the host
    /// of every user's prefix. A host name (letters, digits, '.', '-'), since IRC clients parse it as one.
    /// </summary>
    public string IrcServerName { get; set; } = Protocol.Formats.IrcFormatter.DefaultServerName;

    /// <summary>Defaults to SQLite in the default location (see docs/configuration.md).</summary>
    public HistoryMode History { get; set; } = HistoryMode.Sqlite;

    /// <summary>Defaults to null: the user's data directory, or beside the <c>--config</c> file.</summary>
    public string? HistoryPath { get; set; }

    /// <summary>Defaults to 100,000 lines per room; older lines are pruned in the background. Zero keeps all.</summary>
    public int HistoryKeep { get; set; } = 100_000;

    /// <summary>Defaults to 90 days; older lines are pruned in the background. Zero keeps them regardless of age.</summary>
    public int HistoryDays { get; set; } = 90;

    /// <summary>Defaults to 20: the lines a member is shown when it enters a room. Zero shows none.</summary>
    public int Replay { get; set; } = 20;

    /// <summary>
    /// Defaults to 1,000 members (as Twitch's chat): in a larger room nobody is told of joins, leaves and renames
    /// but the member itself, since telling N members of N arrivals costs N² lines.
    /// </summary>
    public int PresenceLimit { get; set; } = 1000;

    /// <summary>
    /// Defaults to 512 MiB: all connections' queued output together. Past it, the members with the largest
    /// backlogs are cut off first (as Redis's maxmemory-clients), so a crowd of slow readers cannot exhaust memory.
    /// </summary>
    public long MaxOutputMemory { get; set; } = 512L * 1024 * 1024;

    /// <summary>
    /// Defaults to 2 seconds: the longest a room's publishers are held back, in all, for one member that is behind
    /// before it is cut off as too slow (the allowance refills at a quarter of real time; docs/security.md).
    /// </summary>
    public TimeSpan SlowReaderWait { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Defaults to 64 KiB, the largest UDP payload that fits an IPv4 datagram.</summary>
    public int MaxDatagramBytes { get; set; } = 65507;

    /// <summary>
    /// Defaults to 2,000: after that many connections more (or fewer) than at the last compaction, and two seconds
    /// without a new one, the heap is compacted once and its free space given back (<see cref="HeapCompaction"/>): the
    /// holes a crowd leaves were a sixth of an idle connection's memory. At most once every 30 s. Zero never compacts.
    /// </summary>
    public int CompactAfterConnections { get; set; } = 2_000;

    /// <summary>Defaults to Information: connections, names and refusals, which is what an operator reads.</summary>
    public LogLevel LogLevel { get; set; } = LogLevel.Information;

    /// <summary>
    /// Defaults to 60 seconds: how often one Information line sums up the server (connections, messages per second), so
    /// a quiet log still shows the server is alive and a busy one shows its load. Zero turns it off.
    /// </summary>
    public TimeSpan SummaryInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Defaults to null. The settings file these options were read from (<c>--config</c>), as a full path: state the
    /// server keeps without being told where (the history file) goes beside it.
    /// </summary>
    public string? ConfigFile { get; set; }

    /// <summary>
    /// Defaults to null: one node. A StackExchange.Redis configuration string (<c>localhost:6379</c>) makes this server
    /// one node of a chat with every server that names the same Redis (docs/cluster.md).
    /// </summary>
    public string? Redis { get; set; }

    /// <summary>
    /// Defaults to null. What <see cref="Redis"/> plugs in: the host that can talk to Redis (the CLI, the tests) sets it,
    /// so Parley.Server itself never references a Redis client.
    /// </summary>
    public Bus.IChatCluster? Cluster { get; set; }

    /// <summary>The options one listener runs with: its own when its binding has them, else these.</summary>
    public ServerOptions For(ServiceBinding service) => service.Options ?? this;

    /// <summary>
    /// A copy for one listener to override (framing, TLS, limits). Lists are shared: allow, deny and the services are
    /// process-wide, and nothing changes them once the server starts.
    /// </summary>
    public ServerOptions CopyForListener() => (ServerOptions)MemberwiseClone();

    /// <summary>
    /// The services to run: chat on <see cref="DefaultChatPort"/> when none is given, and also when only the web page is
    /// (<c>parley serve --web 8080</c>), so the people it brings in can chat with <c>parley chat</c> and <c>nc</c> users.
    /// </summary>
    public IReadOnlyList<ServiceBinding> EffectiveServices =>
        Services.Count == 0 ? [new ServiceBinding(ServiceKind.Chat, DefaultChatPort)]
        : Services.TrueForAll(s => s.Kind == ServiceKind.Web) ? [new ServiceBinding(ServiceKind.Chat, DefaultChatPort), .. Services]
        : Services;

    /// <summary>Returns what is wrong in one line a user can act on, or null.</summary>
    /// <param name="describe">
    /// Names a setting (given as its flag without dashes, <c>max-line</c>) as the user gave it: <c>--max-line</c> by
    /// default, <c>PARLEY_MAX_LINE</c> or <c>parley.json: maxLine</c> when it came from there.
    /// </param>
    public string? Validate(Func<string, string>? describe = null)
    {
        describe ??= name => "--" + name;
        foreach (var service in Services)
        {
            if (service.Port is < 0 or > 65535)
            {
                return $"{describe(ServiceNames.Of(service.Kind))}: port {service.Port} is not between 0 and 65535";
            }
        }

        var tcpPorts = Services.Where(s => s.Port != 0 && !ServiceNames.IsUdp(s.Kind)).GroupBy(s => s.Port).FirstOrDefault(g => g.Count() > 1);
        if (tcpPorts is not null)
        {
            return $"port {tcpPorts.Key} is given to more than one TCP service";
        }

        var udpPorts = Services.Where(s => s.Port != 0 && ServiceNames.IsUdp(s.Kind)).GroupBy(s => s.Port).FirstOrDefault(g => g.Count() > 1);
        if (udpPorts is not null)
        {
            return $"port {udpPorts.Key} is given to more than one UDP service";
        }

        return ValidateLimits(describe);
    }

    /// <summary>The checks of one listener's options: <see cref="Validate"/> without the list of services.</summary>
    internal string? ValidateLimits(Func<string, string> describe)
    {
        // A day is far beyond any sensible timeout, and keeps TimeSpan arithmetic on deadlines far from overflow.
        const double Day = 86_400;
        return MaxLineBytes < 16 ? $"{describe("max-line")} must be at least 16 bytes"
            : ListenBacklog < 1 ? $"{describe("backlog")} must be at least 1"
            : IdleTimeout < TimeSpan.Zero || IdleTimeout.TotalSeconds > Day ? $"{describe("idle-timeout")} must be between 0 and 86400 seconds"
            : LineTimeout < TimeSpan.Zero || LineTimeout.TotalSeconds > Day ? $"{describe("line-timeout")} must be between 0 and 86400 seconds"
            : RateLimit < 0 || !double.IsFinite(RateLimit) ? $"{describe("rate-limit")} must not be negative"
            : RateBurst < 1 ? $"{describe("rate-burst")} must be at least 1"
            : MaxConnections < 1 ? $"{describe("max-connections")} must be at least 1"
            : MaxConnectionsPerAddress < 1 ? $"{describe("max-per-address")} must be at least 1"
            : MaxBacklogBytes < 1024 ? $"{describe("max-backlog")} must be at least 1024 bytes"
            : MaxOutputMemory < MaxBacklogBytes ? $"{describe("max-output-memory")} must be at least --max-backlog ({MaxBacklogBytes} bytes)"
            : SlowReaderWait < TimeSpan.Zero || SlowReaderWait.TotalSeconds > Day ? $"{describe("slow-reader-wait")} must be between 0 and 86400 seconds"
            : HistoryKeep < 0 ? $"{describe("history-keep")} must not be negative"
            : HistoryDays < 0 ? $"{describe("history-days")} must not be negative"
            : Replay is < 0 or > 10_000 ? $"{describe("replay")} must be between 0 and 10000 lines"
            : PresenceLimit < 0 ? $"{describe("presence-limit")} must not be negative"
            : CompactAfterConnections < 0 ? $"{describe("compact-after")} must not be negative"
            : History == HistoryMode.Sqlite && HistoryPath is { } path && Directory.Exists(path) ? $"{describe("history")}: {path} is a directory; give a file in it"
            : IrcPingInterval < TimeSpan.Zero || IrcPingInterval.TotalSeconds > Day ? $"{describe("irc-ping")} must be between 0 and 86400 seconds"
            : !IsHostName(IrcServerName) ? $"{describe("irc-server-name")}: '{IrcServerName}' is not a host name (1-63 letters, digits, '.' and '-', starting and ending with a letter or digit)"
            : SummaryInterval < TimeSpan.Zero || SummaryInterval.TotalSeconds > Day ? $"{describe("summary-interval")} must be between 0 and 86400 seconds"
            : null;
    }

    // IRC clients split a prefix at '!' and '@' and a line at spaces: the server's name must be a plain host name.
    private static bool IsHostName(string name) =>
        name.Length is >= 1 and <= 63
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-')
        && char.IsAsciiLetterOrDigit(name[0]) && char.IsAsciiLetterOrDigit(name[^1]);
}

/// <summary>The names users see for each service, in flags and in the "listening on" lines.</summary>
public static class ServiceNames
{
    public static string Of(ServiceKind kind) => kind switch
    {
        ServiceKind.Chat => "chat",
        ServiceKind.Greet => "greet",
        ServiceKind.Echo => "echo",
        ServiceKind.UdpGreet => "udp-greet",
        ServiceKind.UdpEcho => "udp-echo",
        ServiceKind.Irc => "irc",
        ServiceKind.Web => "web",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static bool IsUdp(ServiceKind kind) => kind is ServiceKind.UdpGreet or ServiceKind.UdpEcho;
}
