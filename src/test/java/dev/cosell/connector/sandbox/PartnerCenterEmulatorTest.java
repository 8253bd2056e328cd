package dev.cosell.connector.sandbox;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import dev.cosell.connector.auth.EntraTokenProvider;
import dev.cosell.connector.sandbox.partnercenter.PartnerCenterEmulator;
import dev.cosell.connector.sandbox.partnercenter.WebhookDispatcher;
import dev.cosell.connector.webhook.WebhookSignatureVerifier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Partner Center emulator over real HTTPS, with App+User tokens that msal4j obtains from the Entra
 * emulator by refresh token, and webhooks delivered to a real loopback receiver.
 */
class PartnerCenterEmulatorTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static final String TENANT = "tenant-pc";
    static Sandbox sandbox;
    static PartnerCenterEmulator pc;
    static TestHttp user;
    static TestHttp app;
    static TestHttp anonymous;
    static String referrals;
    static String webhooks;

    static HttpServer receiver;
    static final List<Map<String, Object>> received = new CopyOnWriteArrayList<>();
    static final List<byte[]> receivedBodies = new CopyOnWriteArrayList<>();
    static final AtomicInteger failuresToAnswer = new AtomicInteger();

    @BeforeAll
    static void start() throws Exception {
        sandbox = Sandbox.start(new Sandbox.Options(0, 0, 0, TENANT, "pc-app", "pc-secret", "admin@contoso.example", 3599));
        pc = sandbox.partnerCenter();
        var entra = sandbox.entra();
        EntraTokenProvider tokens = new EntraTokenProvider(new EntraTokenProvider.Settings(entra.baseUrl() + "/" + TENANT
                + "/", "pc-app", "pc-secret", null, null, true, entra.instanceMetadata().toString(),
                entra.issueRefreshToken(TENANT, "pc-app", "admin@contoso.example")), sandbox.pki().clientSslContext(), null);
        user = new TestHttp(sandbox.pki().clientSslContext(), () -> tokens.authorization(
                PartnerCenterEmulator.RESOURCE + "/user_impersonation", EntraTokenProvider.Mode.DELEGATED));
        app = new TestHttp(sandbox.pki().clientSslContext(), () -> tokens.authorization(
                PartnerCenterEmulator.RESOURCE + "/.default", EntraTokenProvider.Mode.APPLICATION));
        anonymous = new TestHttp(sandbox.pki().clientSslContext(), null);
        referrals = pc.baseUrl() + "/v1.0/engagements/referrals";
        webhooks = pc.baseUrl() + "/webhooks/v1/registration";

        receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        receiver.createContext("/hook", exchange -> {
            byte[] body = exchange.getRequestBody().readAllBytes();
            Map<String, Object> headers = new HashMap<>();
            exchange.getRequestHeaders().forEach((k, v) -> headers.put(k, v.get(0)));
            received.add(headers);
            receivedBodies.add(body);
            int status = failuresToAnswer.getAndDecrement() > 0 ? 500 : 200;
            exchange.sendResponseHeaders(status, -1);
            exchange.close();
        });
        receiver.start();
    }

    @AfterAll
    static void stop() {
        receiver.stop(0);
        sandbox.close();
    }

    @BeforeEach
    void reset() {
        pc.referrals().clear();
        pc.webhooks().clear();
        pc.faults().clear();
        pc.calls().reset();
        pc.webhooks().setFirstRetryDelayMs(20);
        received.clear();
        receivedBodies.clear();
        failuresToAnswer.set(0);
    }

    static ObjectNode referral(String name) {
        ObjectNode r = JSON.createObjectNode().put("name", name).put("type", "Shared");
        ObjectNode cp = r.putObject("customerProfile").put("name", name + " Inc");
        cp.putObject("address").put("city", "Redmond").put("country", "US");
        r.putObject("details").put("dealValue", 1000).put("currency", "USD");
        return r;
    }

    String hookUrl() {
        return "http://127.0.0.1:" + receiver.getAddress().getPort() + "/hook";
    }

    // ------------------------------------------------------------------------------------ auth

    @Test
    void apiNeedsAValidTokenForPartnerCenterAndListingNeedsAppPlusUser() {
        TestHttp.Resp r = anonymous.get(referrals);
        assertEquals(401, r.status());
        assertTrue(r.header("WWW-Authenticate").startsWith("Bearer"));
        assertEquals("Unauthorized", r.json().path("code").asText());
        // A Dataverse token is for another audience.
        TestHttp wrongAudience = new TestHttp(sandbox.pki().clientSslContext(), () -> "Bearer " + "x.y.z");
        assertEquals(401, wrongAudience.get(referrals).status());
        // App-only tokens may not list referrals (documented App+User only) ...
        assertEquals(403, app.get(referrals).status());
        // ... App+User may.
        assertEquals(200, user.get(referrals).status());
    }

    // ------------------------------------------------------------------------------------ referrals

    @Test
    void createReturnsTheDocumentedShapeAndKeepsUnknownProperties() {
        ObjectNode body = referral("Fabrikam");
        body.put("futureProperty", "kept");
        // The docs mix spellings: PascalCase and the double "To" consent flag are read too.
        body.putObject("Consent").put("consentToToShareInfoWithOthers", true);
        TestHttp.Resp r = user.send("POST", referrals, body.toString());
        assertEquals(201, r.status(), r.body());
        JsonNode c = r.json();
        assertNotNull(c.path("id").textValue());
        assertNotNull(c.path("engagementId").textValue());
        assertEquals("New", c.path("status").asText());
        assertEquals("Pending", c.path("substatus").asText());
        assertTrue(c.path("eTag").asText().matches("\"[0-9a-f]{8}-0000-0000-0000-[0-9a-f]{12}\""), c.path("eTag").asText());
        assertEquals("kept", c.path("futureProperty").asText());
        assertTrue(c.path("consent").path("consentToShareInfoWithOthers").asBoolean());
        assertEquals("Referral", c.path("attributes").path("objectType").asText());
        assertTrue(c.path("links").path("self").path("uri").asText().endsWith("/v1.0/engagements/referrals/"
                + c.path("id").asText()));

        TestHttp.Resp got = user.get(referrals + "/" + c.path("id").asText());
        assertEquals(200, got.status());
        assertEquals(c.path("eTag").asText(), got.json().path("eTag").asText());
        assertEquals(404, user.get(referrals + "/00000000-0000-0000-0000-000000000000").status());
    }

    @Test
    void createRejectsMissingFieldsUnknownEnumsAndMalformedJson() {
        ObjectNode noType = referral("A");
        noType.remove("type");
        TestHttp.Resp r = user.send("POST", referrals, noType.toString());
        assertEquals(400, r.status());
        assertTrue(r.json().path("description").asText().contains("'type'"), r.body());

        ObjectNode badEnum = referral("B").put("qualification", "Lukewarm");
        r = user.send("POST", referrals, badEnum.toString());
        assertEquals(400, r.status());
        assertTrue(r.json().path("description").asText().contains("Lukewarm"), r.body());

        assertEquals(400, user.send("POST", referrals, "{not json").status());
        assertEquals(0, pc.referrals().size(TENANT));
    }

    @Test
    void updateNeedsTheCurrentETagAndGetsANewOne() throws Exception {
        JsonNode c = user.send("POST", referrals, referral("Contoso").toString()).json();
        String id = c.path("id").asText();
        String etag = c.path("eTag").asText();
        ObjectNode put = (ObjectNode) c.deepCopy();
        put.remove("links");
        ((ObjectNode) put.path("details")).put("dealValue", 2000);

        TestHttp.Resp missing = user.send("PUT", referrals + "/" + id, put.toString());
        assertEquals(428, missing.status(), missing.body());
        assertTrue(missing.json().path("description").asText().contains("If-Match"));
        TestHttp.Resp stale = user.send("PUT", referrals + "/" + id, put.toString(), "If-Match", "\"stale\"");
        assertEquals(412, stale.status());

        Instant before = Instant.parse(c.path("updatedDateTime").asText());
        TestHttp.Resp ok = user.send("PUT", referrals + "/" + id, put.toString(), "If-Match", etag);
        assertEquals(200, ok.status(), ok.body());
        assertEquals(2000, ok.json().path("details").path("dealValue").asInt());
        assertNotEquals(etag, ok.json().path("eTag").asText());
        assertFalse(Instant.parse(ok.json().path("updatedDateTime").asText()).isBefore(before));
        assertEquals(c.path("createdDateTime").asText(), ok.json().path("createdDateTime").asText());
        // The old eTag is stale now.
        assertEquals(412, user.send("PUT", referrals + "/" + id, put.toString(), "If-Match", etag).status());
    }

    @Test
    void statusTransitionsFollowTheDocumentedTable() {
        JsonNode c = user.send("POST", referrals, referral("T").toString()).json();
        String id = c.path("id").asText();
        // New -> Active needs substatus Accepted.
        TestHttp.Resp bad = put(c, "Active", "Won");
        assertEquals(400, bad.status());
        assertTrue(bad.json().path("description").asText().contains("Substatus Won is not allowed with status Active"),
                bad.body());
        TestHttp.Resp accepted = put(c, "Active", "Accepted");
        assertEquals(200, accepted.status(), accepted.body());
        // Active cannot go back to New.
        TestHttp.Resp back = put(accepted.json(), "New", "Pending");
        assertEquals(400, back.status());
        assertTrue(back.json().path("description").asText().contains("cannot move to status New"), back.body());
        TestHttp.Resp won = put(accepted.json(), "Closed", "Won");
        assertEquals(200, won.status());
        assertEquals(400, put(won.json(), "Active", "Accepted").status());
        assertEquals("Closed", user.get(referrals + "/" + id).json().path("status").asText());
    }

    private TestHttp.Resp put(JsonNode current, String status, String substatus) {
        ObjectNode body = (ObjectNode) current.deepCopy();
        body.remove("links");
        body.put("status", status).put("substatus", substatus);
        return user.send("PUT", referrals + "/" + current.path("id").asText(), body.toString(), "If-Match",
                current.path("eTag").asText());
    }

    @Test
    void listPagesWithNextLinkAndFilters() {
        for (int i = 0; i < 25; i++) {
            user.send("POST", referrals, referral("R" + i).toString());
        }
        Set<String> seen = new HashSet<>();
        String next = referrals + "?$top=10";
        int pages = 0;
        while (next != null) {
            TestHttp.Resp page = user.get(next);
            assertEquals(200, page.status(), page.body());
            page.json().path("value").forEach(r -> assertTrue(seen.add(r.path("id").asText()), "no repeats"));
            next = page.json().path("@odata.nextLink").textValue();
            pages++;
        }
        assertEquals(25, seen.size());
        assertEquals(3, pages);

        String someId = seen.iterator().next();
        JsonNode one = user.get(referrals + "/" + someId).json();
        put(one, "Active", "Accepted");
        JsonNode active = user.get(referrals + "?$filter=" + enc("status eq 'Active' and substatus eq 'Accepted'")).json();
        assertEquals(1, active.path("value").size());
        assertEquals(someId, active.path("value").get(0).path("id").asText());

        String since = user.get(referrals + "/" + someId).json().path("updatedDateTime").asText();
        JsonNode recent = user.get(referrals + "?$filter=" + enc("updatedDateTime ge " + since)).json();
        assertEquals(1, recent.path("value").size());
        JsonNode older = user.get(referrals + "?$filter=" + enc("updatedDateTime lt " + since + " and status eq 'New'"))
                .json();
        assertEquals(24, older.path("value").size());

        TestHttp.Resp badFilter = user.get(referrals + "?$filter=" + enc("colour eq 'blue'"));
        assertEquals(400, badFilter.status());
        assertEquals(400, user.get(referrals + "?$top=500").status());
        JsonNode desc = user.get(referrals + "?$orderby=" + enc("createdDateTime desc") + "&$top=1").json();
        assertEquals("R24", desc.path("value").get(0).path("name").asText());
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    @Test
    void throttlingAnswers429WithRetryAfter() {
        pc.faults().add(Faults.Rule.throttle(7).on("GET", "/v1.0/engagements/referrals").times(1));
        TestHttp.Resp r = user.get(referrals);
        assertEquals(429, r.status());
        assertEquals("7", r.header("Retry-After"));
        assertTrue(r.json().path("message").asText().contains("Rate limit is exceeded"));
        assertEquals(200, user.get(referrals).status());
        assertEquals(2, pc.calls().count("GET /v1.0/engagements/referrals"));
    }

    @Test
    void holdsOneHundredThousandReferrals() {
        List<ObjectNode> many = new ArrayList<>();
        Instant t = Instant.parse("2026-01-01T00:00:00Z");
        for (int i = 0; i < 100_000; i++) {
            ObjectNode r = referral("Bulk " + i);
            r.put("id", String.format("00000000-0000-4000-8000-%012d", i)).put("createdDateTime", t.plusSeconds(i).toString())
                    .put("updatedDateTime", t.plusSeconds(i).toString()).put("status", "New").put("substatus", "Pending");
            many.add(r);
        }
        pc.referrals().load(TENANT, many);
        TestHttp.Resp last = user.get(referrals + "?$orderby=" + enc("createdDateTime desc") + "&$top=100");
        assertEquals(100, last.json().path("value").size());
        assertEquals("Bulk 99999", last.json().path("value").get(0).path("name").asText());
        TestHttp.Resp filtered = user.get(referrals + "?$filter=" + enc("updatedDateTime ge 2026-01-02T03:44:59Z"));
        assertEquals(100, filtered.json().path("value").size());
        assertTrue(filtered.json().has("@odata.nextLink"));
    }

    // ------------------------------------------------------------------------------------ webhooks

    @Test
    void webhookRegistrationLifecycle() {
        assertEquals(404, user.get(webhooks).status());
        TestHttp.Resp events = user.get(webhooks + "/events");
        assertTrue(events.json().toString().contains("referral-created"));
        String body = "{\"WebhookUrl\":\"" + hookUrl() + "\",\"WebhookEvents\":[\"referral-created\",\"referral-updated\"]}";
        TestHttp.Resp created = user.send("POST", webhooks, body);
        assertEquals(200, created.status(), created.body());
        assertNotNull(created.json().path("SubscriberId").textValue());
        TestHttp.Resp again = user.send("POST", webhooks, body);
        assertEquals(409, again.status());
        assertTrue(again.json().path("description").asText().contains("use the PUT method"));
        TestHttp.Resp replaced = user.send("PUT", webhooks, body.replace("/hook", "/other"));
        assertEquals(200, replaced.status());
        assertTrue(user.get(webhooks).json().path("WebhookUrl").asText().endsWith("/other"));
        assertEquals(400, user.send("PUT", webhooks, "{\"WebhookUrl\":\"" + hookUrl() + "\",\"WebhookEvents\":[\"nope\"]}")
                .status());
        assertEquals(204, user.send("DELETE", webhooks, null).status());
        assertEquals(404, user.get(webhooks).status());
    }

    @Test
    void referralEventsArriveSignedAndVerifyWithThePublishedCertificate() throws Exception {
        user.send("POST", webhooks, "{\"WebhookUrl\":\"" + hookUrl() + "\",\"WebhookEvents\":[\"referral-created\"]}");
        ObjectNode created = pc.createAsMicrosoft(TENANT, referral("Signed"));
        await().atMost(Duration.ofSeconds(10)).until(() -> received.size() == 1);

        Map<String, Object> headers = received.get(0);
        byte[] body = receivedBodies.get(0);
        JsonNode event = JSON.readTree(body);
        assertEquals("referral-created", event.path("EventName").asText());
        assertTrue(event.path("ResourceUri").asText().endsWith("/engagements/v1/referrals/" + created.path("id").asText()));
        assertTrue(event.has("AuditUri") && event.has("ResourceChangeUtcDate"));
        assertEquals("rsa-sha256", headers.get("X-ms-signature-algorithm"));
        assertTrue(String.valueOf(headers.get("Authorization")).startsWith("Signature "));

        WebhookSignatureVerifier verifier = new WebhookSignatureVerifier(List.of("127.0.0.1"),
                SandboxPki.SIGNING_ORGANIZATION, sandbox.pki().clientSslContext(), sandbox.pki().trustStore());
        assertTrue(verifier.verify(headers, body).contains(SandboxPki.SIGNING_ORGANIZATION));
        byte[] tampered = new String(body, StandardCharsets.UTF_8).replace("referral-created", "referral-updated")
                .getBytes(StandardCharsets.UTF_8);
        assertThrows(WebhookSignatureVerifier.InvalidSignatureException.class, () -> verifier.verify(headers, tampered));
        WebhookSignatureVerifier otherHost = new WebhookSignatureVerifier(List.of("3psostorageacct.blob.core.windows.net"),
                null, sandbox.pki().clientSslContext(), sandbox.pki().trustStore());
        assertThrows(WebhookSignatureVerifier.InvalidSignatureException.class, () -> otherHost.verify(headers, body));
        WebhookSignatureVerifier otherOrg = new WebhookSignatureVerifier(List.of("127.0.0.1"), "Microsoft Corporation",
                sandbox.pki().clientSslContext(), sandbox.pki().trustStore());
        assertThrows(WebhookSignatureVerifier.InvalidSignatureException.class, () -> otherOrg.verify(headers, body));
    }

    @Test
    void deliveryIsRetriedWithBackoffUntilTheReceiverAccepts() {
        user.send("POST", webhooks, "{\"WebhookUrl\":\"" + hookUrl() + "\",\"WebhookEvents\":[\"referral-created\","
                + "\"referral-updated\"]}");
        failuresToAnswer.set(2);
        ObjectNode created = pc.createAsMicrosoft(TENANT, referral("Retry"));
        await().atMost(Duration.ofSeconds(10)).until(() -> "completed".equals(pc.webhooks().deliveries().get(0).status));
        WebhookDispatcher.Delivery d = pc.webhooks().deliveries().get(0);
        assertEquals(List.of(500, 500, 200), d.attempts.stream().map(WebhookDispatcher.Attempt::status).toList());
        assertTrue(Duration.between(d.attempts.get(1).at(), d.attempts.get(2).at()).toMillis()
                >= Duration.between(d.attempts.get(0).at(), d.attempts.get(1).at()).toMillis(), "backoff grows");

        // An update through the API fires referral-updated.
        JsonNode current = user.get(referrals + "/" + created.path("id").asText()).json();
        assertEquals(200, put(current, "Active", "Accepted").status());
        await().atMost(Duration.ofSeconds(10)).until(() -> received.stream().count() == 4);
        assertTrue(new String(receivedBodies.get(3), StandardCharsets.UTF_8).contains("referral-updated"));
    }

    @Test
    void validationEventIsDeliveredAndReported() {
        user.send("POST", webhooks, "{\"WebhookUrl\":\"" + hookUrl() + "\",\"WebhookEvents\":[\"test-created\"]}");
        TestHttp.Resp sent = user.send("POST", webhooks + "/validationEvents", "{}");
        assertEquals(200, sent.status(), sent.body());
        String correlationId = sent.json().path("correlationId").asText();
        await().atMost(Duration.ofSeconds(10)).until(() ->
                "completed".equals(user.get(webhooks + "/validationEvents/" + correlationId).json().path("status").asText()));
        JsonNode status = user.get(webhooks + "/validationEvents/" + correlationId).json();
        assertEquals("OK", status.path("results").get(0).path("responseCode").asText());
        assertEquals(hookUrl(), status.path("callbackUrl").asText());
        // Documented limit: two per minute.
        assertEquals(200, user.send("POST", webhooks + "/validationEvents", "{}").status());
        TestHttp.Resp third = user.send("POST", webhooks + "/validationEvents", "{}");
        assertEquals(429, third.status());
        assertNotNull(third.header("Retry-After"));
    }
}
