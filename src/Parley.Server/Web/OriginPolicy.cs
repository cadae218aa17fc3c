using System.Net;
using Microsoft.AspNetCore.Http;
using Parley.Server.Hosting;

namespace Parley.Server.Web;

/// <summary>
/// Who may open the chat WebSocket. A browser lets any page open a WebSocket to any address and sends its cookies
/// along, so the server has to check where the page came from (cross-site WebSocket hijacking): only its own pages and
/// the origins given with <c>--web-origin</c>. Programs that are not browsers send no Origin and are let through, as on
/// TCP; a page cannot leave the header out.
/// </summary>
internal static class OriginPolicy
{
    /// <summary>Null when the request may open the WebSocket, else why not, in words for the log and the HTTP answer.</summary>
    public static string? Check(HttpRequest request, ServerOptions options, IPAddress? localAddress)
    {
        // DNS rebinding: a page at evil.example whose name is made to resolve to 127.0.0.1 would be "same origin" with
        // a server on loopback. A server that only listens on loopback only answers to loopback names.
        if (localAddress is not null && IPAddress.IsLoopback(localAddress) && !IsLoopbackHost(request.Host.Host)
            && !options.WebOrigins.Exists(origin => SameHost(origin, request.Host.Host)))
        {
            return $"host name {request.Host.Host} is not this server's (it listens on loopback only)";
        }

        string origin = request.Headers.Origin.ToString();
        if (origin.Length == 0)
        {
            return null;
        }

        string own = $"{request.Scheme}://{request.Host.Value}";
        return origin.Equals(own, StringComparison.OrdinalIgnoreCase) || options.WebOrigins.Contains(origin.ToLowerInvariant())
            ? null
            : $"origin {origin} is not allowed (pages of {own} are; others need --web-origin)";
    }

    private static bool IsLoopbackHost(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    private static bool SameHost(string origin, string host) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Host.Equals(host, StringComparison.OrdinalIgnoreCase);
}
