using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Parley.Client;
using Parley.Server.Connections;

namespace Parley.Cli;

/// <summary>
/// <c>parley listen [HOST:]PORT</c>: the tutorials' two-way console chat server. It accepts one peer, both sides
/// type at once, and when the peer leaves it accepts the next. Port reuse is on, so it can be restarted at once.
/// </summary>
internal static class ListenCommand
{
    public static Command Create()
    {
        var endpoint = new Argument<string>("[HOST:]PORT") { Description = "Where to listen (default host 127.0.0.1; port 0 picks a free port)" };
        var command = new Command("listen", "Wait for one peer at a time and chat with it: stdin goes to the peer, the peer goes to stdout.") { endpoint };
        command.SetAction((parse, cancellation) => Cli.RunAsync(token =>
            RunAsync(Cli.ParseTarget(parse.GetValue(endpoint)!, defaultHost: "127.0.0.1"), token), cancellation));
        return command;
    }

    private static async Task<int> RunAsync(HostPort where, CancellationToken cancellation)
    {
        var address = where.Host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(where.Host, out var parsed) ? parsed
            : throw new UsageException($"'{where.Host}' is not an IP address to listen on");
        using var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        try
        {
            listener.Bind(new IPEndPoint(address, where.Port));
            listener.Listen(1);
        }
        catch (SocketException ex)
        {
            string why = ex.SocketErrorCode == SocketError.AddressAlreadyInUse ? "address already in use" : ex.Message.ToLowerInvariant();
            throw new UsageException($"cannot listen on {where}: {why}");
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var signals = Cli.OnTerminationSignals(stop.Cancel);
        Console.Error.WriteLine($"parley: listening on {EndpointText.Of(listener.LocalEndPoint)}");
        var stdin = new SharedInput(Console.OpenStandardInput());
        var stdout = Console.OpenStandardOutput();
        while (!stop.IsCancellationRequested && !stdin.Ended)
        {
            Socket peer;
            try
            {
                peer = await listener.AcceptAsync(stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            using (peer)
            {
                string remote = EndpointText.Of(peer.RemoteEndPoint);
                Console.Error.WriteLine($"parley: connection from {remote}");
                await stdin.ServeAsync(peer, stdout, stop.Token);
                Console.Error.WriteLine($"parley: {remote} left");
            }
        }

        return ExitCodes.Ok;
    }

    /// <summary>
    /// stdin outlives any one peer: one pump reads it and hands each chunk to whichever peer is connected now.
    /// </summary>
    private sealed class SharedInput(Stream input)
    {
        private readonly Lock _gate = new();
        private Socket? _peer;
        private Task? _pump;

        public bool Ended { get; private set; }

        public async Task ServeAsync(Socket peer, Stream output, CancellationToken cancellation)
        {
            lock (_gate)
            {
                _peer = peer;
                if (Ended)
                {
                    peer.Shutdown(SocketShutdown.Send);
                }
            }

            _pump ??= Task.Run(() => PumpAsync(cancellation), cancellation);
            try
            {
                var buffer = new byte[16 * 1024];
                int read;
                while ((read = await peer.ReceiveAsync(buffer, SocketFlags.None, cancellation)) > 0)
                {
                    await output.WriteAsync(buffer.AsMemory(0, read), cancellation);
                    await output.FlushAsync(cancellation);
                }
            }
            catch (SocketException)
            {
                // The peer reset the connection: same as leaving.
            }
            finally
            {
                lock (_gate)
                {
                    _peer = null;
                }
            }
        }

        private async Task PumpAsync(CancellationToken cancellation)
        {
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = await input.ReadAsync(buffer, cancellation)) > 0)
            {
                Socket? peer;
                lock (_gate)
                {
                    peer = _peer;
                }

                if (peer is not null)
                {
                    try
                    {
                        await peer.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellation);
                    }
                    catch (SocketException)
                    {
                        // The peer is leaving; its reader notices and the next peer gets what follows.
                    }
                }
            }

            lock (_gate)
            {
                Ended = true;
                try
                {
                    _peer?.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException)
                {
                    // Already gone.
                }
            }
        }
    }
}
