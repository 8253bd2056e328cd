package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.Collections;
import java.util.Optional;

import dev.cosell.connector.sandbox.SandboxPki;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The two servers as the README tells production to run them. Management (health, metrics): on
 * 127.0.0.1 only, and behind basic authentication when asked (Camel's own
 * camel.management.authentication-enabled and basic-properties-file, a Vert.x properties realm).
 * Webhook: HTTPS from Camel's global SSL settings (camel.ssl.*, camel.server.use-global-ssl-context-parameters),
 * with Partner Center's deliveries arriving over it.
 */
class ServerSecurityTest {

    static ConnectorHarness harness;
    static final HttpClient HTTP = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        harness = new ConnectorHarness();
        Path users = harness.workDir.resolve("management-users.properties");
        Files.writeString(users, "user.operator = s3cret-for-tests,monitoring\nrole.monitoring = *\n");
        harness.with("camel.management.authentication-enabled", "true")
                .with("camel.management.basic-properties-file", users.toString());
        Path keyStore = harness.sandbox.pki().writeServerKeyStore(harness.workDir.resolve("webhook-tls.p12"));
        harness.with("camel.ssl.enabled", "true").with("camel.ssl.key-store", "file:" + keyStore)
                .with("camel.ssl.keystore-password", SandboxPki.STORE_PASSWORD)
                .with("camel.server.use-global-ssl-context-parameters", "true")
                .with("partnercenter.webhook.callback-url", "https://127.0.0.1:" + harness.connectorPort
                        + "/webhooks/partner-center");
        harness.start();
    }

    @AfterAll
    static void stop() {
        harness.close();
    }

    static int get(String path, String authorization) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + harness.managementPort + path));
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes());
    }

    @Test
    void healthAndMetricsNeedTheOperatorsCredentials() throws Exception {
        assertEquals(401, get("/observe/health", null));
        assertEquals(401, get("/observe/metrics", basic("operator", "wrong")));
        assertEquals(200, get("/observe/metrics", basic("operator", "s3cret-for-tests")));
        // (503 until the connector is ready: authenticated either way)
        await().atMost(Duration.ofSeconds(30)).until(() -> get("/observe/health", basic("operator", "s3cret-for-tests")) == 200);
        assertEquals(401, get("/observe/health", null), "still closed once ready");
    }

    @Test
    void theWebhookIsServedOverHttpsAndPartnerCentersDeliveriesArrive() throws Exception {
        HttpClient tls = HttpClient.newBuilder().sslContext(harness.sandbox.pki().clientSslContext()).build();
        HttpResponse<String> unsigned = tls.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + harness.connectorPort
                + "/webhooks/partner-center")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(401, unsigned.statusCode(), "served over TLS, and still checked");
        try (Socket plain = new Socket("127.0.0.1", harness.connectorPort)) {
            plain.getOutputStream().write("POST /webhooks/partner-center HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                    .getBytes());
            plain.setSoTimeout(5000);
            byte[] answer = plain.getInputStream().readNBytes(12);
            assertTrue(!new String(answer).startsWith("HTTP/1.1 "), "no plain HTTP answer on the TLS port");
        } catch (java.io.IOException closed) {
            // the TLS server drops a plain-text client: as it should
        }
        harness.awaitWebhookRegistration();
        assertTrue(harness.sandbox.partnerCenter().webhooks().registration(harness.tenant()).webhookUrl().startsWith("https://"));
        String id = harness.sandbox.partnerCenter().createAsMicrosoft(harness.tenant(),
                PartnerCenterToDynamicsTest.referral("Tls Customer", "10to50employees")).path("id").asText();
        await().atMost(Duration.ofSeconds(30)).until(() -> harness.sandbox.dataverse().api().rows("opportunities").stream()
                .anyMatch(o -> id.equals(o.path("cosell_referralid").asText())));
    }

    @Test
    void theManagementServerListensOnLoopbackOnly() throws Exception {
        // Any address of this machine that is not loopback: the port must not answer there.
        Optional<InetAddress> external = Collections.list(NetworkInterface.getNetworkInterfaces()).stream()
                .flatMap(i -> Collections.list(i.getInetAddresses()).stream())
                .filter(a -> a instanceof Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress()).findFirst();
        if (external.isEmpty()) {
            System.out.println("SKIPPED part: this machine has no non-loopback IPv4 address to try");
            return;
        }
        boolean connected;
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(external.get(), harness.managementPort), 1000);
            connected = true;
        } catch (java.io.IOException refused) {
            connected = false;
        }
        assertTrue(!connected, "management port answers on " + external.get());
    }
}
