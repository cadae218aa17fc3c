using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Parley.Client;
using Parley.Protocol.Text;
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
        Console.Error.WriteLine($"parley: listening on {EndpointText.Of(listener.LocalEndPoint)}");
        if (!Console.IsInputRedirected && !Console.IsOutputRedirected)
        {
            return await new InteractiveListener(listener).RunAsync(stop);
        }

        using var signals = Cli.OnTerminationSignals(stop.Cancel);
        var stdin = new SharedInput(Console.OpenStandardInput());
        var stdout = Console.OpenStandardOutput();
        try
        {
            while (!stop.IsCancellationRequested && !stdin.Ended)
            {
                using var peer = await listener.AcceptAsync(stop.Token);
                string remote = EndpointText.Of(peer.RemoteEndPoint);
                Console.Error.WriteLine($"parley: connection from {remote}");
                await stdin.ServeAsync(peer, stdout, stop.Token);
                Console.Error.WriteLine($"parley: {remote} left");
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Ctrl-C or SIGTERM, with or without a peer: the user is done, which is no error (issue 16, item 5).
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
    /// <summary>
    /// At a terminal, the peer's lines are printed above the line being typed instead of into it (issue 16, item 11:
    /// "half" typed and the peer's line came out as "halfsecond from nc"); a line typed while nobody is connected
    /// stays in the input line with a word saying why, and Ctrl-D or Ctrl-C leaves whether or not a peer is there.
    /// </summary>
    private sealed class InteractiveListener(Socket listener)
    {
        // A peer that sends no newline (the tutorials' programs never do) still has its words shown after this pause.
        private static readonly TimeSpan PartialLineWait = TimeSpan.FromMilliseconds(200);
        private const int MaxPartialBytes = 4096;

        private readonly Lock _gate = new();
        private Socket? _peer;

        public async Task<int> RunAsync(CancellationTokenSource stop)
        {
            using var editor = new LineEditor("> ");
            Console.TreatControlCAsInput = true;
            var quit = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var signals = Cli.OnTerminationSignals(() => quit.TrySetResult());
            _ = Task.Factory.StartNew(() => TypeLoop(editor, quit), stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            var accepting = AcceptLoopAsync(editor, stop.Token);
            await Task.WhenAny(quit.Task, accepting);
            await stop.CancelAsync();
            lock (_gate)
            {
                _peer?.Dispose();
            }

            try
            {
                await accepting;
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Stopped on purpose.
            }

            editor.Close();
            return ExitCodes.Ok;
        }

        private void TypeLoop(LineEditor editor, TaskCompletionSource quit)
        {
            while (!quit.Task.IsCompleted)
            {
                string? line = editor.ReadLine();
                if (line is null)
                {
                    quit.TrySetResult();
                    return;
                }

                Socket? peer;
                lock (_gate)
                {
                    peer = _peer;
                }

                if (peer is null)
                {
                    editor.WriteAbove("! nobody is connected: the line was not sent (it is still in the input line)");
                    editor.Preload(line);
                    continue;
                }

                try
                {
                    peer.Send(Encoding.UTF8.GetBytes(line + "\n"));
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    editor.WriteAbove("! the peer has gone: the line was not sent (it is still in the input line)");
                    editor.Preload(line);
                }
            }
        }

        private async Task AcceptLoopAsync(LineEditor editor, CancellationToken cancellation)
        {
            while (!cancellation.IsCancellationRequested)
            {
                using var peer = await listener.AcceptAsync(cancellation);
                string remote = EndpointText.Of(peer.RemoteEndPoint);
                lock (_gate)
                {
                    _peer = peer;
                }

                editor.WriteAbove($"* connection from {remote}");
                try
                {
                    await ReceiveLinesAsync(peer, editor.WriteAbove, cancellation);
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

                editor.WriteAbove($"* {remote} left");
            }
        }

        private static async Task ReceiveLinesAsync(Socket peer, Action<string> show, CancellationToken cancellation)
        {
            var buffer = new byte[16 * 1024];
            var pending = new List<byte>();
            while (true)
            {
                var receive = peer.ReceiveAsync(buffer, SocketFlags.None, cancellation).AsTask();
                if (pending.Count > 0 && await Task.WhenAny(receive, Task.Delay(PartialLineWait, cancellation)) != receive)
                {
                    show(Decode(pending));
                    pending.Clear();
                }

                int read = await receive;
                if (read == 0)
                {
                    if (pending.Count > 0)
                    {
                        show(Decode(pending));
                    }

                    return;
                }

                foreach (byte b in buffer.AsSpan(0, read))
                {
                    if (b == (byte)'\n' || pending.Count >= MaxPartialBytes)
                    {
                        show(Decode(pending));
                        pending.Clear();
                        if (b == (byte)'\n')
                        {
                            continue;
                        }
                    }

                    pending.Add(b);
                }
            }
        }

        // The peer is anyone who connects: its text is sanitised before it reaches the terminal, as chat's is.
        private static string Decode(List<byte> line) => TextSanitizer.Sanitize(Encoding.UTF8.GetString([.. line]).TrimEnd('\r'));
    }
}
