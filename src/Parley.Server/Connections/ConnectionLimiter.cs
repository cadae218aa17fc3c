using System.Net;
using Parley.Server.Hosting;

namespace Parley.Server.Connections;

/// <summary>
/// Admits connections by network (--allow, --deny) and caps them in total and per remote address, across
/// every TCP service. A connection over a cap is told
/// why in one line and closed before any service sees it. Loopback is exempt from the per-address cap unless
/// asked, because local tools and tests legitimately open many connections from 127.0.0.1.
/// </summary>
internal sealed class ConnectionLimiter(ServerOptions options) : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<IPAddress, int> _perAddress = [];
    private readonly HashSet<IPAddress> _banned = [];
    private int _total;
    private long _admitted;

    /// <summary>How many new connections may be on their way to becoming members at once (see <see cref="EnterStartAsync"/>).</summary>
    public static readonly int StartWidth = 4 * Environment.ProcessorCount;

    // A crowd arriving at once would otherwise put every newcomer's start on the thread pool's queue together, ahead of
    // the reads and writes of members already here: 5,000 starts queued at once held an ordinary pair's lines for a
    // second and a half. In this lane newcomers start a few at a time, and what members already here do waits behind
    // those few only. It is several wide, not one, because a start may wait on I/O (the history store, Redis).
    private readonly SemaphoreSlim _starts = new(StartWidth, StartWidth);

    /// <summary>Connections admitted and not yet released.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _total;
            }
        }
    }

    /// <summary>Connections admitted since the server started.</summary>
    public long Admitted
    {
        get
        {
            lock (_gate)
            {
                return _admitted;
            }
        }
    }

    /// <summary>Takes a slot for <paramref name="remote"/>, or returns the line to send the peer before closing.</summary>
    public string? TryAcquire(EndPoint? remote)
    {
        var address = (remote as IPEndPoint)?.Address;
        if (address is { IsIPv4MappedToIPv6: true })
        {
            address = address.MapToIPv4();
        }

        if (address is not null && !IsAdmitted(address))
        {
            return $"! access denied for {address}";
        }

        lock (_gate)
        {
            if (address is not null && _banned.Contains(address))
            {
                return $"! {address} is banned from this server";
            }

            if (_total >= options.MaxConnections)
            {
                return $"! server full (max {options.MaxConnections} connections), try again later";
            }

            if (address is not null && IsLimited(address))
            {
                _perAddress.TryGetValue(address, out int count);
                if (count >= options.MaxConnectionsPerAddress)
                {
                    return $"! too many connections from {address} (max {options.MaxConnectionsPerAddress})";
                }

                _perAddress[address] = count + 1;
            }

            _total++;
            _admitted++;
            return null;
        }
    }

    public void Release(EndPoint? remote)
    {
        var address = (remote as IPEndPoint)?.Address;
        if (address is { IsIPv4MappedToIPv6: true })
        {
            address = address.MapToIPv4();
        }

        lock (_gate)
        {
            _total--;
            if (address is not null && IsLimited(address) && _perAddress.TryGetValue(address, out int count))
            {
                if (count <= 1)
                {
                    _perAddress.Remove(address);
                }
                else
                {
                    _perAddress[address] = count - 1;
                }
            }
        }
    }

    /// <summary>
    /// Waits for a turn to become a member (take a name, enter the lobby, get the replay and the welcome); the caller
    /// gives it back with <see cref="LeaveStart"/> once the member is in.
    /// </summary>
    public Task EnterStartAsync(CancellationToken cancellation) => _starts.WaitAsync(cancellation);

    public void LeaveStart() => _starts.Release();

    /// <summary>Refuses every new connection from <paramref name="address"/> until the server restarts (<c>/ban</c>).</summary>
    public void Ban(IPAddress address)
    {
        lock (_gate)
        {
            _banned.Add(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
        }
    }

    public void Dispose() => _starts.Dispose();

    // As ncat's --allow and --deny: with any --allow, only those networks; --deny always wins.
    private bool IsAdmitted(IPAddress address) =>
        (options.Allow.Count == 0 || options.Allow.Exists(network => network.Contains(address)))
        && !options.Deny.Exists(network => network.Contains(address));

    private bool IsLimited(IPAddress address) => options.LimitLoopback || !IPAddress.IsLoopback(address);
}
