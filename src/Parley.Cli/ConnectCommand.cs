using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Parley.Client;

namespace Parley.Cli;

/// <summary>
/// <c>parley connect HOST:PORT [--udp]</c>: netcat-like. TCP copies stdin to the peer and the peer to stdout at the
/// same time, byte for byte; when stdin ends it half-closes and keeps printing until the peer closes.
/// UDP sends each stdin line as one datagram and prints each datagram that comes back as one line.
/// </summary>
internal static class ConnectCommand
{
    public static Command Create()
    {
        var server = new Argument<string>("HOST:PORT") { Description = "Where to connect, e.g. 127.0.0.1:9999" };
        var udp = new Option<bool>("--udp", "-u") { Description = "Use UDP datagrams instead of a TCP stream" };
        var wait = new Option<double>("--wait", "-w") { Description = "UDP: seconds to wait for replies after stdin ends", DefaultValueFactory = _ => 2.0, HelpName = "SECONDS" };
        var command = new Command("connect", "Connect to a TCP or UDP service; stdin goes to it and what it sends goes to stdout.") { server, udp, wait };
        var tls = new TlsArguments();
        tls.AddTo(command);
        command.SetAction((parse, cancellation) => Cli.RunAsync(token =>
        {
            var target = Cli.ParseTarget(parse.GetValue(server)!);
            // Checked even for TCP, where it does nothing: a wrong value is a mistake to point out, not to ignore.
            double seconds = parse.GetValue(wait);
            if (!(seconds is >= 0 and <= 600))
            {
                throw new UsageException("--wait must be between 0 and 600 seconds");
            }

            if (!parse.GetValue(udp))
            {
                return RunTcpAsync(target, tls.Read(parse), token);
            }

            return tls.Read(parse) is null
                ? RunUdpAsync(target, TimeSpan.FromSeconds(seconds), token)
                : throw new UsageException("--tls is for TCP; UDP has no TLS (DTLS is not supported)");
        }, cancellation));
        return command;
    }

    private static async Task<int> RunTcpAsync(HostPort target, ClientTlsOptions? tls, CancellationToken cancellation)
    {
        await using var connection = await ClientConnection.OpenAsync(target, tls, cancellation);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var signals = Cli.OnTerminationSignals(stop.Cancel);
        return await Relay.RunAsync(connection, Console.OpenStandardInput(), Console.OpenStandardOutput(), target.ToString(), stop.Token, plainText: tls is null);
    }

    private static async Task<int> RunUdpAsync(HostPort target, TimeSpan wait, CancellationToken cancellation)
    {
        var address = (await Connector.ResolveAsync(target, cancellation))[0];
        using var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        await socket.ConnectAsync(new IPEndPoint(address, target.Port), cancellation);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var signals = Cli.OnTerminationSignals(stop.Cancel);
        int sent = 0;
        int received = 0;
        var lastActivity = new TaskCompletionSource();
        var output = Console.OpenStandardOutput();
        var receiving = Task.Run(async () =>
        {
            var buffer = new byte[65536];
            while (!stop.IsCancellationRequested)
            {
                int length;
                try
                {
                    length = await socket.ReceiveAsync(buffer, SocketFlags.None, stop.Token);
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
                {
                    // An ICMP port-unreachable for an earlier datagram: nothing is listening there.
                    Console.Error.WriteLine($"parley: {target}: nothing is listening (port unreachable)");
                    continue;
                }

                await output.WriteAsync(buffer.AsMemory(0, length), stop.Token);
                await output.WriteAsync("\n"u8.ToArray(), stop.Token);
                await output.FlushAsync(stop.Token);
                Interlocked.Increment(ref received);
            }
        }, stop.Token);

        using var input = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false));
        while (await input.ReadLineAsync(stop.Token) is { } line)
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes(line), SocketFlags.None, stop.Token);
            sent++;
        }

        // UDP has no end of stream: wait until every datagram was answered, or until replies stop coming.
        var deadline = DateTime.UtcNow + wait;
        while (Volatile.Read(ref received) < sent && DateTime.UtcNow < deadline && !receiving.IsCompleted)
        {
            await Task.WhenAny(receiving, Task.Delay(TimeSpan.FromMilliseconds(20), stop.Token));
        }

        await stop.CancelAsync();
        try
        {
            await receiving;
        }
        catch (OperationCanceledException)
        {
            // Expected: we stopped it.
        }

        return ExitCodes.Ok;
    }
}

/// <summary>Two copies at once between a connection and a pair of streams, as netcat does.</summary>
internal static class Relay
{
    /// <summary>Returns when the peer has closed or the user stopped it (0), or when the connection broke (1).</summary>
    public static async Task<int> RunAsync(ClientConnection connection, Stream input, Stream output, string peer, CancellationToken cancellation, bool plainText = false)
    {
        var network = connection.Stream;
        long sent = 0;
        var sending = Task.Run(async () =>
        {
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = await input.ReadAsync(buffer, cancellation)) > 0)
            {
                Interlocked.Add(ref sent, read);
                await network.WriteAsync(buffer.AsMemory(0, read), cancellation);
            }

            // stdin ended: tell the peer we are done sending, and keep listening for its answers.
            await connection.CompleteSendingAsync();
        }, cancellation);

        long received = 0;
        try
        {
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = await network.ReadAsync(buffer, cancellation)) > 0)
            {
                // A TLS record (a handshake or an alert) in answer to plain text: the peer wants TLS.
                if (received == 0 && plainText && read >= 2 && buffer[0] is 0x15 or 0x16 && buffer[1] == 0x03)
                {
                    return Cli.Fail($"{peer} answered with TLS: add --tls", ExitCodes.Usage);
                }

                received += read;
                await output.WriteAsync(buffer.AsMemory(0, read), cancellation);
                await output.FlushAsync(cancellation);
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // Ctrl-C or SIGTERM: the user is done, which is no error (issue 16, item 5).
            return ExitCodes.Ok;
        }
        catch (IOException)
        {
            return Cli.Fail($"connection to {peer} lost", ExitCodes.Failure);
        }

        // Kestrel's TLS drops a plain-text client without a word; a peer that closes on what we sent and never
        // answered is most often that, so say so (on stderr: stdout stays exactly what the peer sent).
        if (received == 0 && plainText && Interlocked.Read(ref sent) > 0)
        {
            Console.Error.WriteLine($"parley: {peer} closed the connection without answering (if it is a TLS service, add --tls)");
        }

        return ExitCodes.Ok;
    }
}
