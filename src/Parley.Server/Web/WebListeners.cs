using Microsoft.AspNetCore.Server.Kestrel.Core;
using Parley.Server.Hosting;

namespace Parley.Server.Web;

/// <summary>
/// The web listeners and the options each runs with. Every HTTP listener shares one request pipeline, so a request
/// finds its listener's options (password, limits, allowed origins) by the port it came in on.
/// </summary>
internal sealed class WebListeners
{
    private readonly List<(ListenOptions Listen, ServerOptions Options)> _all = [];

    public int Count => _all.Count;

    public void Add(ListenOptions listen, ServerOptions options)
    {
        // A WebSocket frame is a line whatever the TCP listeners' framing: raw framing is for the tutorials' programs.
        var forWeb = options;
        if (options.Framing != Framing.Line)
        {
            forWeb = options.CopyForListener();
            forWeb.Framing = Framing.Line;
        }

        _all.Add((listen, forWeb));
    }

    /// <summary>The options of the listener on <paramref name="localPort"/> (Kestrel wrote the bound port back).</summary>
    public ServerOptions For(int localPort)
    {
        foreach (var (listen, options) in _all)
        {
            if (_all.Count == 1 || listen.IPEndPoint?.Port == localPort)
            {
                return options;
            }
        }

        throw new InvalidOperationException($"a request came in on port {localPort}, where no web listener is");
    }
}
