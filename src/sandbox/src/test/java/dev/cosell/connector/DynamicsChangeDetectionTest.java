package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * How the connector learns about CRM changes: the change-tracking delta link survives a restart (no
 * full re-read), the modifiedon watermark works where change tracking is off, and the optional
 * Dataverse webhook push needs its key.
 */
class DynamicsChangeDetectionTest {

    private ConnectorHarness harness;

    @AfterEach
    void stop() {
        if (harness != null) {
            harness.close();
        }
    }

    private long fullReads() {
        // Change-tracking requests without a $deltatoken read the whole table.
        return harness.sandbox.dataverse().calls().entries().stream().filter(e -> e.method().equals("GET")
                && e.uri().contains("/opportunities?") && !e.uri().contains("deltatoken")).count();
    }

    private long deltaReads() {
        return harness.sandbox.dataverse().calls().entries().stream().filter(e -> e.method().equals("GET")
                && e.uri().contains("/opportunities?") && e.uri().contains("deltatoken")).count();
    }

    private Seller seller;

    private void use(ConnectorHarness h) {
        harness = h;
        seller = new Seller(h);
    }

    @Test
    void thePollWaitsAsLongAsDataverseSaysInRetryAfter() throws Exception {
        use(new ConnectorHarness().with("sync.poll-interval-ms", "200"));
        harness.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> deltaReads() + fullReads() >= 2);
        // Service protection: every poll answered 429 with Retry-After: 2 (seconds), for a while.
        var throttle = harness.sandbox.dataverse().faults().add(dev.cosell.connector.sandbox.Faults.Rule.throttle(2)
                .on("GET", "/opportunities$"));
        await().atMost(Duration.ofSeconds(15)).until(() -> throttle.fired() >= 3);
        harness.sandbox.dataverse().faults().clear();
        var throttled = harness.sandbox.dataverse().calls().entries().stream()
                .filter(e -> e.status() == 429 && e.uri().contains("/opportunities?")).toList();
        for (int i = 1; i < throttled.size(); i++) {
            long gap = throttled.get(i).startedAtMillis() - throttled.get(i - 1).startedAtMillis();
            assertTrue(gap >= 1900, "a poll " + gap + " ms after the last 429, not the 2 s it asked for");
        }
        // And polling goes on once Dataverse answers again.
        long polls = deltaReads();
        await().atMost(Duration.ofSeconds(10)).until(() -> deltaReads() > polls);
    }

    @Test
    void deltaLinkSurvivesARestart() throws Exception {
        use(new ConnectorHarness().with("sync.poll-interval-ms", "200"));
        harness.start();
        String first = seller.opportunity("Before Restart", true, "Azure");
        assertNotNull(seller.referralOf(first));
        assertEquals(1, fullReads(), "one full read, at the very first poll");
        harness.stopConnector();

        harness.start();
        long deltas = deltaReads();
        String second = seller.opportunity("After Restart", true, "Azure");
        assertNotNull(seller.referralOf(second));
        assertEquals(1, fullReads(), "the restart went on from the stored delta link");
        assertEquals(true, deltaReads() > deltas);
        assertEquals(1, seller.referralsFor(first).size());
    }

    @Test
    void watermarkFallbackWhenChangeTrackingIsOff() throws Exception {
        use(new ConnectorHarness().with("sync.poll-interval-ms", "200").with("sync.dataverse.change-detection", "modifiedon"));
        harness.sandbox.dataverse().api().setChangeTracking("opportunities", false);
        harness.start();
        String id = seller.opportunity("Watermarked", true, "Azure");
        assertNotNull(seller.referralOf(id));
        seller.edit(id, Seller.JSON.createObjectNode().put("estimatedvalue", 77000));
        await().atMost(Duration.ofSeconds(10)).until(() -> seller.referralsFor(id).get(0)
                .path("details").path("dealValue").asInt() == 77000);
        assertEquals(0, deltaReads());
        assertEquals(1, seller.referralsFor(id).size());
    }

    @Test
    void dataverseWebhookPushNeedsTheKeyAndFeedsTheSamePipeline() throws Exception {
        // Polling far apart: the push does the work.
        use(new ConnectorHarness().with("sync.poll-interval-ms", "3600000").with("dataverse.webhook.enabled", "true")
                .with("dataverse.webhook.key", "s3cret-key"));
        harness.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> fullReads() == 1);
        String id = seller.opportunity("Pushed", true, "Azure");
        String context = "{\"MessageName\":\"Update\",\"PrimaryEntityName\":\"opportunity\",\"PrimaryEntityId\":\"" + id
                + "\",\"Depth\":1}";
        String url = "http://127.0.0.1:" + harness.connectorPort + "/webhooks/dataverse";
        HttpClient http = HttpClient.newHttpClient();
        assertEquals(401, http.send(HttpRequest.newBuilder(URI.create(url + "?code=wrong")).POST(HttpRequest.BodyPublishers
                .ofString(context)).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
        assertEquals(400, http.send(HttpRequest.newBuilder(URI.create(url + "?code=s3cret-key")).POST(HttpRequest.BodyPublishers
                .ofString("{\"PrimaryEntityName\":\"account\"}")).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
        assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(url + "?code=s3cret-key")).POST(HttpRequest.BodyPublishers
                .ofString(context)).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
        assertNotNull(seller.referralOf(id));
    }
}
