using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Parley.Cli.Bench;

/// <summary>
/// Opens N idle connections in steps and reports how many the server kept and, given its PID, the resident
/// memory each one costs it. Chat members stay in the lobby, where a server puts them, because that is what its
/// users get (issue 11, item 5); with <c>ownRooms</c> each first moves to a room of its own, as lurkers in many small
/// rooms do, which was the only mode through 6a417ec and leaves presence out of the figure.
/// </summary>
internal static class HoldBench
{
    // Loopback sources spread over: with every connection from 127.0.0.1 to one port, Linux's connect() searches
    // its ephemeral range for a free port each time, and past ~10,000 open that search was 77 % of this client's CPU
    // (docs/benchmarks.md, 19,000 in the lobby): the time to connect 19,000 measured the client, not the server.
    private const int LoopbackSources = 16;

    // When the server's memory is read, from the last connect: once it has settled, and once it has held them a while.
    private static readonly TimeSpan SettledAfter = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan HeldAfter = TimeSpan.FromSeconds(10);

    public static async Task<BenchReport> RunAsync(IPEndPoint target, bool chatProtocol, int count, int step, int? serverPid, TimeSpan keep, CancellationToken cancellation, bool ownRooms = false, bool webSocket = false)
    {
        // Over the web front end (--protocol ws) each connection is a WebSocket on /ws, judged open by its frames.
        var webSockets = new System.Collections.Concurrent.ConcurrentDictionary<Socket, BenchWebSocket>();
        long? rssBefore = serverPid is int pid ? ReadResidentBytes(pid) : null;
        var sockets = new List<Socket>(count);
        string? failure = null;
        var connecting = System.Diagnostics.Stopwatch.StartNew();
        using (new BenchProgress(() => $"hold: {sockets.Count} open"))
        {
            try
            {
                while (sockets.Count < count)
                {
                    int batch = Math.Min(step, count - sockets.Count);
                    var opened = await Task.WhenAll(Enumerable.Range(sockets.Count, batch).Select(async i =>
                    {
                        if (webSocket)
                        {
                            var ws = await BenchWebSocket.ConnectAsync(target, cancellation, bufferBytes: 1024);
                            webSockets[ws.Socket] = ws;
                            // The server says whether it keeps the connection only after the upgrade: held means welcomed.
                            await ws.WaitForFirstWordAsync(TimeSpan.FromSeconds(10), cancellation);
                            if (ownRooms)
                            {
                                await ws.SendTextAsync(cancellation, $"/join hold{i}");
                            }

                            return ws.Socket;
                        }

                        var socket = await BenchSockets.ConnectAsync(target, cancellation, LoopbackSource(target, i));
                        if (chatProtocol && ownRooms)
                        {
                            await socket.SendAsync(Encoding.ASCII.GetBytes($"/join hold{i}\n"), SocketFlags.None, cancellation);
                        }

                        return socket;
                    }));
                    sockets.AddRange(opened);
                }
            }
            catch (Exception ex) when (ex is Parley.Client.ConnectException or SocketException or System.Net.WebSockets.WebSocketException)
            {
                // Refused after some were opened is a finding (a server's limit); refused at once is nothing to measure.
                if (sockets.Count == 0)
                {
                    throw;
                }

                failure = ex.Message;
            }

            // Connected, not yet settled: the time a crowd of clients waits to get in (issue 11 wants 19,000 in under 15 s).
            connecting.Stop();

            // Let the server settle (joins handled, buffers returned to pools) before measuring.
            await Task.Delay(SettledAfter, cancellation);
        }

        // Measured twice: 2 s after the last connect (the only reading before the server compacted after a crowd),
        // and again when they have been held for 10 s, once a server that tidies up after a crowd has done so. The held
        // figure is the one a server that keeps them lives with.
        long? rssSettling = serverPid is int settlingPid ? ReadResidentBytes(settlingPid) : null;
        if (serverPid is not null)
        {
            await Task.Delay(HeldAfter - SettledAfter, cancellation);
        }

        int kept = sockets.Count(socket => webSockets.TryGetValue(socket, out var ws) ? ws.IsOpen() : IsOpen(socket));
        long? rssAfter = serverPid is int id ? ReadResidentBytes(id) : null;
        var report = new BenchReport("hold")
            .Add("protocol", webSocket ? "ws" : chatProtocol ? "parley" : "line")
            .Add("rooms", chatProtocol && ownRooms ? "own" : "lobby")
            .Add("requested", count)
            .Add("opened", sockets.Count)
            .Add("kept", kept)
            .Add("connect_ms", connecting.ElapsedMilliseconds);
        if (failure is not null)
        {
            report.Add("error", failure);
        }

        if (rssBefore is long before && rssAfter is long after)
        {
            report.Add("server_rss_before_kib", before / 1024).Add("server_rss_after_kib", after / 1024);
            if (kept > 0)
            {
                report.Add("server_bytes_per_connection", (after - before) / kept);
                if (rssSettling is long settling)
                {
                    report.Add("server_bytes_per_connection_at_2s", (settling - before) / kept);
                }
            }
        }

        if (keep > TimeSpan.Zero)
        {
            // Time to look inside the server while it holds them (bench/HeapWalk); Ctrl-C ends it early.
            Console.Error.WriteLine($"hold: keeping {kept} connections open for {keep.TotalSeconds:0} s");
            try
            {
                await Task.Delay(keep, cancellation);
            }
            catch (OperationCanceledException)
            {
                // Asked to stop: report what was measured.
            }
        }

        foreach (var socket in sockets)
        {
            socket.Dispose();
        }

        return report;
    }

    // A closed connection polls readable with nothing to read; an open idle one does not poll readable at all.
    private static bool IsOpen(Socket socket)
    {
        try
        {
            if (!socket.Poll(0, SelectMode.SelectRead))
            {
                return true;
            }

            if (socket.Available == 0)
            {
                return false;
            }

            // Readable with data (a notice): drain it and count it as open.
            var scratch = new byte[socket.Available];
            return socket.Receive(scratch) > 0;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static long? ReadResidentBytes(int pid)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    string kib = line["VmRSS:".Length..].Trim().Split(' ')[0];
                    return long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
            // No such process: report without memory figures.
        }

        return null;
    }

    // 127.0.0.1 to 127.0.0.16 in turn when the server is on IPv4 loopback on Linux (all of 127/8 is this host's
    // there); the system's choice otherwise. Parley exempts loopback from its per-address limit (unless configured
    // not to), so the spread changes nothing it decides.
    private static IPAddress? LoopbackSource(IPEndPoint target, int index) =>
        OperatingSystem.IsLinux() && target.Address.Equals(IPAddress.Loopback)
            ? new IPAddress(new byte[] { 127, 0, 0, (byte)(1 + (index % LoopbackSources)) })
            : null;
}
