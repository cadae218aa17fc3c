using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley.Server.Chat;
using Parley.Server.Connections;
using Parley.Server.Echo;
using Parley.Server.Greeting;
using Parley.Server.Logging;

namespace Parley.Server.Hosting;

/// <summary>One service as it was bound: what it is and where it listens.</summary>
public readonly record struct ServiceEndpoint(ServiceKind Kind, IPEndPoint EndPoint)
{
    /// <summary>The line scripts and tests read: <c>chat listening on 127.0.0.1:9999</c>.</summary>
    public override string ToString() => $"{ServiceNames.Of(Kind)} listening on {EndpointText.Of(EndPoint)}";
}

/// <summary>A service could not start, in words a user can act on (a taken port, an address not on this machine).</summary>
public sealed class ServerStartException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// A running <c>parley serve</c>: one Kestrel listener per TCP service, each with its own connection handler,
/// and one hosted UDP socket per UDP service, in one host. The CLI and the tests start it the same way.
/// </summary>
public sealed partial class ParleyServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<(ServiceKind Kind, ListenOptions Listener)> _listeners;
    private readonly List<UdpService> _udpServices;

    private ParleyServer(WebApplication app, List<(ServiceKind, ListenOptions)> listeners, List<UdpService> udpServices)
    {
        _app = app;
        _listeners = listeners;
        _udpServices = udpServices;
    }

    /// <summary>Where each service listens, in the order they were asked for; ports are the bound ones.</summary>
    public IReadOnlyList<ServiceEndpoint> Endpoints { get; private set; } = [];

    public IServiceProvider Services => _app.Services;

    public IPEndPoint EndPointOf(ServiceKind kind) => Endpoints.First(e => e.Kind == kind).EndPoint;

    /// <summary>Binds every service and starts serving. Throws <see cref="ServerStartException"/> when a service cannot bind.</summary>
    public static async Task<ParleyServer> StartAsync(ServerOptions options, Action<ILoggingBuilder>? configureLogging = null, CancellationToken cancellation = default)
    {
        // The empty builder wires no HTTP, configuration files or console lifetime: the CLI owns signals and
        // output, and startup stays fast.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        configureLogging?.Invoke(builder.Logging);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ChatHub>();
        builder.Services.AddSingleton<ConnectionLimiter>();
        builder.Services.AddSingleton<ReadDeadlines>();
        builder.Services.AddSingleton<IHostLifetime, CallerOwnedLifetime>();
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.ShutdownTimeout);
        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseSockets(sockets => sockets.Backlog = options.ListenBacklog);

        var listeners = new List<(ServiceKind, ListenOptions)>();
        var udpServices = new List<UdpService>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            foreach (var service in options.EffectiveServices.Where(s => !ServiceNames.IsUdp(s.Kind)))
            {
                kestrel.Listen(new IPEndPoint(options.BindAddress, service.Port), listen =>
                {
                    if (options.TlsCertificate is { } certificate)
                    {
                        // Connection middleware: TLS is unwrapped before the handler, which sees plain bytes.
                        listen.UseHttps(certificate);
                    }

                    _ = service.Kind switch
                    {
                        ServiceKind.Chat => listen.UseConnectionHandler<ChatConnectionHandler>(),
                        ServiceKind.Greet => listen.UseConnectionHandler<GreetConnectionHandler>(),
                        _ => listen.UseConnectionHandler<EchoConnectionHandler>(),
                    };
                    listeners.Add((service.Kind, listen));
                });
            }
        });

        foreach (var service in options.EffectiveServices.Where(s => ServiceNames.IsUdp(s.Kind)))
        {
            var endPoint = new IPEndPoint(options.BindAddress, service.Port);
            builder.Services.AddSingleton<IHostedService>(provider =>
            {
                var udp = new UdpService(service.Kind, endPoint, options.MaxDatagramBytes, provider.GetRequiredService<ILogger<UdpService>>());
                udpServices.Add(udp);
                return udp;
            });
        }

        var app = builder.Build();
        var server = new ParleyServer(app, listeners, udpServices);
        var hub = app.Services.GetRequiredService<ChatHub>();
        var logger = app.Services.GetRequiredService<ILogger<ParleyServer>>();
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStopping.Register(() => ChatLog.ShuttingDown(logger, hub.ShutDown()));
        try
        {
            await app.StartAsync(cancellation);
        }
        catch (Exception ex) when (DescribeStartFailure(ex, options) is { } message)
        {
            await app.DisposeAsync();
            throw new ServerStartException(message, ex);
        }

        server.Endpoints = server.ReadBoundEndpoints(options);
        if (options.TlsCertificate is { } tls)
        {
            // Users of a self-signed certificate check this fingerprint against what `parley chat --tls` shows them.
            string fingerprint = string.Join(':', tls.GetCertHash(System.Security.Cryptography.HashAlgorithmName.SHA256).Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));
            ConnectionLog.TlsCertificate(logger, tls.Subject, fingerprint, tls.NotAfter);
        }

        return server;
    }

    /// <summary>Tells every chat client the server is shutting down, waits for connections to finish (at most the shutdown timeout), and stops.</summary>
    public async Task StopAsync(CancellationToken cancellation = default) => await _app.StopAsync(cancellation);

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _app.DisposeAsync();
    }

    private List<ServiceEndpoint> ReadBoundEndpoints(ServerOptions options)
    {
        // Kestrel writes the bound port back into ListenOptions, so port 0 reads back as the port the kernel chose.
        var tcp = new Queue<(ServiceKind Kind, ListenOptions Listener)>(_listeners);
        var udp = new Queue<UdpService>(_udpServices);
        var result = new List<ServiceEndpoint>();
        foreach (var service in options.EffectiveServices)
        {
            if (ServiceNames.IsUdp(service.Kind))
            {
                var next = udp.Dequeue();
                result.Add(new ServiceEndpoint(next.Kind, next.LocalEndPoint!));
            }
            else
            {
                var next = tcp.Dequeue();
                result.Add(new ServiceEndpoint(next.Kind, next.Listener.IPEndPoint!));
            }
        }

        return result;
    }

    private static string? DescribeStartFailure(Exception ex, ServerOptions options)
    {
        for (var inner = ex; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException socket)
            {
                string where = AddressIn(ex.Message) ?? EndpointText.Of(options.BindAddress, 0);
                string why = socket.SocketErrorCode switch
                {
                    SocketError.AddressAlreadyInUse => "address already in use",
                    SocketError.AddressNotAvailable => "that address is not on this machine",
                    SocketError.AccessDenied => "permission denied (ports below 1024 need privileges)",
                    _ => socket.Message,
                };
                return $"cannot listen on {where}: {why}";
            }
        }

        return null;
    }

    // Kestrel says "Failed to bind to address http://127.0.0.1:9999: address already in use."; users typed no http.
    private static string? AddressIn(string message)
    {
        var match = BindAddressPattern().Match(message);
        return match.Success ? match.Groups["address"].Value : null;
    }

    [GeneratedRegex(@"://(?<address>\S+?):?\s+address", RegexOptions.CultureInvariant)]
    private static partial Regex BindAddressPattern();

    // The process, not the host, decides when to stop: the CLI handles SIGINT/SIGTERM, the tests call StopAsync.
    private sealed class CallerOwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
