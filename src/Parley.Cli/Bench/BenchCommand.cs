using System.CommandLine;
using System.Net;
using Parley.Client;

namespace Parley.Cli.Bench;

/// <summary>
/// <c>parley bench MODE HOST:PORT</c>: the load generator that ships with Parley, as redis-benchmark ships with
/// Redis. Every run is bounded in connections and time; progress goes to stderr, results to stdout.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Measure a server: echo, fanout, hold or udp. Bounded in count and time.");
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON line" };
        var seconds = new Option<double>("--seconds", "-t") { Description = "How long to send", DefaultValueFactory = _ => 5, HelpName = "T" };
        var size = new Option<int>("--size", "-s") { Description = "Bytes per message, LF included", DefaultValueFactory = _ => 64, HelpName = "S" };
        var protocol = new Option<string>("--protocol") { Description = "parley: the chat protocol; line: any server that relays or echoes lines; ws: the chat over a server's --web port; irc (fanout): any IRC server's channel", DefaultValueFactory = _ => "parley" };
        protocol.AcceptOnlyFromAmong("parley", "line", "ws", "irc");

        var echoConnections = new Option<int>("--connections", "-c") { Description = "Connections", DefaultValueFactory = _ => 10, HelpName = "C" };
        var inFlight = new Option<int>("--in-flight", "-k") { Description = "Messages in flight per connection", DefaultValueFactory = _ => 1, HelpName = "K" };
        var echo = Mode("echo", "C connections with K messages of S bytes in flight each: messages/s, MiB/s, latency", echoConnections, inFlight, size, seconds, json);
        echo.SetAction((parse, cancellation) => Run(parse, echo, json, (target, token) =>
            EchoBench.RunAsync(target, Positive(parse.GetValue(echoConnections), "--connections", 20_000), Positive(parse.GetValue(inFlight), "--in-flight", 100_000),
                Positive(parse.GetValue(size), "--size", 1 << 20, minimum: 2), Duration(parse.GetValue(seconds)), token), cancellation));

        var members = new Option<int>("--members", "-n") { Description = "Members in the room", DefaultValueFactory = _ => 100, HelpName = "N" };
        var publishers = new Option<int>("--publishers", "-p") { Description = "How many of them publish (default: all)", HelpName = "P" };
        var rate = new Option<double>("--rate", "-r") { Description = "Lines per second per publisher (default: flat out)", HelpName = "R" };
        var stagger = new Option<bool>("--stagger") { Description = "With --rate: spread the publishers' lines evenly over each interval, as independent users send, instead of all at once" };
        var setupLimit = new Option<double>("--setup-limit") { Description = "Give up if the server has not seated every member within this many seconds", DefaultValueFactory = _ => 30, HelpName = "SECONDS" };
        var fanout = Mode("fanout", "N members in one room, P publishing: deliveries/s, latency, lines lost; given several nodes of one chat (serve --redis), members are spread over them in turn",
            new Argument<string[]>("HOST:PORT") { Description = "The server to measure, or several nodes of one chat", Arity = ArgumentArity.OneOrMore },
            members, publishers, rate, stagger, size, seconds, setupLimit, protocol, json);
        fanout.SetAction((parse, cancellation) => RunMany(parse, fanout, json, (targets, token) =>
        {
            int n = Positive(parse.GetValue(members), "--members", 19_000, minimum: 2);
            if (parse.GetValue(stagger) && !(parse.GetValue(rate) > 0))
            {
                throw new UsageException("--stagger needs --rate: flat out there is no interval to spread lines over");
            }

            if (parse.GetValue(protocol) == "ws")
            {
                return parse.GetValue(rate) > 0
                    ? throw new UsageException("--protocol ws runs flat out: --rate is not supported there yet")
                    : targets.Length > 1
                    ? throw new UsageException("--protocol ws takes one server: several are for the chat protocols")
                    : WebSocketFanoutBench.RunAsync(targets[0], n, Positive(parse.GetValue(publishers) is > 0 and var wp ? wp : n, "--publishers", n),
                        Positive(parse.GetValue(size), "--size", 4096, minimum: 48), Duration(parse.GetValue(seconds)), Duration(parse.GetValue(setupLimit), "--setup-limit"), token);
            }

            var speaks = parse.GetValue(protocol) switch
            {
                "irc" => FanoutBench.Protocol.Irc,
                "line" => FanoutBench.Protocol.Line,
                _ => FanoutBench.Protocol.Parley,
            };
            return FanoutBench.RunAsync(targets, speaks, n, Positive(parse.GetValue(publishers) is > 0 and var p ? p : n, "--publishers", n),
                Positive(parse.GetValue(size), "--size", 4096, minimum: 48), parse.GetValue(rate), Duration(parse.GetValue(seconds)), Duration(parse.GetValue(setupLimit), "--setup-limit"), token,
                stagger: parse.GetValue(stagger));
        }, cancellation));

        var count = new Option<int>("--count", "-n") { Description = "Idle connections to open", DefaultValueFactory = _ => 1000, HelpName = "N" };
        var step = new Option<int>("--step") { Description = "Connections opened at once", DefaultValueFactory = _ => 500, HelpName = "N" };
        var serverPid = new Option<int?>("--server-pid") { Description = "The server's PID, to report its resident memory per connection", HelpName = "PID" };
        var keep = new Option<double>("--keep") { Description = "Keep the connections open this long after measuring, to inspect the server", HelpName = "SECONDS" };
        var ownRooms = new Option<bool>("--own-rooms") { Description = "Move each chat member into a room of its own first (default: they stay in the lobby, as users do)" };
        var hold = Mode("hold", "Open N idle connections in steps: how many the server keeps, and its memory per connection", count, step, serverPid, keep, ownRooms, protocol, json);
        hold.SetAction((parse, cancellation) => Run(parse, hold, json, (target, token) => parse.GetValue(protocol) == "irc"
            ? throw new UsageException("hold has no --protocol irc yet: use parley, line or ws")
            : HoldBench.RunAsync(target, parse.GetValue(protocol) != "line", Positive(parse.GetValue(count), "--count", 19_500), Positive(parse.GetValue(step), "--step", 5_000), parse.GetValue(serverPid),
                parse.GetValue(keep) is var k and >= 0 and <= 3600 ? TimeSpan.FromSeconds(k) : throw new UsageException("--keep must be between 0 and 3600 seconds"), token,
                ownRooms: parse.GetValue(ownRooms), webSocket: parse.GetValue(protocol) == "ws"), cancellation));

        var udpClients = new Option<int>("--clients", "-c") { Description = "UDP sockets", DefaultValueFactory = _ => 4, HelpName = "C" };
        var udpInFlight = new Option<int>("--in-flight", "-k") { Description = "Datagrams in flight per socket", DefaultValueFactory = _ => 8, HelpName = "K" };
        var udp = Mode("udp", "Datagram echo rate, latency and loss", udpClients, udpInFlight, size, seconds, json);
        udp.SetAction((parse, cancellation) => Run(parse, udp, json, (target, token) =>
            UdpBench.RunAsync(target, Positive(parse.GetValue(udpClients), "--clients", 1000), Positive(parse.GetValue(udpInFlight), "--in-flight", 1000),
                Positive(parse.GetValue(size), "--size", 65_000), Duration(parse.GetValue(seconds)), token), cancellation));

        command.Subcommands.Add(echo);
        command.Subcommands.Add(fanout);
        command.Subcommands.Add(hold);
        command.Subcommands.Add(udp);
        return command;
    }

    private static Command Mode(string name, string description, params Option[] options) =>
        Mode(name, description, new Argument<string>("HOST:PORT") { Description = "The server to measure" }, options);

    private static Command Mode(string name, string description, Argument target, params Option[] options)
    {
        var command = new Command(name, description) { target };
        foreach (var option in options)
        {
            command.Options.Add(option);
        }

        return command;
    }

    private static Task<int> Run(ParseResult parse, Command mode, Option<bool> json, Func<IPEndPoint, CancellationToken, Task<BenchReport>> run, CancellationToken cancellation) =>
        RunMany(parse, mode, json, (targets, token) => run(targets[0], token), cancellation);

    private static Task<int> RunMany(ParseResult parse, Command mode, Option<bool> json, Func<IPEndPoint[], CancellationToken, Task<BenchReport>> run, CancellationToken cancellation) =>
        Cli.RunAsync(async token =>
        {
            string[] texts = mode.Arguments[0] is Argument<string[]> many ? parse.GetValue(many)! : [parse.GetValue((Argument<string>)mode.Arguments[0])!];
            var endPoints = new List<IPEndPoint>();
            foreach (string text in texts)
            {
                // Several addresses are allowed, so an unknown option would be taken for one: say what it is instead.
                var target = text.StartsWith('-') ? throw new UsageException($"unknown option '{text}' (see 'parley bench {mode.Name} --help')") : Cli.ParseTarget(text);
                endPoints.Add(new IPEndPoint((await Connector.ResolveAsync(target, token))[0], target.Port));
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(token);
            using var signals = Cli.OnTerminationSignals(stop.Cancel);
            BenchReport report;
            try
            {
                report = await run([.. endPoints], stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // Ctrl-C or SIGTERM: stopped on purpose, so no error, but no figures either (half a run would mislead).
                Console.Error.WriteLine("parley: bench stopped before the end: no result");
                return ExitCodes.Ok;
            }

            report.Print(parse.GetValue(json));
            return ExitCodes.Ok;
        }, cancellation);

    private static int Positive(int value, string name, int maximum, int minimum = 1) =>
        value >= minimum && value <= maximum ? value : throw new UsageException($"{name} must be between {minimum} and {maximum}");

    // Bounded on purpose: a benchmark that runs for hours by mistake is a load test nobody asked for.
    private static TimeSpan Duration(double seconds, string option = "--seconds") =>
        seconds is > 0 and <= 600 ? TimeSpan.FromSeconds(seconds) : throw new UsageException($"{option} must be more than 0 and at most 600 seconds");
}
