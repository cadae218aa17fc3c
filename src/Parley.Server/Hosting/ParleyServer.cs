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
using Parley.Server.History;
using Parley.Server.Irc;
using Parley.Server.Line;
using Parley.Server.Logging;
using Parley.Server.Web;

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
        ChatServices.Add(builder.Services, options);
        builder.Services.AddSingleton<ConnectionLimiter>();
        builder.Services.AddSingleton<ReadDeadlines>();
        builder.Services.AddSingleton<IHostLifetime, CallerOwnedLifetime>();
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.ShutdownTimeout);
        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseSockets(sockets => sockets.Backlog = options.ListenBacklog);

        if (options.SummaryInterval > TimeSpan.Zero)
        {
            builder.Services.AddHostedService<ServerSummary>();
        }

        if (options.CompactAfterConnections > 0)
        {
            builder.Services.AddHostedService<HeapCompaction>();
        }

        var webListeners = new WebListeners();
        if (options.EffectiveServices.Any(s => s.Kind == ServiceKind.Web))
        {
            WebFrontEnd.AddServices(builder.Services, webListeners);
        }

        var listeners = new List<(ServiceKind, ListenOptions)>();
        var udpServices = new List<UdpService>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            foreach (var service in options.EffectiveServices.Where(s => !ServiceNames.IsUdp(s.Kind)))
            {
                var listenerOptions = options.For(service);
                kestrel.Listen(new IPEndPoint(listenerOptions.BindAddress, service.Port), listen =>
                {
                    if (service.Kind == ServiceKind.Web)
                    {
                        // HTTP/1.1 only: a WebSocket is one upgraded connection, and the page is three small files.
                        listen.Protocols = HttpProtocols.Http1;
                    }

                    if (listenerOptions.TlsCertificate is { } certificate)
                    {
                        // Connection middleware: TLS is unwrapped before the handler, which sees plain bytes.
                        listen.UseHttps(certificate);
                    }

                    if (service.Kind == ServiceKind.Web)
                    {
                        // No connection handler: Kestrel's HTTP pipeline (WebFrontEnd) serves this listener.
                        webListeners.Add(listen, listenerOptions);
                        listeners.Add((service.Kind, listen));
                        return;
                    }

                    var handler = CreateHandler(service.Kind, listen.ApplicationServices, listenerOptions);
                    listen.Run(handler.OnConnectedAsync);
                    listeners.Add((service.Kind, listen));
                });
            }
        });

        foreach (var service in options.EffectiveServices.Where(s => ServiceNames.IsUdp(s.Kind)))
        {
            var endPoint = new IPEndPoint(options.For(service).BindAddress, service.Port);
            builder.Services.AddSingleton<IHostedService>(provider =>
            {
                var logger = provider.GetRequiredService<ILogger<UdpService>>();
                var udp = new UdpService(service.Kind, endPoint, options.MaxDatagramBytes, logger);
                udpServices.Add(udp);
                return new UdpListener(udp, endPoint, options.MaxDatagramBytes, logger);
            });
        }

        if (options.Redis is not null && options.Cluster is null)
        {
            throw new ServerStartException("--redis: this build of parley cannot talk to Redis", new InvalidOperationException("no IChatCluster was given"));
        }

        var app = builder.Build();
        try
        {
            await ChatServices.OpenHistoryAsync(app.Services, options, cancellation);
        }
        catch (HistoryUnavailableException ex)
        {
            await app.DisposeAsync();
            throw new ServerStartException(ex.Message, ex);
        }
        catch (ServerStartException)
        {
            await app.DisposeAsync();
            throw;
        }

        if (webListeners.Count > 0)
        {
            WebFrontEnd.Map(app);
        }

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
            if (options.Cluster is { } cluster)
            {
                await cluster.DisposeAsync();
            }

            throw new ServerStartException(message, ex);
        }

        server.Endpoints = server.ReadBoundEndpoints(options);
        await ChatServices.LogHistoryAsync(app.Services, cancellation);
        foreach (var (service, endPoint) in options.EffectiveServices.Zip(server.Endpoints))
        {
            if (options.For(service).TlsCertificate is { } tls)
            {
                // Users of a self-signed certificate check this fingerprint against what `parley chat --tls` shows them.
                string fingerprint = string.Join(':', tls.GetCertHash(System.Security.Cryptography.HashAlgorithmName.SHA256).Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));
                ServerLog.ListenerTls(logger, ServiceNames.Of(service.Kind), EndpointText.Of(endPoint.EndPoint), tls.Subject, fingerprint, tls.NotAfter);
            }

            if (service.Kind == ServiceKind.Web)
            {
                ServerLog.WebPage(logger, WebFrontEnd.PageAddress(endPoint.EndPoint, options.For(service).TlsCertificate is not null));
            }
        }

        return server;
    }

    /// <summary>Tells every chat client the server is shutting down, waits for connections to finish (at most the shutdown timeout), and stops.</summary>
    public async Task StopAsync(CancellationToken cancellation = default) => await _app.StopAsync(cancellation);

    public async ValueTask DisposeAsync()
    {
        // The cluster outlives the container: the hub's last leaves go out through it while the host stops.
        var cluster = _app.Services.GetRequiredService<ServerOptions>().Cluster;
        await StopAsync();
        await _app.DisposeAsync();
        if (cluster is not null)
        {
            await cluster.DisposeAsync();
        }
    }

    /// <summary>
    /// The one place that names each TCP service's handler. Every listener gets an instance of its own, built with that
    /// listener's options, so two chat listeners can differ in framing, TLS and limits while the handlers only ever
    /// see "their" <see cref="ServerOptions"/>. Everything else they take comes from the container, shared.
    /// </summary>
    private static ConnectionHandler CreateHandler(ServiceKind kind, IServiceProvider services, ServerOptions listenerOptions) => kind switch
    {
        ServiceKind.Chat when listenerOptions.Framing == Framing.Raw => ActivatorUtilities.CreateInstance<RawChatConnectionHandler>(services, listenerOptions),
        ServiceKind.Chat => ActivatorUtilities.CreateInstance<LineChatConnectionHandler>(services, listenerOptions),
        ServiceKind.Greet => ActivatorUtilities.CreateInstance<GreetConnectionHandler>(services, listenerOptions),
        ServiceKind.Echo => ActivatorUtilities.CreateInstance<EchoConnectionHandler>(services, listenerOptions),
        ServiceKind.Irc => ActivatorUtilities.CreateInstance<IrcConnectionHandler>(services, listenerOptions),
        ServiceKind.UdpGreet or ServiceKind.UdpEcho => throw new ArgumentOutOfRangeException(nameof(kind), kind, "a UDP service has no connection handler"),
        ServiceKind.Web => throw new ArgumentOutOfRangeException(nameof(kind), kind, "the web listener is served by the HTTP pipeline"),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "a service without a handler"),
    };

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
        // A UDP bind names its endpoint on the way out (UdpListener); Kestrel names it in its message.
        string? udpEndPoint = null;
        for (var inner = ex; inner is not null; inner = inner.InnerException)
        {
            if (inner is UdpBindException udp)
            {
                udpEndPoint = EndpointText.Of(udp.EndPoint);
            }

            if (inner is SocketException socket)
            {
                string where = udpEndPoint ?? AddressIn(ex.Message) ?? EndpointText.Of(options.BindAddress, 0);
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

    /// <summary>A UDP service's socket would not bind; the SocketException inside says why but not where.</summary>
    private sealed class UdpBindException(IPEndPoint endPoint, SocketException inner) : Exception($"cannot bind UDP {endPoint}", inner)
    {
        public IPEndPoint EndPoint { get; } = endPoint;
    }

    /// <summary>Starts one UDP service: names its endpoint if it cannot bind, and logs that it serves once it can.</summary>
    private sealed class UdpListener(UdpService service, IPEndPoint requested, int maxDatagramBytes, ILogger logger) : IHostedService, IDisposable
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            try
            {
                await service.StartAsync(cancellationToken);
            }
            catch (SocketException ex)
            {
                throw new UdpBindException(requested, ex);
            }

            // UDP has no connections to log, so without this line a UDP-only server's log would stay empty.
            ServerLog.UdpServing(logger, ServiceNames.Of(service.Kind), EndpointText.Of(service.LocalEndPoint), maxDatagramBytes);
        }

        public Task StopAsync(CancellationToken cancellationToken) => service.StopAsync(cancellationToken);

        // The container disposes what it made, which is this wrapper, not the service inside it.
        public void Dispose() => service.Dispose();
    }

    // The process, not the host, decides when to stop: the CLI handles SIGINT/SIGTERM, the tests call StopAsync.
    private sealed class CallerOwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
