package dev.cosell.connector.webhook;

import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks that a webhook post really comes from Partner Center, the way Microsoft documents it:
 * <ol>
 * <li>{@code Authorization: Signature <base64>} (or {@code x-ms-signature}), {@code x-ms-certificate-url}
 * and {@code x-ms-signature-algorithm: rsa-sha256} are present;</li>
 * <li>the certificate URL is HTTPS on port 443 of an allowed host (an entry {@code host:port} allows
 * that port instead; never fetch from where the sender says);</li>
 * <li>the certificate (downloaded once, cached) is valid now, chains to a trusted CA and its
 * <em>issuer</em> names the expected organisation ({@code O=Microsoft Corporation}: Microsoft's sample
 * checks {@code certificate.Issuer.Contains("O=Microsoft Corporation")}; a subject saying so is not
 * enough, anybody can write it);</li>
 * <li>the RSA-SHA256 signature verifies over the exact body bytes.</li>
 * </ol>
 * Only then may the event be processed.
 *
 * <p>The download cannot be used against us: short connect and read timeouts, one download in flight per
 * URL (its other posts wait for that one), at most a few downloads in flight in all (beyond, a post is
 * refused at once rather than held), and a failed URL is refused at once for a while (negative cache).
 * Posts signed with a certificate already cached — Partner Center's genuine ones — never wait for any
 * download.
 */
public final class WebhookSignatureVerifier {

    private static final Logger LOG = LoggerFactory.getLogger(WebhookSignatureVerifier.class);

    static {
        // A signing certificate downloaded alone names its issuing CA in its Authority Information
        // Access: let the JDK's path builder fetch it (off by default in the JDK).
        if (System.getProperty("com.sun.security.enableAIAcaIssuers") == null) {
            System.setProperty("com.sun.security.enableAIAcaIssuers", "true");
        }
    }
    private static final Duration CACHE_TTL = Duration.ofHours(12);
    private static final int MAX_CACHED = 32;

    /** Why a post was rejected; the message is safe to log and to return to the caller. */
    public static final class InvalidSignatureException extends Exception {
        public InvalidSignatureException(String message) {
            super(message);
        }
    }

    private record Cached(X509Certificate certificate, Instant fetchedAt) {
    }

    private record Failed(String reason, Instant until) {
    }

    /** How long a URL whose download failed is refused without trying again. */
    private static final Duration FAILURE_TTL = Duration.ofMinutes(1);
    private static final int MAX_FAILED = 1000;
    /** Downloads in flight at once, over all URLs. */
    private static final int MAX_DOWNLOADS = 4;

    private final Set<String> allowedHosts;
    private final String expectedOrganization;
    private final Set<TrustAnchor> anchors;
    private final HttpClient http;
    private final Duration timeout;
    private final Map<String, Cached> certificates = new ConcurrentHashMap<>();
    private final Map<String, Failed> failures = new ConcurrentHashMap<>();
    private final Map<String, java.util.concurrent.CompletableFuture<X509Certificate>> downloads = new ConcurrentHashMap<>();
    private final java.util.concurrent.Semaphore downloadSlots = new java.util.concurrent.Semaphore(MAX_DOWNLOADS);

    /**
     * @param allowedHosts hosts the certificate may be fetched from over HTTPS on port 443 ({@code *.example.com}
     *        allowed; {@code host:port} allows that port instead)
     * @param expectedOrganization the O= the certificate's issuer must carry, or null to skip that check
     * @param sslContext TLS for the download and, through its trust store, the CAs a certificate must chain to
     * @param trustStore the trust anchors (null: the JDK's CAs)
     */
    public WebhookSignatureVerifier(Collection<String> allowedHosts, String expectedOrganization, SSLContext sslContext,
            KeyStore trustStore) {
        this(allowedHosts, expectedOrganization, sslContext, trustStore, Duration.ofSeconds(3));
    }

    /** @param timeout how long a certificate download may take, connecting included */
    public WebhookSignatureVerifier(Collection<String> allowedHosts, String expectedOrganization, SSLContext sslContext,
            KeyStore trustStore, Duration timeout) {
        this.timeout = timeout;
        this.allowedHosts = new HashSet<>();
        allowedHosts.forEach(h -> this.allowedHosts.add(h.trim().toLowerCase(Locale.ROOT)));
        this.expectedOrganization = expectedOrganization;
        this.anchors = anchors(trustStore);
        HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(timeout)
                .followRedirects(HttpClient.Redirect.NEVER);
        if (sslContext != null) {
            b.sslContext(sslContext);
        }
        this.http = b.build();
    }

