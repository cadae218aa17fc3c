using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Parley.Client;

namespace Parley.Cli;

/// <summary>The client TLS flags <c>parley chat</c> and <c>parley connect</c> share.</summary>
internal sealed class TlsArguments
{
    private readonly Option<bool> _tls = new("--tls") { Description = "Connect with TLS; the server's certificate must be trusted, or remembered (see --trust-new)" };
    private readonly Option<bool> _insecure = new("--insecure", "-k") { Description = "TLS without checking the server's certificate (implies --tls)" };
    private readonly Option<bool> _trustNew = new("--trust-new") { Description = "Trust a certificate never seen before for this server and remember it; refuse it if it later changes (implies --tls)" };
    private readonly Option<FileInfo?> _authority = new("--tls-ca") { Description = "Trust servers whose certificate this PEM authority issued, instead of the system's authorities (implies --tls)", HelpName = "FILE" };
    private readonly Option<FileInfo?> _knownHosts = new("--known-hosts") { Description = "Where remembered certificates are kept (default ~/.config/parley/known_hosts)", HelpName = "FILE" };

    public void AddTo(Command command)
    {
        command.Options.Add(_tls);
        command.Options.Add(_insecure);
        command.Options.Add(_trustNew);
        command.Options.Add(_authority);
        command.Options.Add(_knownHosts);
    }

    /// <summary>Null for plain TCP. When a terminal is attached, an unknown certificate is asked about, as ssh does.</summary>
    public ClientTlsOptions? Read(ParseResult parse)
    {
        bool insecure = parse.GetValue(_insecure);
        bool trustNew = parse.GetValue(_trustNew);
        var authority = parse.GetValue(_authority);
        if (!parse.GetValue(_tls) && !insecure && !trustNew && authority is null)
        {
            return parse.GetValue(_knownHosts) is null ? null : throw new UsageException("--known-hosts only applies with --tls");
        }

        if (insecure)
        {
            Console.Error.WriteLine("parley: warning: --insecure: the server's certificate is not checked");
        }

        return new ClientTlsOptions
        {
            Insecure = insecure,
            TrustNew = trustNew,
            TrustedAuthorities = authority is null ? null : LoadAuthorities(authority),
            KnownHosts = new KnownHosts(parse.GetValue(_knownHosts)?.FullName ?? KnownHosts.DefaultPath),
            Confirm = Console.IsInputRedirected || Console.IsErrorRedirected ? null : AskAsync,
        };
    }

    private static X509Certificate2Collection LoadAuthorities(FileInfo file)
    {
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(file.FullName);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--tls-ca: cannot read {file.FullName}: {ex.Message.TrimEnd('.')}");
        }

        return authorities.Count > 0 ? authorities : throw new UsageException($"--tls-ca: no PEM certificate in {file.FullName}");
    }

    private static async Task<bool> AskAsync(UntrustedCertificate untrusted)
    {
        var error = Console.Error;
        await error.WriteLineAsync($"parley: the certificate of {untrusted.Server} is not trusted ({untrusted.Reason})");
        await error.WriteLineAsync($"  subject     {untrusted.Certificate.Subject}");
        await error.WriteLineAsync($"  SHA-256     {untrusted.Fingerprint}");
        await error.WriteAsync("Is this the fingerprint the server's operator gave you? Trust it and remember it [y/N]? ");
        string? answer = await Task.Run(Console.ReadLine);
        return answer?.Trim().ToLowerInvariant() is "y" or "yes";
    }
}
