using System.Security.Cryptography.X509Certificates;
using Parley.Client;
using Parley.Testing;

namespace Parley.Cli.Tests;

/// <summary><c>parley serve --tls-cert</c> with <c>parley connect/chat --tls</c>, as an operator and a user run them.</summary>
public sealed class TlsCliTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("parley-tls-");

    private string KnownHostsFile => Path.Combine(_directory.FullName, "known_hosts");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public async Task ASelfSignedCertificateIsRefusedUntilTrustedThenPinnedAndAChangeIsRefused()
    {
        using var certificate = TestCertificates.SelfSigned();
        string fingerprint = KnownHosts.Fingerprint(certificate);
        await using var serve = Serve(certificate, "--echo");
        string echo = await serve.ListeningAddressAsync("echo");

        await using (var refused = ParleyProcess.Start("connect", echo, "--tls", "--known-hosts", KnownHostsFile))
        {
            refused.StandardInput.Close();
            Assert.Equal(2, await refused.WaitForExitAsync());
            string message = refused.StandardError.Trim();
            Assert.StartsWith($"parley: cannot connect to {echo}: its certificate is not trusted (self-signed; SHA-256 {fingerprint})", message, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', message);
        }

        Assert.False(File.Exists(KnownHostsFile));

        await using (var firstUse = ParleyProcess.Start("connect", echo, "--trust-new", "--known-hosts", KnownHostsFile))
        {
            await firstUse.StandardInput.WriteLineAsync("first");
            firstUse.StandardInput.Close();
            Assert.Equal(["first"], await firstUse.ReadToEndAsync());
            Assert.Equal(0, await firstUse.WaitForExitAsync());
        }

        Assert.Equal([$"{echo} {fingerprint}"], File.ReadAllLines(KnownHostsFile));

        await using (var pinned = ParleyProcess.Start("connect", echo, "--tls", "--known-hosts", KnownHostsFile))
        {
            await pinned.StandardInput.WriteLineAsync("again");
            pinned.StandardInput.Close();
            Assert.Equal(["again"], await pinned.ReadToEndAsync());
            Assert.Equal(0, await pinned.WaitForExitAsync());
        }

        using var other = TestCertificates.SelfSigned();
        File.WriteAllText(KnownHostsFile, $"# pinned earlier\n{echo} {KnownHosts.Fingerprint(other)}\n");
        await using (var changed = ParleyProcess.Start("connect", echo, "--tls", "--trust-new", "--known-hosts", KnownHostsFile))
        {
            changed.StandardInput.Close();
            Assert.Equal(2, await changed.WaitForExitAsync());
            Assert.Contains("its certificate has CHANGED since you trusted it", changed.StandardError, StringComparison.Ordinal);
            Assert.Contains($"{KnownHostsFile} line 2", changed.StandardError, StringComparison.Ordinal);
            Assert.Empty(changed.StandardOutputSeen);
        }
    }

    [Fact]
    public async Task InsecureSkipsTheCheckAndSaysSo()
    {
        using var certificate = TestCertificates.SelfSigned();
        await using var serve = Serve(certificate, "--chat");
        string chat = await serve.ListeningAddressAsync("chat");

        await using var insecure = ParleyProcess.Start("chat", chat, "--name", "alice", "--insecure", "--known-hosts", KnownHostsFile);
        await insecure.StandardInput.WriteLineAsync("/who");
        insecure.StandardInput.Close();
        Assert.Contains("* members of #lobby: alice", await insecure.ReadToEndAsync());
        Assert.Equal(0, await insecure.WaitForExitAsync());
        Assert.Equal("parley: warning: --insecure: the server's certificate is not checked", insecure.StandardError.Trim());
        Assert.False(File.Exists(KnownHostsFile));
    }

    [Fact]
    public async Task ACertificateFromATrustedAuthorityIsAcceptedAndAWrongNameIsNot()
    {
        using var authority = TestCertificates.Authority();
        string authorityFile = Path.Combine(_directory.FullName, "authority.pem");
        File.WriteAllText(authorityFile, authority.ExportCertificatePem());
        using var certificate = TestCertificates.IssuedBy(authority);
        await using var serve = Serve(certificate, "--chat");
        string chat = await serve.ListeningAddressAsync("chat");

        await using (var withAuthority = ParleyProcess.Start("chat", chat, "--name", "alice", "--tls-ca", authorityFile, "--known-hosts", KnownHostsFile))
        {
            await withAuthority.StandardInput.WriteLineAsync("/who");
            withAuthority.StandardInput.Close();
            Assert.Contains("* members of #lobby: alice", await withAuthority.ReadToEndAsync());
            Assert.Equal(0, await withAuthority.WaitForExitAsync());
        }

        // The system's trust store, as OpenSSL finds it, is what plain --tls checks against.
        await using (var systemTrust = ParleyProcess.Start(new Dictionary<string, string> { ["SSL_CERT_FILE"] = authorityFile }, "chat", chat, "--name", "bob", "--tls", "--known-hosts", KnownHostsFile))
        {
            await systemTrust.StandardInput.WriteLineAsync("/who");
            systemTrust.StandardInput.Close();
            Assert.Contains("* members of #lobby: bob", await systemTrust.ReadToEndAsync());
            Assert.Equal(0, await systemTrust.WaitForExitAsync());
        }

        Assert.False(File.Exists(KnownHostsFile));

        using var misnamed = TestCertificates.IssuedBy(authority, "chat.example.org");
        await using var misnamedServe = Serve(misnamed, "--chat");
        string misnamedChat = await misnamedServe.ListeningAddressAsync("chat");
        await using var wrongName = ParleyProcess.Start("chat", misnamedChat, "--name", "carol", "--tls-ca", authorityFile, "--known-hosts", KnownHostsFile);
        Assert.Equal(2, await wrongName.WaitForExitAsync());
        Assert.Contains("its certificate is not trusted (issued for chat.example.org, not 127.0.0.1;", wrongName.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TlsToAPlainServiceFailsInOneLine()
    {
        await using var serve = ParleyProcess.Start("serve", "--greet", "0");
        string greet = await serve.ListeningAddressAsync("greet");

        await using var connect = ParleyProcess.Start("connect", greet, "--tls", "--known-hosts", KnownHostsFile);
        Assert.Equal(2, await connect.WaitForExitAsync());
        string message = connect.StandardError.Trim();
        Assert.StartsWith($"parley: cannot connect to {greet}: TLS handshake failed", message, StringComparison.Ordinal);
        Assert.EndsWith("is it a TLS service?", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServeLoadsAPfxAndLogsTheFingerprintToCheck()
    {
        using var certificate = TestCertificates.SelfSigned();
        string pfx = Path.Combine(_directory.FullName, "server.pfx");
        File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pkcs12, "pfx-secret"));

        await using var serve = ParleyProcess.Start(new Dictionary<string, string> { ["PARLEY_TLS_PASSWORD"] = "pfx-secret" }, "serve", "--echo", "0", "--tls-cert", pfx);
        string echo = await serve.ListeningAddressAsync("echo");
        await using var connect = ParleyProcess.Start("connect", echo, "--trust-new", "--known-hosts", KnownHostsFile);
        await connect.StandardInput.WriteLineAsync("over pfx");
        connect.StandardInput.Close();
        Assert.Equal(["over pfx"], await connect.ReadToEndAsync());
        Assert.Contains($"SHA-256 {KnownHosts.Fingerprint(certificate)}", serve.StandardError, StringComparison.Ordinal);
    }

    private ParleyProcess Serve(X509Certificate2 certificate, string service)
    {
        var (certificateFile, keyFile) = TestCertificates.WritePem(certificate, _directory.FullName);
        return ParleyProcess.Start("serve", service, "0", "--tls-cert", certificateFile, "--tls-key", keyFile);
    }
}