    /**
     * Verifies one post; headers are looked up case-insensitively.
     *
     * @return the signing certificate's subject
     */
    public String verify(Map<String, Object> headers, byte[] body) throws InvalidSignatureException {
        String signature = signature(headers);
        String algorithm = header(headers, "x-ms-signature-algorithm");
        if (algorithm == null || !algorithm.equalsIgnoreCase("rsa-sha256")) {
            throw new InvalidSignatureException("x-ms-signature-algorithm must be rsa-sha256, got " + algorithm);
        }
        String url = header(headers, "x-ms-certificate-url");
        if (url == null) {
            throw new InvalidSignatureException("the x-ms-certificate-url header is missing");
        }
        X509Certificate cert = certificate(url);
        byte[] sig;
        try {
            sig = Base64.getDecoder().decode(signature.trim());
        } catch (IllegalArgumentException e) {
            throw new InvalidSignatureException("the signature is not base64");
        }
        try {
            Signature s = Signature.getInstance("SHA256withRSA");
            s.initVerify(cert.getPublicKey());
            s.update(body == null ? new byte[0] : body);
            if (!s.verify(sig)) {
                throw new InvalidSignatureException("the signature does not match the body");
            }
        } catch (GeneralSecurityException e) {
            throw new InvalidSignatureException("the signature cannot be verified: " + e.getMessage());
        }
        return cert.getSubjectX500Principal().getName();
    }

    private static String signature(Map<String, Object> headers) throws InvalidSignatureException {
        String auth = header(headers, "Authorization");
        if (auth != null && auth.regionMatches(true, 0, "Signature ", 0, 10)) {
            return auth.substring(10);
        }
        // A registration with SignatureTokenToMsSignatureHeader gets it here, as "Signature <base64>"
        // (Microsoft's sample splits the value at the space); a bare value is read too.
        String ms = header(headers, "x-ms-signature");
        if (ms != null) {
            return ms.regionMatches(true, 0, "Signature ", 0, 10) ? ms.substring(10) : ms;
        }
        throw new InvalidSignatureException("no signature: expected 'Authorization: Signature <base64>' or x-ms-signature");
    }

