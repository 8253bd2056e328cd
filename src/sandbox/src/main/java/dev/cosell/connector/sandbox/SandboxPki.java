package dev.cosell.connector.sandbox;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * The sandbox's own small PKI, generated fresh for every sandbox run: a CA, a TLS server certificate
 * for 127.0.0.1/localhost (all emulators speak HTTPS, as the real services do) and a webhook signing
 * certificate (Partner Center signs webhook posts with a certificate the receiver downloads).
 * <p>
 * Only the CA goes into the trust store the connector is given in sandbox mode, so the connector
 * validates chains exactly as it would against the real services' public CAs.
 */
public final class SandboxPki {

    public static final String STORE_PASSWORD = "sandbox";
    /** Organisation written into the signing certificate; the connector checks it (property). */
    public static final String SIGNING_ORGANIZATION = "cosell-connector sandbox";

    private final KeyPair caKeys;
    private final X509Certificate caCertificate;
    private final KeyPair tlsKeys;
    private final X509Certificate tlsCertificate;
    private final KeyPair signingKeys;
    private final X509Certificate signingCertificate;
    private final X509Certificate issuingCertificate;
    private final X509Certificate otherCaCertificate;
    private final KeyPair impostorKeys;
    private final X509Certificate impostorCertificate;

    private SandboxPki() {
        try {
            caKeys = rsa();
            X500Name caName = new X500Name("CN=cosell-connector sandbox CA, O=" + SIGNING_ORGANIZATION);
            caCertificate = issue(caName, caKeys, caName, caKeys.getPrivate(), null, true, null);

            tlsKeys = rsa();
            GeneralNames loopback = new GeneralNames(new GeneralName[] {
                    new GeneralName(GeneralName.iPAddress, "127.0.0.1"),
                    new GeneralName(GeneralName.dNSName, "localhost") });
            tlsCertificate = issue(new X500Name("CN=localhost, O=" + SIGNING_ORGANIZATION), tlsKeys, caName,
                    caKeys.getPrivate(), loopback, false, KeyPurposeId.id_kp_serverAuth);

            // As Microsoft's: the signing certificate comes from an issuing CA under the root, not from
            // the root itself, so a receiver has to build the path (the download carries both).
            KeyPair issuingKeys = rsa();
            X500Name issuingName = new X500Name("CN=cosell-connector sandbox webhook CA, O=" + SIGNING_ORGANIZATION);
            issuingCertificate = issue(issuingName, issuingKeys, caName, caKeys.getPrivate(), null, true, null);
            signingKeys = rsa();
            signingCertificate = issue(
                    new X500Name("CN=webhooks.sandbox.partnercenter, O=" + SIGNING_ORGANIZATION), signingKeys,
                    issuingName, issuingKeys.getPrivate(), null, false, KeyPurposeId.id_kp_codeSigning);

            // A second trusted CA whose name carries no organisation (as a public CA's would not carry
            // Microsoft's), and a signing certificate from it whose *subject* claims the organisation:
            // what the documented issuer check must refuse.
            KeyPair otherCaKeys = rsa();
            X500Name otherCaName = new X500Name("CN=cosell-connector sandbox other CA");
            otherCaCertificate = issue(otherCaName, otherCaKeys, otherCaName, otherCaKeys.getPrivate(), null, true, null);
            impostorKeys = rsa();
            impostorCertificate = issue(new X500Name("CN=webhooks.sandbox.partnercenter, O=" + SIGNING_ORGANIZATION),
                    impostorKeys, otherCaName, otherCaKeys.getPrivate(), null, false, KeyPurposeId.id_kp_codeSigning);
        } catch (GeneralSecurityException | OperatorCreationException | IOException e) {
            throw new IllegalStateException("Cannot generate the sandbox certificates", e);
        }
    }

    public static SandboxPki generate() {
        return new SandboxPki();
    }

    public X509Certificate caCertificate() {
        return caCertificate;
    }

    public X509Certificate signingCertificate() {
        return signingCertificate;
    }

    /** The CA between the root and the signing certificate. */
    public X509Certificate issuingCertificate() {
        return issuingCertificate;
    }

    public PrivateKey signingKey() {
        return signingKeys.getPrivate();
    }

    /** A signing certificate that says it belongs to the organisation but was issued by a CA that is not it. */
    public X509Certificate impostorSigningCertificate() {
        return impostorCertificate;
    }

    public PrivateKey impostorSigningKey() {
        return impostorKeys.getPrivate();
    }

