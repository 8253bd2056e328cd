package dev.cosell.connector.auth;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.SecureRandom;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * TLS trust for outbound HTTPS (Entra ID, Partner Center, Dataverse, webhook certificates).
 * By default the JDK's CAs are used; {@code tls.truststore} replaces them with a PKCS12 store, which
 * the sandbox sets to its own CA (and which a corporate TLS-inspecting proxy may need).
 */
public final class TrustStores {

    private TrustStores() {
    }

    /** An SSL context trusting only the given store, or null when no store is configured. */
    public static SSLContext sslContext(String path, String password) {
        KeyStore ks = load(path, password);
        if (ks == null) {
            return null;
        }
        try {
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), new SecureRandom());
            return ctx;
        } catch (Exception e) {
            throw new IllegalArgumentException("tls.truststore: cannot use " + path + " ("
                    + e.getClass().getSimpleName() + ")", e);
        }
    }

    /** The PKCS12 store at {@code path}, or null when none is configured (callers then use the JDK's CAs). */
    public static KeyStore load(String path, String password) {
        if (path == null || path.isBlank()) {
            return null;
        }
        try (InputStream in = Files.newInputStream(Path.of(path))) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(in, password == null ? new char[0] : password.toCharArray());
            return ks;
        } catch (Exception e) {
            throw new IllegalArgumentException("tls.truststore: cannot load " + path + " ("
                    + e.getClass().getSimpleName() + ")", e);
        }
    }
}
