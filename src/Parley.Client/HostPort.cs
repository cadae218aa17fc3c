using System.Globalization;

namespace Parley.Client;

/// <summary>A <c>HOST:PORT</c> as users type it: <c>127.0.0.1:9999</c>, <c>localhost:9999</c>, <c>[::1]:9999</c>.</summary>
public readonly record struct HostPort(string Host, int Port)
{
    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>Parses <c>HOST:PORT</c>; with <paramref name="defaultHost"/>, a bare <c>PORT</c> is accepted too.</summary>
    public static bool TryParse(string text, out HostPort result, out string error, string? defaultHost = null)
    {
        result = default;
        string host;
        string port;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
            {
                error = $"'{text}' is not HOST:PORT (an IPv6 address is written [::1]:9999)";
                return false;
            }

            host = text[1..close];
            port = text[(close + 2)..];
        }
        else
        {
            int colon = text.LastIndexOf(':');
            if (colon < 0 && defaultHost is not null)
            {
                host = defaultHost;
                port = text;
            }
            else if (colon > 0 && text.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                // Several colons: an IPv6 address, whose own colons hide where the port starts.
                error = int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out _)
                    ? $"'{text}' is not HOST:PORT: write an IPv6 address in brackets, as [{text[..colon]}]:{text[(colon + 1)..]}"
                    : $"'{text}' is not HOST:PORT (an IPv6 address is written in brackets, as [::1]:9999)";
                return false;
            }
            else if (colon <= 0)
            {
                error = $"'{text}' is not HOST:PORT";
                return false;
            }
            else
            {
                host = text[..colon];
                port = text[(colon + 1)..];
            }
        }

        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out int number) || number is < 0 or > 65535)
        {
            error = $"'{port}' is not a port number (0-65535)";
            return false;
        }

        result = new HostPort(host, number);
        error = string.Empty;
        return true;
    }
}
