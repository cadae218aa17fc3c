using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Parley.Testing;

/// <summary>Certificates made on the spot for TLS tests: self-signed ones, an authority, and ones it issued.</summary>
public static class TestCertificates
{
    /// <summary>A self-signed certificate for localhost and 127.0.0.1 (or for <paramref name="dnsName"/> only), with its key.</summary>
    public static X509Certificate2 SelfSigned(string? dnsName = null) => Create(dnsName, issuer: null);

    public static X509Certificate2 Authority()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Parley Test Authority", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        return Exportable(request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-2), DateTimeOffset.UtcNow.AddDays(365)));
    }

    /// <summary>A certificate for localhost and 127.0.0.1 (or for <paramref name="dnsName"/> only) that <paramref name="authority"/> signed.</summary>
    public static X509Certificate2 IssuedBy(X509Certificate2 authority, string? dnsName = null) => Create(dnsName, authority);

    /// <summary>Writes the certificate and its private key as PEM files, as an operator would hand them to <c>--tls-cert/--tls-key</c>.</summary>
    public static (string CertificateFile, string KeyFile) WritePem(X509Certificate2 certificate, string directory)
    {
        string name = Convert.ToHexString(certificate.GetCertHash())[..12];
        string certificateFile = Path.Combine(directory, $"{name}.crt.pem");
        string keyFile = Path.Combine(directory, $"{name}.key.pem");
        File.WriteAllText(certificateFile, certificate.ExportCertificatePem());
        using var key = certificate.GetECDsaPrivateKey();
        if (key is not null)
        {
            File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        }

        return (certificateFile, keyFile);
    }

    private static X509Certificate2 Create(string? dnsName, X509Certificate2? issuer)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsName ?? "localhost"}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        if (dnsName is null)
        {
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
        }
        else
        {
            names.AddDnsName(dnsName);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var notBefore = DateTimeOffset.UtcNow.AddDays(-1);
        var notAfter = DateTimeOffset.UtcNow.AddDays(30);
        if (issuer is null)
        {
            return Exportable(request.CreateSelfSigned(notBefore, notAfter));
        }

        byte[] serial = RandomNumberGenerator.GetBytes(8);
        using var signed = request.Create(issuer, notBefore, notAfter, serial);
        return Exportable(signed.CopyWithPrivateKey(key));
    }

    // SslStream on Linux needs the key in a PKCS#12 blob, not only the ephemeral one the request made.
    private static X509Certificate2 Exportable(X509Certificate2 certificate)
    {
        using (certificate)
        {
            return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
        }
    }
}
