package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.Signature;
import java.util.Base64;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.cosell.connector.sandbox.Faults;
import dev.cosell.connector.store.ConnectorStore;
import dev.cosell.connector.store.StoreTarget;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Two connector processes (child JVMs) on one PostgreSQL store: the Dataverse poll runs on one node
 * at a time (Quartz clustered job store); each node in turn is killed with SIGKILL and the other
 * takes over. Every flagged opportunity ends with exactly one referral; webhook intake works on the
 * surviving node. And a new customer seen by both nodes at the same instant is created once: the
 * store decides, not a lock in one JVM.
 */
class TwoNodeFailoverTest {

    private ConnectorHarness harness;
    private ConnectorStore.Settings pg;
    private final List<Process> nodes = new ArrayList<>();

    @AfterEach
    void stop() {
        nodes.forEach(Process::destroyForcibly);
        if (harness != null) {
            harness.close();
        }
        if (pg != null) {
            StoreTarget.dropPostgres(pg);
        }
    }

    private Process node(String name, int port, boolean register) throws Exception {
        Map<String, String> props = harness.properties();
        props.put("store.url", pg.url());
        props.put("store.user", pg.user());
        props.put("store.password", pg.password());
        props.put("sync.cluster.enabled", "true");
        props.put("sync.cluster.checkin-interval-ms", "1000");
        props.put("sync.poll-interval-ms", "300");
        props.put("camel.server.port", String.valueOf(port));
        props.put("camel.management.enabled", "false");
        props.put("camel.main.jmx-enabled", "false");
        props.put("partnercenter.webhook.register-on-startup", String.valueOf(register));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-cp", System.getProperty("java.class.path"), CosellConnector.class.getName(),
                "--config", "application.properties"));
        props.forEach((k, v) -> {
            cmd.add("--set");
            cmd.add(k + "=" + v);
        });
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(moduleTarget().resolve("node-" + name + ".log").toFile()).start();
        nodes.add(p);
        return p;
    }

    /** This module's target directory (tests run from the project root, where target/ may not exist). */
    private static Path moduleTarget() throws Exception {
        return Path.of(TwoNodeFailoverTest.class.getProtectionDomain().getCodeSource().getLocation().toURI()).getParent();
    }

    private long schedulers() throws Exception {
        return query("select count(*) from qrtz_scheduler_state");
    }

    private long query(String sql) throws Exception {
        try (Connection c = DriverManager.getConnection(pg.url(), pg.user(), pg.password()); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private Set<String> flagged = new HashSet<>();

    private void sellerFlags(Seller seller, int n, String batch) {
        for (int i = 0; i < n; i++) {
            flagged.add(seller.opportunity("Failover " + batch + i, true, "Azure"));
        }
    }

    private void awaitOneReferralEach(Seller seller) {
        await().atMost(Duration.ofSeconds(60)).until(() -> flagged.stream().allMatch(o -> seller.referralsFor(o).size() == 1));
        for (String o : flagged) {
            assertEquals(1, seller.referralsFor(o).size(), "exactly one referral for " + o);
        }
    }

    @Test
    void killMinusNineOfEitherNodeLosesAndDuplicatesNothing() throws Exception {
        pg = StoreTarget.postgres();
        harness = new ConnectorHarness();
        int portA = ConnectorHarness.freePort();
        int portB = ConnectorHarness.freePort();
        Seller seller = new Seller(harness);

        Process a = node("a", portA, true);
        harness.awaitWebhookRegistration();
        Process b = node("b", portB, false);
        await().atMost(Duration.ofSeconds(60)).until(() -> schedulers() == 2);

        sellerFlags(seller, 5, "a");
        awaitOneReferralEach(seller);

        // SIGKILL node A; B goes on polling (taking the job over if A held it).
        a.destroyForcibly().waitFor();
        sellerFlags(seller, 5, "b");
        awaitOneReferralEach(seller);

        // Webhook intake on the surviving node: the load balancer now sends Partner Center's posts to B.
        harness.sandbox.partnerCenter().webhooks().put(harness.tenant(), "http://127.0.0.1:" + portB
                + "/webhooks/partner-center", List.of("referral-created", "referral-updated"), false);
        String referralId = harness.sandbox.partnerCenter().createAsMicrosoft(harness.tenant(),
                PartnerCenterToDynamicsTest.referral("Failover Webhook", "10to50employees")).path("id").asText();
        await().atMost(Duration.ofSeconds(30)).until(() -> harness.sandbox.dataverse().api().rows("opportunities").stream()
                .filter(o -> referralId.equals(o.path("cosell_referralid").asText())).count() == 1);

        // A comes back, then B is killed: A polls again.
        node("a2", portA, false);
        await().atMost(Duration.ofSeconds(60)).until(() -> query(
                "select count(*) from qrtz_scheduler_state where last_checkin_time > "
                        + (System.currentTimeMillis() - 2000)) == 2);
        b.destroyForcibly().waitFor();
        sellerFlags(seller, 5, "c");
        awaitOneReferralEach(seller);
        assertEquals(15, flagged.size());
        assertEquals(15, harness.sandbox.partnerCenter().referrals().all(harness.tenant()).stream()
                .filter(r -> flagged.contains(r.path("externalReferenceId").asText())).count());
    }

    @Test
    void aNewCustomerSeenByBothNodesAtOnceIsCreatedOnce() throws Exception {
        pg = StoreTarget.postgres();
        harness = new ConnectorHarness();
        int[] ports = {ConnectorHarness.freePort(), ConnectorHarness.freePort()};
        node("a", ports[0], false);
        node("b", ports[1], false);
        // (the tables appear when the first node has migrated the store)
        await().atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() -> schedulers() == 2);
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        for (int port : ports) {
            await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> http.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + port + "/webhooks/partner-center")).POST(
                            HttpRequest.BodyPublishers.ofString("{}")).header("Content-Type", "application/json").build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode() == 401);
        }
        // Partner Center's events are recorded, not sent: the test delivers one to each node at once.
        var webhooks = harness.sandbox.partnerCenter().webhooks();
        webhooks.put(harness.tenant(), "http://127.0.0.1:" + ports[0] + "/webhooks/partner-center",
                List.of("referral-created", "referral-updated"), false);
        webhooks.setEnabled(false);
        // A slow account creation widens the window in which both nodes have found no account.
        harness.sandbox.dataverse().faults().add(Faults.Rule.delay(500).on("POST", ".*/accounts.*"));
        String customer = "Northwind Cross-Node";
        List<String> referralIds = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            referralIds.add(harness.sandbox.partnerCenter().createAsMicrosoft(harness.tenant(),
                    dev.cosell.connector.sandbox.partnercenter.SampleReferrals.coSell(customer, customer + " deal " + i,
                            "10to50employees")).path("id").asText());
        }
        List<String> events = webhooks.deliveries().stream().map(d -> d.body).toList();
        assertEquals(2, events.size());

        CountDownLatch go = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<Integer>> answers = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                HttpRequest post = signed(ports[i], events.get(i));
                answers.add(pool.submit(() -> {
                    go.await();
                    return http.send(post, HttpResponse.BodyHandlers.discarding()).statusCode();
                }));
            }
            go.countDown();
            for (Future<Integer> a : answers) {
                assertEquals(200, a.get(30, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
        var dv = harness.sandbox.dataverse().api();
        await().atMost(Duration.ofSeconds(60)).until(() -> referralIds.stream().allMatch(id -> dv.rows("opportunities")
                .stream().filter(o -> id.equals(o.path("cosell_referralid").asText())).count() == 1));
        await().atMost(Duration.ofSeconds(30)).until(() -> query(
                "select count(*) from webhook_inbox where state = 'received'") == 0);
        assertEquals(1, dv.rows("accounts").stream().filter(a -> customer.equals(a.path("name").asText())).count(),
                "one account for the customer");
        assertEquals(1, dv.rows("contacts").stream().filter(c -> c.path("emailaddress1").asText()
                .endsWith("@northwind-cross-node.example")).count(), "one contact for the customer");
        for (String id : referralIds) {
            assertEquals(1, dv.rows("opportunities").stream().filter(o -> id.equals(o.path("cosell_referralid").asText()))
                    .count());
        }
    }

    /** A post to a node signed with the sandbox's signing key, as Partner Center would send it. */
    private HttpRequest signed(int port, String body) throws Exception {
        Signature s = Signature.getInstance("SHA256withRSA");
        s.initSign(harness.sandbox.pki().signingKey());
        s.update(body.getBytes(StandardCharsets.UTF_8));
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/webhooks/partner-center"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json")
                .header("Authorization", "Signature " + Base64.getEncoder().encodeToString(s.sign()))
                .header("x-ms-certificate-url", harness.sandbox.partnerCenter().certificateUrl())
                .header("x-ms-signature-algorithm", "rsa-sha256").build();
    }
}
