using System.CommandLine;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Parley.Server.Hosting;

namespace Parley.Cli;

/// <summary><c>parley serve</c>: runs any set of services in one process.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var ports = new (ServiceKind Kind, Option<int?> Option)[]
        {
            (ServiceKind.Chat, new Option<int?>("--chat") { Description = "Run the chat service on PORT (0 picks a free port)", HelpName = "PORT" }),
            (ServiceKind.Greet, new Option<int?>("--greet") { Description = "Run the greeting service (welcome!, hello X, exit) on PORT", HelpName = "PORT" }),
            (ServiceKind.Echo, new Option<int?>("--echo") { Description = "Run the echo service on PORT", HelpName = "PORT" }),
            (ServiceKind.UdpGreet, new Option<int?>("--udp-greet") { Description = "Run the UDP greeting service (Hello, X!) on PORT", HelpName = "PORT" }),
            (ServiceKind.UdpEcho, new Option<int?>("--udp-echo") { Description = "Run the UDP echo service on PORT", HelpName = "PORT" }),
        };
        var bind = new Option<string>("--bind") { Description = "Address to listen on (::1 and :: work; 0.0.0.0 exposes the server to the network)", DefaultValueFactory = _ => "127.0.0.1", HelpName = "ADDR" };
        var framing = new Option<string>("--framing") { Description = "line: one message per LF-ended line; raw: every read is a message (the tutorials' programs)", DefaultValueFactory = _ => "line" };
        framing.AcceptOnlyFromAmong("line", "raw");
        var reply = new Option<string?>("--reply") { Description = "Echo service: answer every message with TEXT instead of echoing it", HelpName = "TEXT" };
        var backlog = new Option<int>("--backlog") { Description = "Listen backlog: connections the kernel queues before they are accepted", DefaultValueFactory = _ => 4096, HelpName = "N" };
        var maxLine = new Option<int>("--max-line") { Description = "Longest line accepted, in bytes; longer ones are discarded with an error", DefaultValueFactory = _ => 4096, HelpName = "BYTES" };
        var maxBacklog = new Option<long>("--max-backlog") { Description = "Outbound bytes queued for one chat member before it is cut off as too slow", DefaultValueFactory = _ => 1024 * 1024, HelpName = "BYTES" };
        var maxConnections = new Option<int>("--max-connections") { Description = "Connections across all TCP services; more are told the server is full", DefaultValueFactory = _ => 19_500, HelpName = "N" };
        var maxPerAddress = new Option<int>("--max-per-address") { Description = "Connections from one remote address (loopback exempt unless --limit-loopback)", DefaultValueFactory = _ => 64, HelpName = "N" };
        var idleTimeout = new Option<double>("--idle-timeout") { Description = "Close a TCP connection that sends nothing for SECONDS (default 0: never)", HelpName = "SECONDS" };
        var allow = new Option<string[]>("--allow") { Description = "Only accept clients from this network (CIDR, repeatable), e.g. 192.168.0.0/16", HelpName = "CIDR", AllowMultipleArgumentsPerToken = false };
        var deny = new Option<string[]>("--deny") { Description = "Refuse clients from this network (CIDR, repeatable); wins over --allow", HelpName = "CIDR" };
        var rateLimit = new Option<double>("--rate-limit") { Description = "Chat lines per second per connection before the server reads more slowly (0: off)", DefaultValueFactory = _ => 20, HelpName = "LINES_PER_S" };
        var rateBurst = new Option<int>("--rate-burst") { Description = "Chat lines a connection may send at once above --rate-limit", DefaultValueFactory = _ => 100, HelpName = "N" };
        var lineTimeout = new Option<double>("--line-timeout") { Description = "Close a connection that takes longer than SECONDS to finish a line (0: never)", DefaultValueFactory = _ => 30, HelpName = "SECONDS" };
        var password = new Option<string?>("--password") { Description = "Chat clients must send /pass PASSWORD first (or set PARLEY_PASSWORD, which ps does not show)", HelpName = "PASSWORD" };
        var operPassword = new Option<string?>("--oper-password") { Description = "Chat users who send /oper PASSWORD may /kick and /ban (or set PARLEY_OPER_PASSWORD)", HelpName = "PASSWORD" };
        var tlsCert = new Option<FileInfo?>("--tls-cert") { Description = "Serve TCP over TLS with this certificate: a PEM file (with --tls-key) or a PFX file", HelpName = "FILE" };
        var tlsKey = new Option<FileInfo?>("--tls-key") { Description = "The PEM private key for --tls-cert", HelpName = "FILE" };
        var tlsPassword = new Option<string?>("--tls-password") { Description = "The password of a PFX file or encrypted key (or set PARLEY_TLS_PASSWORD)", HelpName = "PASSWORD" };
        var limitLoopback = new Option<bool>("--limit-loopback") { Description = "Apply --max-per-address to loopback clients too" };
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Least important log messages written to stderr", DefaultValueFactory = _ => LogLevel.Information };

        var command = new Command("serve", "Run the chat, greeting, echo and UDP services (with no service flag: chat on 9999).");
        foreach (var (_, option) in ports)
        {
            command.Options.Add(option);
        }

        command.Options.Add(bind);
        command.Options.Add(framing);
        command.Options.Add(reply);
        command.Options.Add(backlog);
        command.Options.Add(maxLine);
        command.Options.Add(maxBacklog);
        command.Options.Add(maxConnections);
        command.Options.Add(maxPerAddress);
        command.Options.Add(limitLoopback);
        command.Options.Add(password);
        command.Options.Add(tlsCert);
        command.Options.Add(tlsKey);
        command.Options.Add(tlsPassword);
        command.Options.Add(operPassword);
        command.Options.Add(lineTimeout);
        command.Options.Add(rateLimit);
        command.Options.Add(rateBurst);
        command.Options.Add(allow);
        command.Options.Add(deny);
        command.Options.Add(idleTimeout);
        command.Options.Add(logLevel);

        command.SetAction((parse, cancellation) => Cli.RunAsync(async token =>
        {
            var options = new ServerOptions
            {
                BindAddress = ParseBindAddress(parse.GetValue(bind)!),
                Framing = parse.GetValue(framing) == "raw" ? Framing.Raw : Framing.Line,
                EchoReply = parse.GetValue(reply),
                ListenBacklog = parse.GetValue(backlog),
                MaxLineBytes = parse.GetValue(maxLine),
                MaxBacklogBytes = parse.GetValue(maxBacklog),
                MaxConnections = parse.GetValue(maxConnections),
                MaxConnectionsPerAddress = parse.GetValue(maxPerAddress),
                LimitLoopback = parse.GetValue(limitLoopback),
                RateLimit = parse.GetValue(rateLimit),
                Password = parse.GetValue(password) ?? NonEmpty(Environment.GetEnvironmentVariable("PARLEY_PASSWORD")),
                TlsCertificate = LoadCertificate(parse.GetValue(tlsCert), parse.GetValue(tlsKey), parse.GetValue(tlsPassword) ?? NonEmpty(Environment.GetEnvironmentVariable("PARLEY_TLS_PASSWORD"))),
                OperatorPassword = parse.GetValue(operPassword) ?? NonEmpty(Environment.GetEnvironmentVariable("PARLEY_OPER_PASSWORD")),
                LineTimeout = parse.GetValue(lineTimeout) is var line and >= 0 and <= 86_400 ? TimeSpan.FromSeconds(line) : throw new UsageException("--line-timeout must be between 0 and 86400 seconds"),
                RateBurst = parse.GetValue(rateBurst),
                IdleTimeout = parse.GetValue(idleTimeout) is var idle and >= 0 and <= 86_400 ? TimeSpan.FromSeconds(idle) : throw new UsageException("--idle-timeout must be between 0 and 86400 seconds"),
            };
            options.Allow.AddRange((parse.GetValue(allow) ?? []).Select(cidr => ParseNetwork(cidr, "--allow")));
            options.Deny.AddRange((parse.GetValue(deny) ?? []).Select(cidr => ParseNetwork(cidr, "--deny")));
            foreach (var (kind, option) in ports)
            {
                if (parse.GetValue(option) is int port)
                {
                    options.Services.Add(new ServiceBinding(kind, port));
                }
            }

            if (options.Validate() is { } problem)
            {
                throw new UsageException(problem);
            }

            return await ServeAsync(options, parse.GetValue(logLevel), token);
        }, cancellation));
        return command;
    }

    private static async Task<int> ServeAsync(ServerOptions options, LogLevel logLevel, CancellationToken cancellation)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var signals = Cli.OnTerminationSignals(stop.Cancel);
        var server = await ParleyServer.StartAsync(options, logging => ConfigureLogging(logging, logLevel), cancellation);
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

    private static X509Certificate2? LoadCertificate(FileInfo? certificate, FileInfo? key, string? password)
    {
        if (certificate is null)
        {
            return key is null ? null : throw new UsageException("--tls-key needs --tls-cert");
        }

        if (!certificate.Exists)
        {
            throw new UsageException($"--tls-cert: {certificate.FullName} does not exist");
        }

        try
        {
            if (key is not null)
            {
                var pem = password is null
                    ? X509Certificate2.CreateFromPemFile(certificate.FullName, key.FullName)
                    : X509Certificate2.CreateFromEncryptedPemFile(certificate.FullName, password, key.FullName);
                // SslStream on Linux wants the key in a PKCS#12 blob, not only in memory as PEM gave it.
                return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            }

            byte[] contents = File.ReadAllBytes(certificate.FullName);
            if (contents.AsSpan().IndexOf("-----BEGIN"u8) >= 0)
            {
                throw new UsageException($"--tls-cert: {certificate.Name} is PEM: give its private key with --tls-key");
            }

            var pfx = X509CertificateLoader.LoadPkcs12(contents, password);
            return pfx.HasPrivateKey ? pfx : throw new UsageException($"--tls-cert: {certificate.Name} holds no private key");
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or ArgumentException)
        {
            throw new UsageException($"--tls-cert: cannot load {certificate.Name}{(key is null ? " as PFX" : $" with key {key.Name}")}: {ex.Message.TrimEnd('.')}");
        }
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    // A bare address means that one host: 10.0.0.5 is 10.0.0.5/32.
    private static IPNetwork ParseNetwork(string text, string option)
    {
        if (IPNetwork.TryParse(text, out var network))
        {
            return network;
        }

        return IPAddress.TryParse(text, out var host)
            ? new IPNetwork(host, host.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)
            : throw new UsageException($"{option}: '{text}' is not a network such as 192.168.0.0/16 or an address");
    }

    private static IPAddress ParseBindAddress(string text)
    {
        if (text.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            return IPAddress.Loopback;
        }

        return IPAddress.TryParse(text.Trim('[', ']'), out var address)
            ? address
            : throw new UsageException($"--bind: '{text}' is not an IP address (try 127.0.0.1, ::1 or 0.0.0.0)");
    }

    // stdout carries only the "listening on" lines that scripts read; every log line goes to stderr.
    private static void ConfigureLogging(ILoggingBuilder logging, LogLevel level)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(level);
        logging.AddFilter("Microsoft", level > LogLevel.Warning ? level : LogLevel.Warning);
        // A failed start is reported once, as one "parley: cannot listen on ..." line; the host would log it again.
        logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss ";
            console.UseUtcTimestamp = false;
        });
        logging.Services.Configure<ConsoleLoggerOptions>(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
    }
}
