package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

import javax.management.MBeanServer;
import javax.management.ObjectName;

import dev.cosell.connector.sandbox.Faults;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Operations: the connector's health checks as Camel health MBeans (and over HTTP) flip DOWN and UP
 * with the emulators; metrics are scraped in Prometheus format.
 */
class HealthAndMetricsTest {

    static ConnectorHarness harness;
    static ConnectorRuntime runtime;
    static ObjectName health;
    static final MBeanServer JMX = ManagementFactory.getPlatformMBeanServer();

    @BeforeAll
    static void start() throws Exception {
        harness = new ConnectorHarness().with("sync.poll-interval-ms", "300");
        runtime = harness.start();
        health = new ObjectName("org.apache.camel:context=" + runtime.context().getManagementName()
                + ",type=health,name=DefaultHealthCheck");
        harness.awaitWebhookRegistration();
    }

    @AfterAll
    static void stop() {
        harness.close();
    }

    static String check(String id) throws Exception {
        return (String) JMX.invoke(health, "invoke", new Object[] { id }, new String[] { String.class.getName() });
    }

    static boolean ready() throws Exception {
        return (Boolean) JMX.getAttribute(health, "HealthyReadiness");
    }

    @Test
    void remoteSystemChecksFlipDownAndUpWithTheEmulators() throws Exception {
        await().atMost(Duration.ofSeconds(10)).until(HealthAndMetricsTest::ready);
        for (String id : new String[] { "partner-center", "dataverse", "store", "webhook-registration", "last-sync" }) {
            assertTrue(check(id).contains("UP"), id + ": " + check(id));
        }

        // Dataverse outage: every request answers 503.
        Faults.Rule outage = harness.sandbox.dataverse().faults().add(Faults.Rule.status(503));
        await().atMost(Duration.ofSeconds(10)).until(() -> check("dataverse").contains("DOWN") && !ready());
        harness.sandbox.dataverse().faults().clear();
        await().atMost(Duration.ofSeconds(10)).until(() -> check("dataverse").contains("UP") && ready());
        assertTrue(outage.fired() > 0);

        // Partner Center loses our webhook registration (someone deleted it).
        harness.sandbox.partnerCenter().webhooks().clear();
        await().atMost(Duration.ofSeconds(10)).until(() -> check("webhook-registration").contains("DOWN"));
        assertEquals("created", runtime.registerWebhook());
        await().atMost(Duration.ofSeconds(10)).until(() -> check("webhook-registration").contains("UP"));
    }

    @Test
    void healthAndMetricsAreServedOverHttp() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String base = "http://127.0.0.1:" + harness.managementPort + "/observe/";
        HttpResponse<String> h = http.send(HttpRequest.newBuilder(URI.create(base + "health")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertTrue(h.body().contains("\"status\""), h.body());
        harness.sandbox.partnerCenter().createAsMicrosoft(harness.tenant(),
                PartnerCenterToDynamicsTest.referral("Metrics Co", "10to50employees"));
        await().atMost(Duration.ofSeconds(10)).until(() -> http.send(HttpRequest.newBuilder(URI.create(base + "metrics"))
                .build(), HttpResponse.BodyHandlers.ofString()).body()
                .contains("cosell_sync_decisions_total{decision=\"created\",flow=\"partner-center-to-dynamics-365\"}"));
        String metrics = http.send(HttpRequest.newBuilder(URI.create(base + "metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        assertTrue(metrics.contains("cosell_api_calls_total{camelContext=\"cosell-connector\",system=\"dataverse\"}"), metrics);
        assertTrue(metrics.contains("camel_route_policy_seconds_count"), "per-route latency timers");
    }
}
