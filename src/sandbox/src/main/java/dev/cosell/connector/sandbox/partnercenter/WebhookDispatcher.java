package dev.cosell.connector.sandbox.partnercenter;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.security.Signature;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import javax.net.ssl.SSLContext;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Partner Center's side of webhooks: one registration per partner tenant (URL + events), and signed
 * delivery of events to it. As documented: the body is compact JSON ({@code EventName, ResourceUri,
 * ResourceName, AuditUri, ResourceChangeUtcDate}), signed with RSA-SHA256 (PKCS#1 v1.5) and sent with
 * {@code Authorization: Signature <base64>} (or {@code x-ms-signature}), {@code x-ms-certificate-url}
 * and {@code x-ms-signature-algorithm: rsa-sha256}; up to 10 attempts, then the event goes to the
 * offline queue (recorded, never retried).
 */
public final class WebhookDispatcher implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(WebhookDispatcher.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** .NET DateTimeOffset round-trip format, as Partner Center writes ResourceChangeUtcDate. */
    private static final DateTimeFormatter NET_ROUND_TRIP = DateTimeFormatter
            .ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSSS'+00:00'").withZone(ZoneOffset.UTC);
    public static final int MAX_ATTEMPTS = 10;

    /** A partner tenant's registration. */
    public record Registration(String subscriberId, String webhookUrl, List<String> webhookEvents,
            boolean signatureTokenToMsSignatureHeader, Instant lastModified) {
    }

    /** One attempt to deliver an event. */
    public record Attempt(Instant at, int status, String error) {
    }

    /** An event and what happened to it. */
    public static final class Delivery {
        public final String id = UUID.randomUUID().toString();
        public final String tenant;
        public final String eventName;
        public final String resourceUri;
        public final String url;
        public final String body;
        public final List<Attempt> attempts = new CopyOnWriteArrayList<>();
        public volatile String status = "pending"; // pending | completed | offline
        public final String correlationId;

        Delivery(String tenant, String eventName, String resourceUri, String url, String body, String correlationId) {
            this.tenant = tenant;
            this.eventName = eventName;
            this.resourceUri = resourceUri;
            this.url = url;
            this.body = body;
            this.correlationId = correlationId;
        }
    }

    private final Map<String, Registration> registrations = new ConcurrentHashMap<>();
    private final List<Delivery> deliveries = new CopyOnWriteArrayList<>();
    private final ScheduledExecutorService scheduler = Executors.newScheduledThreadPool(2, r -> {
        Thread t = new Thread(r, "pc-webhook-dispatch");
        t.setDaemon(true);
        return t;
    });
    private final HttpClient http;
    private volatile PrivateKey signingKey;
    private volatile String certificateUrl;
    private volatile long firstRetryDelayMs = 500;
    private volatile boolean enabled = true;

    public WebhookDispatcher(PrivateKey signingKey, SSLContext clientTls) {
        this.signingKey = signingKey;
        this.http = HttpClient.newBuilder().sslContext(clientTls).connectTimeout(Duration.ofSeconds(5))
                .followRedirects(HttpClient.Redirect.NEVER).build();
    }

    void setCertificateUrl(String url) {
        this.certificateUrl = url;
    }

    /** Signs the next events with this key, pointing receivers at this certificate. */
    void signWith(PrivateKey key, String url) {
        this.signingKey = key;
        this.certificateUrl = url;
    }

    /** Delay before the second attempt; it doubles for each further attempt (capped at 60 s). */
    public void setFirstRetryDelayMs(long ms) {
        this.firstRetryDelayMs = ms;
    }

    /**
     * Deliveries sent at once (2 by default). Each waits for the receiver's answer, so at 2 a receiver that
     * takes 80 ms to answer caps the rate at 25 events/s: a burst at a higher rate needs more.
     */
    public void setDeliveryThreads(int n) {
        ((java.util.concurrent.ScheduledThreadPoolExecutor) scheduler).setCorePoolSize(Math.max(1, n));
    }

    private volatile long deliveryDelayMs;

    /**
     * How long after the change an event is first posted (default 0: at once, even before the write
     * that caused it has been answered). Partner Center delivers asynchronously, after the answer.
     */
    public void setDeliveryDelayMs(long ms) {
        this.deliveryDelayMs = ms;
    }

    /** Switches delivery off (events are then recorded as pending and never sent), e.g. to simulate lost webhooks. */
    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    // ------------------------------------------------------------------------------ registrations

    public Registration registration(String tenant) {
        return registrations.get(tenant);
    }

    /** Creates or replaces a tenant's registration (the API's POST/PUT; tests use it to play another client). */
    public Registration put(String tenant, String url, List<String> events, boolean msSignatureHeader) {
        Registration previous = registrations.get(tenant);
        Registration r = new Registration(previous != null ? previous.subscriberId() : UUID.randomUUID().toString(),
                url, List.copyOf(events), msSignatureHeader, Instant.now());
        registrations.put(tenant, r);
        return r;
    }

    boolean remove(String tenant) {
        return registrations.remove(tenant) != null;
    }

    // ------------------------------------------------------------------------------ delivery

    /** Sends an event to the tenant's registered URL when it subscribed to it; returns the delivery or null. */
    public Delivery publish(String tenant, String eventName, String resourceName, String resourceUri,
            String correlationId) {
        Registration r = registrations.get(tenant);
        if (r == null || r.webhookEvents().stream().noneMatch(e -> e.equalsIgnoreCase(eventName))) {
            return null;
        }
        // Compact JSON in the documented property order, AuditUri written as null.
        ObjectNode event = JSON.createObjectNode();
        event.put("EventName", eventName).put("ResourceUri", resourceUri).put("ResourceName", resourceName)
                .putNull("AuditUri").put("ResourceChangeUtcDate", NET_ROUND_TRIP.format(Instant.now()));
        Delivery d = new Delivery(tenant, eventName, resourceUri, r.webhookUrl(), event.toString(), correlationId);
        deliveries.add(d);
        if (enabled) {
            scheduler.schedule(() -> attempt(d, r.signatureTokenToMsSignatureHeader(), 1), deliveryDelayMs,
                    TimeUnit.MILLISECONDS);
        }
        return d;
    }

    private void attempt(Delivery d, boolean msSignatureHeader, int n) {
        byte[] body = d.body.getBytes(StandardCharsets.UTF_8);
        String signature = sign(body);
        HttpRequest.Builder req = HttpRequest.newBuilder(URI.create(d.url)).timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).header("Content-Type", "application/json")
                .header("X-MS-Certificate-Url", certificateUrl).header("X-MS-Signature-Algorithm", "rsa-sha256");
        if (msSignatureHeader) {
            req.header("x-ms-signature", "Signature " + signature);
        } else {
            req.header("Authorization", "Signature " + signature);
        }
        int status = 0;
        String error = null;
        try {
            status = http.send(req.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (Exception e) {
            error = e.getClass().getSimpleName() + ": " + e.getMessage();
        }
        d.attempts.add(new Attempt(Instant.now(), status, error));
        if (status >= 200 && status < 300) {
            d.status = "completed";
            return;
        }
        if (n >= MAX_ATTEMPTS) {
            d.status = "offline";
            LOG.warn("Webhook {} for {} not delivered after {} attempts: moved to the offline queue", d.eventName,
                    d.resourceUri, n);
            return;
        }
        long delay = Math.min(60_000, firstRetryDelayMs << (n - 1));
        scheduler.schedule(() -> attempt(d, msSignatureHeader, n + 1), delay, TimeUnit.MILLISECONDS);
    }

    private String sign(byte[] body) {
        try {
            Signature s = Signature.getInstance("SHA256withRSA");
            s.initSign(signingKey);
            s.update(body);
            return Base64.getEncoder().encodeToString(s.sign());
        } catch (Exception e) {
            throw new IllegalStateException("cannot sign a webhook", e);
        }
    }

    public List<Delivery> deliveries() {
        return new ArrayList<>(deliveries);
    }

    public Delivery delivery(String correlationId) {
        return deliveries.stream().filter(d -> correlationId.equals(d.correlationId)).findFirst().orElse(null);
    }

    /** Re-sends a recorded event (the same body) as a new attempt series; used to test duplicate deliveries. */
    public void redeliver(Delivery d) {
        Registration r = registrations.get(d.tenant);
        scheduler.execute(() -> attempt(d, r != null && r.signatureTokenToMsSignatureHeader(), 1));
    }

    public void clear() {
        deliveries.clear();
        registrations.clear();
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
    }
}