    private X509Certificate certificate(String url) throws InvalidSignatureException {
        Cached cached = certificates.get(url);
        if (cached != null && cached.fetchedAt().plus(CACHE_TTL).isAfter(Instant.now())) {
            checkValidity(cached.certificate());
            return cached.certificate();
        }
        Failed failed = failures.get(url);
        if (failed != null && failed.until().isAfter(Instant.now())) {
            throw new InvalidSignatureException(failed.reason() + " (not tried again before " + failed.until() + ")");
        }
        URI uri;
        try {
            uri = URI.create(url);
        } catch (IllegalArgumentException e) {
            throw new InvalidSignatureException("x-ms-certificate-url is not a URL");
        }
        if (!"https".equalsIgnoreCase(uri.getScheme()) || uri.getHost() == null || !allowed(uri.getHost(), uri.getPort())) {
            throw new InvalidSignatureException("certificate URL " + url + " is not HTTPS on an allowed host and port "
                    + allowedHosts);
        }
        java.util.concurrent.CompletableFuture<X509Certificate> download = downloads.computeIfAbsent(url, u -> start(uri));
        if (download == null) {
            throw new InvalidSignatureException("too many signing certificate downloads in progress; deliver again later");
        }
        try {
            return download.get(timeout.toMillis() + 1000, java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw e.getCause() instanceof InvalidSignatureException i ? i
                    : new InvalidSignatureException("the signing certificate cannot be checked: " + e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new InvalidSignatureException("the signing certificate download from " + uri + " timed out");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InvalidSignatureException("interrupted while downloading the certificate");
        }
    }

    /** One download of a URL, checked once; null when too many are in flight already. */
    private java.util.concurrent.CompletableFuture<X509Certificate> start(URI uri) {
        if (!downloadSlots.tryAcquire()) {
            return null;
        }
        String url = uri.toString();
        java.util.concurrent.CompletableFuture<X509Certificate> result = new java.util.concurrent.CompletableFuture<>();
        http.sendAsync(HttpRequest.newBuilder(uri).timeout(timeout).GET().build(), HttpResponse.BodyHandlers.ofByteArray())
                .whenComplete((r, error) -> {
                    try {
                        X509Certificate leaf = checked(uri, r, error);
                        if (certificates.size() >= MAX_CACHED) {
                            certificates.clear();
                        }
                        certificates.put(url, new Cached(leaf, Instant.now()));
                        LOG.info("Webhook signing certificate accepted: {} (from {})", leaf.getSubjectX500Principal().getName(), url);
                        result.complete(leaf);
                    } catch (InvalidSignatureException e) {
                        if (failures.size() >= MAX_FAILED) {
                            failures.clear();
                        }
                        failures.put(url, new Failed(e.getMessage(), Instant.now().plus(FAILURE_TTL)));
                        result.completeExceptionally(e);
                    } finally {
                        downloads.remove(url);
                        downloadSlots.release();
                    }
                });
        return result;
    }

    private X509Certificate checked(URI uri, HttpResponse<byte[]> r, Throwable error) throws InvalidSignatureException {
        if (error != null) {
            Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null
                    ? error.getCause() : error;
            throw new InvalidSignatureException("cannot download the certificate from " + uri + ": "
                    + cause.getClass().getSimpleName() + (cause.getMessage() == null ? "" : " " + cause.getMessage()));
        }
        if (r.statusCode() != 200) {
            throw new InvalidSignatureException("certificate download from " + uri + " answered " + r.statusCode());
        }
        List<X509Certificate> chain = new ArrayList<>();
        try {
            for (var c : CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(r.body()))) {
                chain.add((X509Certificate) c);
            }
        } catch (GeneralSecurityException e) {
            throw new InvalidSignatureException("no certificate at " + uri + ": " + e.getMessage());
        }
        if (chain.isEmpty()) {
            throw new InvalidSignatureException("no certificate at " + uri);
        }
        X509Certificate leaf = chain.get(0);
        checkValidity(leaf);
        checkChain(chain);
        checkOrganization(leaf);
        return leaf;
    }

    /** An allowed host on 443 (or no port given), or an allowed {@code host:port}. */
    private boolean allowed(String host, int port) {
        String h = host.toLowerCase(Locale.ROOT);
        for (String a : allowedHosts) {
            int colon = a.lastIndexOf(':');
            String name = colon > 0 ? a.substring(0, colon) : a;
            boolean portOk = colon > 0 ? String.valueOf(port).equals(a.substring(colon + 1)) : port == -1 || port == 443;
            if (portOk && (name.equals(h) || (name.startsWith("*.") && h.endsWith(name.substring(1))))) {
                return true;
            }
        }
        return false;
    }

    private static void checkValidity(X509Certificate cert) throws InvalidSignatureException {
        try {
            cert.checkValidity();
        } catch (GeneralSecurityException e) {
            throw new InvalidSignatureException("the signing certificate is not valid now: " + e.getMessage());
        }
    }

    /**
     * Builds the certificate's path to a trusted root, as Microsoft's sample does with
     * {@code certificate.Verify()}: the download may hold the leaf alone (its issuing CA then comes from
     * the certificate's Authority Information Access, {@code com.sun.security.enableAIAcaIssuers}) or the
     * leaf with its intermediates.
     */
    private void checkChain(List<X509Certificate> chain) throws InvalidSignatureException {
        try {
            java.security.cert.X509CertSelector leaf = new java.security.cert.X509CertSelector();
            leaf.setCertificate(chain.get(0));
            java.security.cert.PKIXBuilderParameters params = new java.security.cert.PKIXBuilderParameters(anchors, leaf);
            params.setRevocationEnabled(false);
            params.addCertStore(java.security.cert.CertStore.getInstance("Collection",
                    new java.security.cert.CollectionCertStoreParameters(chain)));
            java.security.cert.CertPathBuilder.getInstance("PKIX").build(params);
        } catch (GeneralSecurityException e) {
            throw new InvalidSignatureException("the signing certificate does not chain to a trusted CA: "
                    + e.getMessage());
        }
    }

    /** The documented check: the certificate's issuer carries O=&lt;expected organisation&gt; (its subject does not count). */
    private void checkOrganization(X509Certificate cert) throws InvalidSignatureException {
        if (expectedOrganization == null || expectedOrganization.isBlank()) {
            return;
        }
        if (hasOrganization(cert.getIssuerX500Principal().getName())) {
            return;
        }
        throw new InvalidSignatureException("the signing certificate was issued by '" + cert.getIssuerX500Principal()
                .getName() + "', not by organisation '" + expectedOrganization + "'");
    }

    private boolean hasOrganization(String distinguishedName) throws InvalidSignatureException {
        try {
            for (Rdn rdn : new LdapName(distinguishedName).getRdns()) {
                if (rdn.getType().equalsIgnoreCase("O") && expectedOrganization.equals(String.valueOf(rdn.getValue()))) {
                    return true;
                }
            }
            return false;
        } catch (Exception e) {
            throw new InvalidSignatureException("cannot read the certificate's names");
        }
    }

    private static String header(Map<String, Object> headers, String name) {
        for (var e : headers.entrySet()) {
            if (e.getKey().equalsIgnoreCase(name) && e.getValue() != null) {
                return e.getValue().toString();
            }
        }
        return null;
    }

    private static Set<TrustAnchor> anchors(KeyStore trustStore) {
        try {
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trustStore);
            Set<TrustAnchor> out = new HashSet<>();
            for (var tm : tmf.getTrustManagers()) {
                if (tm instanceof X509TrustManager x) {
                    for (X509Certificate ca : x.getAcceptedIssuers()) {
                        out.add(new TrustAnchor(ca, null));
                    }
                }
            }
            return out;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot read trust anchors", e);
        }
    }
}
