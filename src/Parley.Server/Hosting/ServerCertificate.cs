using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Parley.Server.Hosting;

/// <summary>
/// Loads a TLS certificate from <c>--tls-cert</c>, <c>--tls-key</c> and <c>--tls-password</c> (or their variables or
/// file keys), and says in one line what is wrong with them: the .NET messages name no file and no setting.
/// </summary>
internal static class ServerCertificate
{
    /// <summary>Null when no certificate is given: plain TCP.</summary>
    public static X509Certificate2? Load(SettingValue? certificate, SettingValue? key, SettingValue? password)
    {
        if (certificate is not { } certificateValue)
        {
            return key is { } orphan ? throw new SettingsException($"{orphan.Label} needs a certificate (--tls-cert) as well") : null;
        }

        string certificateFile = certificateValue.Path(certificateValue.Text);
        string? keyFile = key is { } keyValue ? keyValue.Path(keyValue.Text) : null;
        RequireFile(certificateFile, certificateValue.Label);
        if (keyFile is not null)
        {
            RequireFile(keyFile, key!.Value.Label);
        }

        try
        {
            return keyFile is null ? LoadPfx(certificateFile, certificateValue.Label, password) : LoadPem(certificateFile, keyFile, key!.Value.Label, password);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or ArgumentException or UnauthorizedAccessException)
        {
            string what = keyFile is null ? $"{Path.GetFileName(certificateFile)} as PFX" : $"{Path.GetFileName(certificateFile)} with key {Path.GetFileName(keyFile)}";
            throw new SettingsException($"{certificateValue.Label}: cannot load {what}: {ex.Message.TrimEnd('.')}");
        }
    }

    private static X509Certificate2 LoadPem(string certificateFile, string keyFile, string keyLabel, SettingValue? password)
    {
        // Decryption with a wrong password fails deep in the PKCS#8 code with a generic message; the file's header
        // says whether a password was needed at all, so the two mistakes can be told apart.
        bool encrypted = File.ReadAllText(keyFile).Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal);
        X509Certificate2 pem;
        if (!encrypted)
        {
            pem = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
        }
        else if (password is not { } given)
        {
            throw new SettingsException($"{keyLabel}: {Path.GetFileName(keyFile)} is encrypted: give its password with --tls-password or PARLEY_TLS_PASSWORD");
        }
        else
        {
            try
            {
                pem = X509Certificate2.CreateFromEncryptedPemFile(certificateFile, given.Text, keyFile);
            }
            catch (CryptographicException)
            {
                throw new SettingsException($"{given.Label}: wrong password for {Path.GetFileName(keyFile)}");
            }
        }

        using (pem)
        {
            // SslStream on Linux wants the key in a PKCS#12 blob, not only in memory as PEM gave it.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
    }

    private static X509Certificate2 LoadPfx(string certificateFile, string label, SettingValue? password)
    {
        byte[] contents = File.ReadAllBytes(certificateFile);
        if (contents.AsSpan().IndexOf("-----BEGIN"u8) >= 0)
        {
            throw new SettingsException($"{label}: {Path.GetFileName(certificateFile)} is PEM: give its private key with --tls-key");
        }

        X509Certificate2 pfx;
        try
        {
            pfx = X509CertificateLoader.LoadPkcs12(contents, password?.Text);
        }
        catch (CryptographicException) when (LooksLikePkcs12(contents))
        {
            // A PFX that parses as one but will not open is locked: no password, or the wrong one.
            throw new SettingsException(password is { } given
                ? $"{given.Label}: wrong password for {Path.GetFileName(certificateFile)}"
                : $"{label}: {Path.GetFileName(certificateFile)} is protected by a password: give it with --tls-password or PARLEY_TLS_PASSWORD");
        }

        if (!pfx.HasPrivateKey)
        {
            pfx.Dispose();
            throw new SettingsException($"{label}: {Path.GetFileName(certificateFile)} holds no private key");
        }

        return pfx;
    }

    // PKCS#12 is a DER SEQUENCE whose first element is the version 3 (RFC 7292 §4); anything else is not a PFX at all.
    private static bool LooksLikePkcs12(byte[] contents) =>
        X509Certificate2.GetCertContentType(contents) == X509ContentType.Pkcs12;

    private static void RequireFile(string path, string label)
    {
        if (Directory.Exists(path))
        {
            throw new SettingsException($"{label}: {path} is a directory, not a file");
        }

        if (!File.Exists(path))
        {
            throw new SettingsException($"{label}: {path} does not exist");
        }
    }
}
