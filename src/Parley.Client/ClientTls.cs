using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Parley.Client;

/// <summary>A server certificate that neither the trusted authorities nor the known hosts vouch for.</summary>
public sealed record UntrustedCertificate(HostPort Server, X509Certificate2 Certificate, string Reason, string Fingerprint);

/// <summary>
/// How a client checks the server's certificate. By default it must be valid for the host and issued by a trusted
/// authority, or be the one remembered for this server in <see cref="KnownHosts"/>; a self-signed certificate seen for
/// the first time is trusted only when the user says so (<see cref="Confirm"/>, or <see cref="TrustNew"/> for scripts).
/// </summary>
public sealed class ClientTlsOptions
{
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Skip every check (<c>--insecure</c>): the connection is encrypted but the server is not known to be the one meant.</summary>
    public bool Insecure { get; init; }

    /// <summary>Trust and remember a certificate the first time a server shows it (<c>--trust-new</c>, as ssh's accept-new).</summary>
    public bool TrustNew { get; init; }

    /// <summary>When set, only these authorities are trusted instead of the system's (<c>--tls-ca</c>).</summary>
    public X509Certificate2Collection? TrustedAuthorities { get; init; }

    public KnownHosts KnownHosts { get; init; } = new(KnownHosts.DefaultPath);

    /// <summary>Asked about an untrusted certificate not seen before; true trusts and remembers it. Null refuses it.</summary>
    public Func<UntrustedCertificate, Task<bool>>? Confirm { get; init; }

    /// <summary>Runs the TLS handshake over <paramref name="network"/> and decides whether to trust the server.</summary>
    public async Task<SslStream> AuthenticateAsync(Stream network, HostPort server, CancellationToken cancellation)
    {
        var ssl = new SslStream(network, leaveInnerStreamOpen: false);
        try
        {
            X509Certificate2? shown = null;
            var errors = SslPolicyErrors.None;
            var chainFlags = X509ChainStatusFlags.NoError;
            var options = new SslClientAuthenticationOptions
            {
                TargetHost = server.Host,
                // The decision needs the known-hosts file and maybe the user, so it is made after the handshake,
                // before a single byte of ours is sent.
                RemoteCertificateValidationCallback = (_, certificate, chain, policyErrors) =>
                {
                    shown = certificate is null ? null : new X509Certificate2(certificate);
                    errors = policyErrors;
                    chainFlags = chain?.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status) ?? X509ChainStatusFlags.NoError;
                    return true;
                },
            };
            if (TrustedAuthorities is { Count: > 0 } authorities)
            {
                options.CertificateChainPolicy = new X509ChainPolicy
                {
                    TrustMode = X509ChainTrustMode.CustomRootTrust,
                    RevocationMode = X509RevocationMode.NoCheck,
                };
                options.CertificateChainPolicy.CustomTrustStore.AddRange(authorities);
            }

            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation))
            {
                timeout.CancelAfter(HandshakeTimeout);
                try
                {
                    await ssl.AuthenticateAsClientAsync(options, timeout.Token);
                }
                catch (Exception ex) when (ex is AuthenticationException or IOException)
                {
                    throw new ConnectException($"cannot connect to {server}: TLS handshake failed ({ex.Message.TrimEnd('.')}); is it a TLS service?", ex);
                }
                catch (OperationCanceledException ex) when (!cancellation.IsCancellationRequested)
                {
                    throw new ConnectException($"cannot connect to {server}: no TLS handshake within {HandshakeTimeout.TotalSeconds:0} seconds; is it a TLS service?", ex);
                }
            }

            await DecideTrustAsync(server, shown, errors, chainFlags);
            return ssl;
        }
        catch
        {
            await ssl.DisposeAsync();
            throw;
        }
    }

    private async Task DecideTrustAsync(HostPort server, X509Certificate2? certificate, SslPolicyErrors errors, X509ChainStatusFlags chainFlags)
    {
        if (Insecure || errors == SslPolicyErrors.None)
        {
            return;
        }

        if (certificate is null)
        {
            throw new ConnectException($"cannot connect to {server}: the server sent no certificate");
        }

        string fingerprint = KnownHosts.Fingerprint(certificate);
        if (KnownHosts.Find(server) is var (remembered, line))
        {
            if (string.Equals(remembered, fingerprint, StringComparison.OrdinalIgnoreCase))
            {
                return;
            }

            throw new ConnectException(
                $"cannot connect to {server}: its certificate has CHANGED since you trusted it, and someone may be intercepting the connection " +
                $"(now SHA-256 {fingerprint}; {KnownHosts.Path} line {line} has {remembered}). If the server's certificate was replaced on purpose, delete that line");
        }

        var untrusted = new UntrustedCertificate(server, certificate, Describe(server, certificate, errors, chainFlags), fingerprint);
        if (TrustNew || (Confirm is { } confirm && await confirm(untrusted)))
        {
            KnownHosts.Remember(server, certificate);
            return;
        }

        throw new ConnectException(
            $"cannot connect to {server}: its certificate is not trusted ({untrusted.Reason}; SHA-256 {fingerprint}). " +
            "Check the fingerprint with the server's operator, then --trust-new remembers it (--insecure skips the check)");
    }

    private static string Describe(HostPort server, X509Certificate2 certificate, SslPolicyErrors errors, X509ChainStatusFlags chainFlags)
    {
        var reasons = new List<string>();
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            if (chainFlags.HasFlag(X509ChainStatusFlags.NotTimeValid))
            {
                reasons.Add($"valid only from {certificate.NotBefore:yyyy-MM-dd} to {certificate.NotAfter:yyyy-MM-dd}");
            }

            if (chainFlags.HasFlag(X509ChainStatusFlags.UntrustedRoot) || chainFlags.HasFlag(X509ChainStatusFlags.PartialChain))
            {
                reasons.Add(certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData)
                    ? "self-signed"
                    : $"issued by {certificate.Issuer}, not a trusted authority");
            }

            if (reasons.Count == 0)
            {
                reasons.Add($"chain: {chainFlags}");
            }
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            reasons.Add($"issued for {certificate.GetNameInfo(X509NameType.DnsName, forIssuer: false)}, not {server.Host}");
        }

        return string.Join(", ", reasons);
    }
}
