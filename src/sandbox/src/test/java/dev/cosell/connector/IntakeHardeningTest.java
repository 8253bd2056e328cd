package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

import javax.sql.DataSource;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.Faults;
import dev.cosell.connector.sandbox.partnercenter.PartnerCenterEmulator;
import dev.cosell.connector.sandbox.partnercenter.SampleReferrals;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The webhook endpoint against what an attacker or a burst sends it, over real HTTP: each probe of the
 * hardening issue gets its documented 4xx (never a 500, a stack trace or a reflected header), and an
 * event answered 200 is processed even when the queue was full.
 */
class IntakeHardeningTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static ConnectorHarness harness;
    static PartnerCenterEmulator pc;

    @BeforeAll
    static void start() throws Exception {
        // A tiny queue and one slow worker: a burst fills the queue at once. Handled events are
        // forgotten at once (retention 0 days) and the inbox is swept often.
        harness = new ConnectorHarness().with("camel.component.seda.queue-size", "3").with("sync.concurrency", "1")
                .with("partnercenter.webhook.inbox-sweep-ms", "200").with("partnercenter.webhook.inbox-retention-days", "0")
                .with("sync.retry.initial-delay-ms", "50");
        harness.start();
        pc = harness.sandbox.partnerCenter();
        pc.webhooks().setFirstRetryDelayMs(50);
        harness.awaitWebhookRegistration();
    }

    @AfterAll
    static void stop() {
        harness.close();
    }

    @BeforeEach
    void reset() {
        harness.sandbox.dataverse().faults().clear();
    }

    static HttpResponse<String> post(String query, String contentType, byte[] body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(harness.callbackUrl() + query))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (contentType != null) {
            b.header("Content-Type", contentType);
        }
        for (int i = 0; i + 1 < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A post signed with the sandbox's signing key, as Partner Center would send it. */
    static HttpResponse<String> signed(String body) throws Exception {
        java.security.Signature s = java.security.Signature.getInstance("SHA256withRSA");
        s.initSign(harness.sandbox.pki().signingKey());
        s.update(body.getBytes(StandardCharsets.UTF_8));
        return post("", "application/json", body.getBytes(StandardCharsets.UTF_8), "Authorization",
                "Signature " + java.util.Base64.getEncoder().encodeToString(s.sign()), "x-ms-certificate-url",
                pc.certificateUrl(), "x-ms-signature-algorithm", "rsa-sha256");
    }

    static long count(String sql) throws Exception {
        DataSource ds = harness.runtime().context().getRegistry().lookupByNameAndType("dataSource", DataSource.class);
        try (var c = ds.getConnection(); var st = c.createStatement(); var rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void aFormPostIs415WithoutAStackTraceAndNothingIsEchoedBack() throws Exception {
        HttpResponse<String> r = post("?Set-Cookie=x", "application/x-www-form-urlencoded",
                "Set-Cookie=y&Location=http://evil.example".getBytes(StandardCharsets.UTF_8), "X-Probe", "1");
        assertEquals(415, r.statusCode(), r.body());
        assertTrue(r.body().length() < 200 && !r.body().contains("Exception") && !r.body().contains("at "), r.body());
        Set<String> allowed = Set.of("content-type", "content-length", "date", "connection", "keep-alive", ":status");
        for (String name : r.headers().map().keySet()) {
            assertTrue(allowed.contains(name.toLowerCase(Locale.ROOT)), "reflected header " + name + ": " + r.headers().map());
        }
        assertTrue(r.headers().firstValue("Set-Cookie").isEmpty() && r.headers().firstValue("X-Probe").isEmpty()
                && r.headers().firstValue("Location").isEmpty());
    }

    @Test
    void aBodyLargerThanAnEventIsRefusedByTheServerBeforeTheRouteReadsIt() throws Exception {
        HttpResponse<String> r = post("", "application/json", new byte[10 * 1024 * 1024]);
        assertEquals(413, r.statusCode());
        assertFalse(r.body().contains("a Partner Center event can have"), "refused by the server, not by the route: " + r.body());
    }

    @Test
    void signedButUnusableEventsAre400WithTheReasonAndNothingRecorded() throws Exception {
        // (a referral no other test names: the sweep forgets other tests' handled rows meanwhile)
        String id = "0c5e2b1e-0000-4000-8000-0000000000aa";
        String uri = "https://api.partnercenter.microsoft.com/engagements/v1/referrals/" + id;
        for (String[] probe : new String[][] { { "null", "not a JSON object" },
                { "{\"EventName\":{\"x\":1},\"ResourceUri\":\"" + uri + "\"}", "EventName" },
                { "{\"EventName\":\"referral-deleted\",\"ResourceUri\":\"" + uri + "\"}", "unknown event 'referral-deleted'" },
                { "{\"EventName\":\"referral-created\",\"ResourceUri\":42}", "ResourceUri" },
                { "{\"EventName\": \"referral-created\", ", "not JSON" } }) {
            HttpResponse<String> r = signed(probe[0]);
            assertEquals(400, r.statusCode(), probe[0] + " -> " + r.body());
            assertTrue(r.body().contains(probe[1]), probe[0] + " -> " + r.body());
        }
        assertEquals(0, count("select count(*) from webhook_inbox where resource_id = '" + id + "'"));
    }

    @Test
    void aBurstThatFillsTheQueueIsAnswered200AndEveryEventIsProcessedWithoutARestart() throws Exception {
        // Dataverse is slow: the single worker holds one event, the queue takes three, the rest wait in the inbox.
        harness.sandbox.dataverse().faults().add(Faults.Rule.delay(300).on("POST", "\\$batch"));
        List<String> ids = new ArrayList<>();
        pc.webhooks().setEnabled(false); // the test posts the events itself, all at once
        List<String> events = new ArrayList<>();
        try {
            for (int i = 0; i < 12; i++) {
                ObjectNode r = pc.createAsMicrosoft(harness.tenant(), SampleReferrals.coSell("Burst " + i, "Burst " + i, "10to50employees"));
                ids.add(r.path("id").asText());
                events.add("{\"EventName\":\"referral-created\",\"ResourceUri\":\"https://api.partnercenter.microsoft.com/engagements/v1/referrals/"
                        + r.path("id").asText() + "\",\"ResourceName\":\"referral\",\"AuditUri\":null,\"ResourceChangeUtcDate\":\""
                        + r.path("createdDateTime").asText() + "\"}");
            }
        } finally {
            pc.webhooks().setEnabled(true);
        }
        List<Integer> statuses = events.parallelStream().map(e -> {
            try {
                return signed(e).statusCode();
            } catch (Exception x) {
                throw new IllegalStateException(x);
            }
        }).toList();
        assertEquals(List.of(200), statuses.stream().distinct().toList(), "every accepted event is answered 200");
        await().atMost(Duration.ofSeconds(60)).until(() -> ids.stream().allMatch(id ->
                harness.sandbox.dataverse().api().rows("opportunities").stream()
                        .anyMatch(o -> id.equals(o.path("cosell_referralid").asText()))));
        await().atMost(Duration.ofSeconds(10)).until(() -> count("select count(*) from webhook_inbox where state = 'received'") == 0);
        // Handled events are forgotten after the retention (0 days here), their effect stays.
        await().atMost(Duration.ofSeconds(10)).until(() -> count("select count(*) from webhook_inbox where state = 'done'") == 0);
        // A replay of a forgotten event changes nothing: the idempotent repository still knows it.
        long writes = harness.sandbox.dataverse().calls().entries().stream().filter(e -> !e.method().equals("GET")).count();
        assertEquals(200, signed(events.get(0)).statusCode());
        await().atMost(Duration.ofSeconds(10)).until(() -> count("select count(*) from webhook_inbox where state = 'received'") == 0);
        assertEquals(writes, harness.sandbox.dataverse().calls().entries().stream().filter(e -> !e.method().equals("GET")).count());
    }

    /** A step failing inside the intake (here the inbox table is missing): 503, and its one log line names the cause. */
    @Test
    void anEventTheInboxCannotTakeIs503AndItsLogLineSaysWhy() throws Exception {
        String event = "{\"EventName\":\"referral-created\",\"ResourceUri\":\"https://api.partnercenter.microsoft.com/engagements/v1/"
                + "referrals/4f1d2c3b-0000-4000-8000-00000000abcd\",\"ResourceName\":\"referral\",\"AuditUri\":null,"
                + "\"ResourceChangeUtcDate\":\"2026-12-02T10:00:00Z\"}";
        java.io.StringWriter log = new java.io.StringWriter();
        var capture = SecretsAtRestTest.capture(log);
        execute("alter table webhook_inbox rename to webhook_inbox_away");
        try {
            HttpResponse<String> r = signed(event);
            assertEquals(503, r.statusCode(), r.body());
        } finally {
            execute("alter table webhook_inbox_away rename to webhook_inbox");
            SecretsAtRestTest.release(capture);
        }
        String line = log.toString().lines().filter(l -> l.startsWith("Webhook not accepted (503)")).findFirst().orElse("");
        assertTrue(line.contains("Table \"webhook_inbox\" not found") && !line.contains("Exception occurred during execution"),
                log.toString());
        assertEquals(1, log.toString().lines().filter(l -> l.startsWith("Webhook not accepted (503)")).count(), "one line");
    }

    static void execute(String sql) throws Exception {
        DataSource ds = harness.runtime().context().getRegistry().lookupByNameAndType("dataSource", DataSource.class);
        try (var c = ds.getConnection(); var st = c.createStatement()) {
            st.execute(sql);
        }
    }

    @Test
    void whileTheWebhookRouteIsNotServingAPostIs503WithRetryAfterNot404() throws Exception {
        var routes = harness.runtime().context().getRouteController();
        routes.stopRoute("partner-center-to-dynamics-365"); // as between the server's start and the route's, or in a stop
        try {
            HttpResponse<String> r = post("", "application/json", "{}".getBytes(StandardCharsets.UTF_8));
            assertEquals(503, r.statusCode(), r.body());
            assertEquals("5", r.headers().firstValue("Retry-After").orElse(null));
        } finally {
            routes.startRoute("partner-center-to-dynamics-365");
        }
        assertEquals(401, post("", "application/json", "{}".getBytes(StandardCharsets.UTF_8)).statusCode(),
                "the route serves again");
    }

    @Test
    void aCertificateUrlOffTheAllowedPortIsRefusedAtOnce() throws Exception {
        String body = "{\"EventName\":\"referral-created\",\"ResourceUri\":\"https://x/engagements/v1/referrals/abc\"}";
        long t = System.nanoTime();
        HttpResponse<String> r = post("", "application/json", body.getBytes(StandardCharsets.UTF_8), "Authorization",
                "Signature AAAA", "x-ms-certificate-url", "https://127.0.0.1:1/certificates/x.cer", "x-ms-signature-algorithm",
                "rsa-sha256");
        assertEquals(401, r.statusCode());
        assertTrue(r.body().contains("allowed host and port"), r.body());
        assertTrue((System.nanoTime() - t) / 1_000_000 < 1000, "refused without a download");
    }

    @Test
    void genuineDeliveriesNeverWaitBehindATarpitCertificateUrl() throws Exception {
        // The genuine certificate is cached by a first genuine post.
        String genuine = "{\"EventName\":\"referral-updated\",\"ResourceUri\":\"https://api.partnercenter.microsoft.com/"
                + "engagements/v1/referrals/0c5e2b1e-0000-4000-8000-00000000000";
        assertEquals(200, signed(genuine + "0\",\"ResourceChangeUtcDate\":\"2026-01-01T00:00:00Z\"}").statusCode());
        String bait = "{\"EventName\":\"referral-created\",\"ResourceUri\":\"https://x/engagements/v1/referrals/abc\"}";
        var pool = java.util.concurrent.Executors.newFixedThreadPool(40);
        try {
            List<java.util.concurrent.Future<HttpResponse<String>>> tarpit = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                String url = pc.tarpitCertificateUrl("t" + i);
                tarpit.add(pool.submit(() -> post("", "application/json", bait.getBytes(StandardCharsets.UTF_8), "Authorization",
                        "Signature AAAA", "x-ms-certificate-url", url, "x-ms-signature-algorithm", "rsa-sha256")));
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> pc.tarpitRequests() >= 1);
            List<java.util.concurrent.Future<Long>> genuineMs = new ArrayList<>();
            for (int i = 1; i <= 20; i++) {
                String event = genuine + (i % 10) + "\",\"ResourceChangeUtcDate\":\"2026-01-01T00:00:" + (10 + i) + "Z\"}";
                genuineMs.add(pool.submit(() -> {
                    long t = System.nanoTime();
                    assertEquals(200, signed(event).statusCode());
                    return (System.nanoTime() - t) / 1_000_000;
                }));
            }
            List<Long> times = new ArrayList<>();
            for (var f : genuineMs) {
                times.add(f.get());
            }
            times.sort(null);
            assertTrue(times.get(times.size() - 1) < 1000, "genuine deliveries during the tarpit, ms: " + times);
            for (var f : tarpit) {
                assertEquals(401, f.get().statusCode());
            }
            assertTrue(pc.tarpitRequests() <= 4, "at most 4 downloads in flight: " + pc.tarpitRequests());
            // A URL whose download failed is refused at once for a while (no second download).
            String failed = pc.tarpitCertificateUrl("failed-once");
            assertEquals(401, post("", "application/json", bait.getBytes(StandardCharsets.UTF_8), "Authorization",
                    "Signature AAAA", "x-ms-certificate-url", failed, "x-ms-signature-algorithm", "rsa-sha256").statusCode());
            int downloads = pc.tarpitRequests();
            long t = System.nanoTime();
            HttpResponse<String> again = post("", "application/json", bait.getBytes(StandardCharsets.UTF_8), "Authorization",
                    "Signature AAAA", "x-ms-certificate-url", failed, "x-ms-signature-algorithm", "rsa-sha256");
            assertEquals(401, again.statusCode());
            assertTrue((System.nanoTime() - t) / 1_000_000 < 1000, "refused from the negative cache: " + again.body());
            assertEquals(downloads, pc.tarpitRequests(), "no second download");
        } finally {
            pool.shutdownNow();
        }
    }
}
