using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;

namespace Parley.Server.Web;

/// <summary>
/// The chat page's files, embedded in the binary (Web/Page), served with a strict Content-Security-Policy: the page
/// runs only its own script, loads nothing from elsewhere, and talks only to its own server.
/// </summary>
internal sealed class WebPage
{
    /// <summary>
    /// Only this server's own files and WebSocket; no inline script or style, so text that slipped into the page as
    /// markup could still not run. 'self' covers ws: and wss: to the same host.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly (string Path, string Resource, string ContentType)[] Files =
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/app.js", "app.js", "text/javascript; charset=utf-8"),
        ("/app.css", "app.css", "text/css; charset=utf-8"),
    ];

    private readonly Dictionary<string, (byte[] Body, string ContentType, string ETag)> _files = [];

    public WebPage()
    {
        var assembly = typeof(WebPage).Assembly;
        foreach (var (path, resource, contentType) in Files)
        {
            using var stream = assembly.GetManifestResourceStream("Parley.Web." + resource)
                ?? throw new InvalidOperationException($"the page file {resource} is not embedded in the server");
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            byte[] body = copy.ToArray();
            _files[path] = (body, contentType, $"\"{Convert.ToHexStringLower(SHA256.HashData(body))[..16]}\"");
        }
    }

    /// <summary>Everything the page loads, in bytes: the target is under 100 KB (docs/benchmarks.md).</summary>
    public long Weight => _files.Values.Sum(file => (long)file.Body.Length);

    public Task ServeAsync(HttpContext context)
    {
        var response = context.Response;
        string path = context.Request.Path.Value ?? "/";
        if (path == "/index.html")
        {
            path = "/";
        }

        if (!_files.TryGetValue(path, out var file))
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            response.ContentType = "text/plain; charset=utf-8";
            return response.WriteAsync("not found: the chat page is at /\n");
        }

        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "GET, HEAD";
            return Task.CompletedTask;
        }

        var headers = response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        // Revalidated on every load (a 304 costs a few bytes), so a restarted, newer server never runs an older page.
        headers.CacheControl = "no-cache";
        headers.ETag = file.ETag;
        if (context.Request.Headers.IfNoneMatch.ToString() == file.ETag)
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return Task.CompletedTask;
        }

        response.ContentType = file.ContentType;
        response.ContentLength = file.Body.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : response.Body.WriteAsync(file.Body).AsTask();
    }
}