    public KeyPair tokenSigningKeys() {
        // Entra ID signs tokens with its own key; the sandbox reuses the CA key pair for that.
        return caKeys;
    }

    public X509Certificate tlsCertificate() {
        return tlsCertificate;
    }

    public PrivateKey tlsKey() {
        return tlsKeys.getPrivate();
    }

    /** TLS context the emulators serve with. */
    public SSLContext serverSslContext() {
        try {
            KeyStore ks = serverKeyStore();
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, STORE_PASSWORD.toCharArray());
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), null, new SecureRandom());
            return ctx;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private KeyStore serverKeyStore() throws GeneralSecurityException, IOException {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setKeyEntry("tls", tlsKeys.getPrivate(), STORE_PASSWORD.toCharArray(),
                new X509Certificate[] { tlsCertificate, caCertificate });
        return ks;
    }

    /** A client TLS context trusting only the sandbox CA (for tests and the sandbox's own webhook sender). */
    public SSLContext clientSslContext() {
        try {
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trustStore());
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), new SecureRandom());
            return ctx;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    public KeyStore trustStore() {
        try {
            KeyStore ts = KeyStore.getInstance("PKCS12");
            ts.load(null, null);
            ts.setCertificateEntry("cosell-sandbox-ca", caCertificate);
            ts.setCertificateEntry("cosell-sandbox-other-ca", otherCaCertificate);
            return ts;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Writes the CA as a PKCS12 trust store (password {@value #STORE_PASSWORD}) and returns its path. */
    public Path writeTrustStore(Path dir) {
        try {
            Files.createDirectories(dir);
            Path file = dir.resolve("sandbox-truststore.p12");
            try (OutputStream out = Files.newOutputStream(file)) {
                trustStore().store(out, STORE_PASSWORD.toCharArray());
            }
            return file;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Writes the emulators' TLS certificate (127.0.0.1, localhost) and key as a PKCS12 key store
     * (password {@value #STORE_PASSWORD}): a connector serving its webhook over HTTPS in tests.
     */
    public Path writeServerKeyStore(Path file) {
        try {
            KeyStore ks = serverKeyStore();
            Files.createDirectories(file.toAbsolutePath().getParent());
            try (OutputStream out = Files.newOutputStream(file)) {
                ks.store(out, STORE_PASSWORD.toCharArray());
            }
            return file;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot write the server key store", e);
        }
    }

    /**
     * Issues a client certificate (an app registration's certificate credential) and writes it with
     * its private key as a PKCS12 file; returns the certificate, to register with the Entra emulator.
     */
    public X509Certificate writeClientCertificate(Path file, String commonName, String password) {
        try {
            KeyPair keys = rsa();
            X509Certificate cert = issue(new X500Name("CN=" + commonName + ", O=" + SIGNING_ORGANIZATION), keys,
                    new X500Name("CN=cosell-connector sandbox CA, O=" + SIGNING_ORGANIZATION), caKeys.getPrivate(),
                    null, false, KeyPurposeId.id_kp_clientAuth);
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry("client", keys.getPrivate(), password.toCharArray(), new X509Certificate[] { cert });
            Files.createDirectories(file.toAbsolutePath().getParent());
            try (OutputStream out = Files.newOutputStream(file)) {
                ks.store(out, password.toCharArray());
            }
            return cert;
        } catch (GeneralSecurityException | OperatorCreationException | IOException e) {
            throw new IllegalStateException("cannot issue a client certificate", e);
        }
    }

    private static KeyPair rsa() throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        return g.generateKeyPair();
    }

    private static X509Certificate issue(X500Name subject, KeyPair subjectKeys, X500Name issuer, PrivateKey issuerKey,
            GeneralNames altNames, boolean ca, KeyPurposeId purpose)
            throws GeneralSecurityException, OperatorCreationException, IOException {
        Instant now = Instant.now();
        X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(issuer,
                new BigInteger(64, new SecureRandom()), Date.from(now.minus(Duration.ofHours(1))),
                Date.from(now.plus(Duration.ofDays(30))), subject, subjectKeys.getPublic());
        JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
        b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(subjectKeys.getPublic()));
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(ca));
        if (ca) {
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign | KeyUsage.digitalSignature));
        } else {
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
            b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(purpose));
        }
        if (altNames != null) {
            b.addExtension(Extension.subjectAlternativeName, false, altNames);
        }
        ContentSigner signer = new JcaContentSignerBuilder("SHA256withRSA").build(issuerKey);
        return new JcaX509CertificateConverter().getCertificate(b.build(signer));
    }
}
