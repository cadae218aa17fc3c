using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Parley.Server.Connections;
using Parley.Server.Logging;

namespace Parley.Server.Web;

/// <summary>
/// What the web listener serves: <c>/</c> the chat page, <c>/ws</c> the chat over a WebSocket, <c>/metrics</c> the
/// server's meters in Prometheus text and <c>/healthz</c>.
/// </summary>
internal static class WebFrontEnd
{
    public static void AddServices(IServiceCollection services, WebListeners listeners)
    {
        services.AddSingleton(listeners);
        services.AddSingleton<WebPage>();
        services.AddSingleton<WebSocketChatEndpoint>();
        // The meters the server already keeps (Logging/ParleyMetrics.cs), exported as they are: no second set.
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("parley"))
            .WithMetrics(metrics => metrics
            .AddMeter(ParleyMetrics.MeterName)
            .AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0));
    }

    public static void Map(WebApplication app)
    {
        app.Use((context, next) =>
        {
            if (context.Request.Path == "/ws" && context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } upgrade)
            {
                context.Features.Set<IHttpUpgradeFeature>(new CoalescingUpgrade(upgrade, context));
            }

            return next(context);
        });
        app.UseWebSockets();
        app.UseOpenTelemetryPrometheusScrapingEndpoint();
        var page = app.Services.GetRequiredService<WebPage>();
        var chat = app.Services.GetRequiredService<WebSocketChatEndpoint>();
        app.Run(context => context.Request.Path.Value switch
        {
            "/ws" => chat.HandleAsync(context),
            "/healthz" => HealthAsync(context),
            _ => page.ServeAsync(context),
        });
    }

    /// <summary>The address a newcomer opens: <c>http://127.0.0.1:8080/</c>.</summary>
    public static string PageAddress(IPEndPoint endPoint, bool tls)
    {
        // A server on every address is reached, from the machine itself, at localhost.
        string host = endPoint.Address.Equals(IPAddress.Any) || endPoint.Address.Equals(IPAddress.IPv6Any)
            ? $"localhost:{endPoint.Port}"
            : EndpointText.Of(endPoint);
        return $"{(tls ? "https" : "http")}://{host}/";
    }

    // Up means the host is serving requests; the chat core has nothing that can be down on its own without the
    // process being down too (history failures are answered per request and counted in /metrics).
    private static Task HealthAsync(HttpContext context)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsync("ok\n");
    }

    /// <summary>
    /// Puts a <see cref="CoalescingStream"/> under the WebSocket that ASP.NET Core's WebSocket middleware makes: it
    /// upgrades through this feature, which it reads when the request reaches it, so this is set just before.
    /// </summary>
    private sealed class CoalescingUpgrade(IHttpUpgradeFeature upgrade, HttpContext context) : IHttpUpgradeFeature
    {
        public bool IsUpgradableRequest => upgrade.IsUpgradableRequest;

        public async Task<Stream> UpgradeAsync()
        {
            // Kestrel hands on the connection's features; its output pipe is where the upgraded stream writes too.
            var stream = new CoalescingStream(await upgrade.UpgradeAsync(), context.Features.Get<IConnectionTransportFeature>()?.Transport.Output);
            context.Features.Set(stream);
            return stream;
        }
    }
}
