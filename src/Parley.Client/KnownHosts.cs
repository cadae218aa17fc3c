using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Parley.Client;

/// <summary>
/// Certificates a user chose to trust, one per server, as SSH's known_hosts keeps host keys: a line
/// <c>HOST:PORT SHA256-FINGERPRINT</c>. A server listed here must show exactly that certificate.
/// </summary>
public sealed class KnownHosts(string path)
{
    public string Path { get; } = path;

    /// <summary><c>~/.config/parley/known_hosts</c> (or under <c>$XDG_CONFIG_HOME</c>).</summary>
    public static string DefaultPath =>
        System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData, Environment.SpecialFolderOption.DoNotVerify), "parley", "known_hosts");

    /// <summary>The SHA-256 of the certificate, as <c>openssl x509 -noout -fingerprint -sha256</c> prints it.</summary>
    public static string Fingerprint(X509Certificate2 certificate) =>
        string.Join(':', certificate.GetCertHash(HashAlgorithmName.SHA256).Select(b => b.ToString("X2", CultureInfo.InvariantCulture)));

    /// <summary>The remembered fingerprint for this server and the line it is on, or null when there is none.</summary>
    public (string Fingerprint, int Line)? Find(HostPort server)
    {
        if (!File.Exists(Path))
        {
            return null;
        }

        string key = server.ToString();
        int number = 0;
        foreach (string line in File.ReadLines(Path))
        {
            number++;
            string[] fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 2 && !fields[0].StartsWith('#') && string.Equals(fields[0], key, StringComparison.OrdinalIgnoreCase))
            {
                return (fields[1], number);
            }
        }

        return null;
    }

    public void Remember(HostPort server, X509Certificate2 certificate)
    {
        string? directory = System.IO.Path.GetDirectoryName(Path);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        File.AppendAllText(Path, $"{server} {Fingerprint(certificate)}\n");
    }
}
