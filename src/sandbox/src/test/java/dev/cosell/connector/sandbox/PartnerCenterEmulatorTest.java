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
    static TestHttp webhookUser;
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
        webhookUser = new TestHttp(sandbox.pki().clientSslContext(), () -> tokens.authorization(
                PartnerCenterEmulator.WEBHOOKS_RESOURCE + "/user_impersonation", EntraTokenProvider.Mode.DELEGATED));
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

    /** A referral with what the contract requires (type, customerProfile, details) and a few documented fields. */
    static ObjectNode referral(String name) {
        ObjectNode r = JSON.createObjectNode().put("name", name).put("type", "Shared");
        r.putObject("consent").put("consentToToShareInfoWithOthers", true).put("consentToContact", true);
        ObjectNode cp = r.putObject("customerProfile").put("name", name + " Inc").put("size", "10to50employees");
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

    @Test
    void theWebhooksApiWantsATokenForItsOwnAudience() {
        // The webhooks page: "Acquire an access token to access https://api.partnercenter.microsoft.com".
        TestHttp.Resp referralsToken = user.get(webhooks);
        assertEquals(401, referralsToken.status());
        assertTrue(referralsToken.json().path("description").asText().contains(PartnerCenterEmulator.WEBHOOKS_RESOURCE));
        assertEquals(404, webhookUser.get(webhooks).status(), "no registration yet, but the token is the right one");
        assertEquals(401, webhookUser.get(referrals).status(), "and that token is not one for the Referrals API");
    }

    // ------------------------------------------------------------------------------------ referrals

    @Test
    void createReturnsTheContractsShapeAndReadsTheDocumentedSpellings() {
        ObjectNode body = referral("Fabrikam");
        // The pages mix spellings: PascalCase names, the SolutionTag table's solutionType; all are read.
        body.putObject("Consent").put("ConsentToToShareInfoWithOthers", true).put("consentToShareReferralWithMicrosoftSellers", true);
        ((ObjectNode) body.path("details")).putObject("Requirements").putArray("Solutions").addObject().put("id", "Azure")
                .put("name", "Azure").put("solutionType", "Name");
        body.put("salesStage", "qualify");
        TestHttp.Resp r = user.send("POST", referrals, body.toString());
        assertEquals(200, r.status(), r.body()); // CreateReferral: 200 in the swagger
        JsonNode c = r.json();
        assertEquals(List.of(), ContractSchema.partnerCenter().problems(ContractSchema.Shape.Referral, c), "the answer fits the contract");
        assertNotNull(c.path("id").textValue());
        assertNotNull(c.path("engagementId").textValue());
        assertEquals("New", c.path("status").asText());
        assertEquals("Pending", c.path("substatus").asText());
        assertEquals("Qualify", c.path("salesStage").asText(), "enum values in the contract's case");
        assertTrue(c.path("eTag").asText().matches("\"[0-9a-f]{8}-0000-0000-0000-[0-9a-f]{12}\""), c.path("eTag").asText());
        assertTrue(c.path("consent").path("consentToToShareInfoWithOthers").asBoolean(), "written as the contract spells it (sic)");
        assertEquals("Name", c.path("details").path("requirements").path("solutions").get(0).path("type").asText());
        assertEquals("Referral", c.path("attributes").path("objectType").asText());
        assertEquals("Outgoing", c.path("direction").asText(), "created by the partner");
        assertEquals(c.path("createdDateTime").asText(), c.path("acceptedDateTime").asText(), "outgoing: accepted as created");
        assertTrue(c.path("links").path("self").path("uri").asText().endsWith("/v1.0/engagements/referrals/"
                + c.path("id").asText()));

        TestHttp.Resp got = user.get(referrals + "/" + c.path("id").asText());
        assertEquals(200, got.status());
        assertEquals(c.path("eTag").asText(), got.json().path("eTag").asText());
        assertEquals(404, user.get(referrals + "/00000000-0000-0000-0000-000000000000").status());
    }

    @Test
    void theCurrentCreateExamplesSolutionWithItsPublisherIsTaken() {
        ObjectNode body = referral("Marketplace");
        ((ObjectNode) body.path("details")).putObject("requirements").putArray("solutions").addObject().put("type", "Name")
                .put("id", "SOL-15974-MQF").put("name", "Contoso-Ale_Test").put("publisherName", "Contoso_Test")
                .put("solutionType", "3P");
        body.put("direction", "Incoming").putArray("tags").add("set by the client");
        TestHttp.Resp r = user.send("POST", referrals, body.toString());
        assertEquals(200, r.status(), r.body());
        JsonNode tag = r.json().path("details").path("requirements").path("solutions").get(0);
        assertEquals("Name", tag.path("type").asText());
        assertEquals("3P", tag.path("solutionType").asText());
        assertEquals("Contoso_Test", tag.path("publisherName").asText());
        assertEquals("Outgoing", r.json().path("direction").asText(), "read-only in the swagger: the client's value is ignored");
        assertFalse(r.json().has("tags"));
        assertTrue(pc.referrals().contractViolations().stream().anyMatch(v -> v.contains("read-only property 'direction'")),
                "and noted: a client should not send it");
    }

    @Test
    void createRefusesWhatTheContractDoesNotHaveNamingTheProperty() {
        ObjectNode noType = referral("A");
        noType.remove("type");
        assertRefused(noType, "type");

        assertRefused(referral("B").put("qualification", "Lukewarm"), "/qualification");

        ObjectNode oneSolution = referral("C");
        ((ObjectNode) oneSolution.path("details")).putObject("requirements").putObject("solutions").put("id", "Azure");
        assertRefused(oneSolution, "/details/requirements/solutions", "array");

        ObjectNode idsObject = referral("D");
        ((ObjectNode) idsObject.path("customerProfile")).putObject("ids").put("Duns", "123456789");
        assertRefused(idsObject, "/customerProfile/ids", "array");

        ObjectNode wrongConsent = referral("E");
        wrongConsent.putObject("consent").put("consentToShareInfoWithOthers", true);
        assertRefused(wrongConsent, "consentToShareInfoWithOthers");

        ObjectNode undocumentedSize = referral("F");
        ((ObjectNode) undocumentedSize.path("customerProfile")).put("size", "1000to9999employees");
        assertRefused(undocumentedSize, "/customerProfile/size");

        assertRefused(referral("G").put("futureProperty", "?"), "futureProperty");

        assertEquals(400, user.send("POST", referrals, "{not json").status());
        assertEquals(0, pc.referrals().size(TENANT));

        // Every documented size is taken.
        for (String size : List.of("1to50employees", "51to500employees", "Morethan500employees", "1to9employees",
                "10to50employees", "51to250employees", "251to1000employees", "1001to5000employees", "5001to10000employees",
                "10001to20000employees", "Morethan20000employees")) {
            ObjectNode ok = referral("Size " + size);
            ((ObjectNode) ok.path("customerProfile")).put("size", size);
            assertEquals(200, user.send("POST", referrals, ok.toString()).status(), size);
        }
    }

    private static void assertRefused(ObjectNode body, String... named) {
        assertRefused("POST", referrals, body.toString(), named);
    }

    /** 400, and the answer names each of {@code named} (the property, the rule). */
    private static void assertRefused(String method, String url, String body, String... named) {
        TestHttp.Resp r = user.send(method, url, body);
        assertEquals(400, r.status(), r.body());
        for (String n : named) {
            assertTrue(r.json().path("description").asText().contains(n), n + " not named in " + r.body());
        }
    }

    @Test
    void patchAppliesTheDocumentedOperationsOnTheDocumentedPaths() {
        JsonNode c = user.send("POST", referrals, referral("Patched").toString()).json();
        String url = referrals + "/" + c.path("id").asText();
        String etag = c.path("eTag").asText();

        // Without Prefer: 204 and no body; If-Match is optional (the page: "if passed, used for concurrency").
        TestHttp.Resp plain = user.send("PATCH", url, "[{\"op\":\"replace\",\"path\":\"/details/dealValue\",\"value\":2000}]");
        assertEquals(204, plain.status(), plain.body());
        assertTrue(plain.body().isEmpty());
        JsonNode now = user.get(url).json();
        assertEquals(2000, now.path("details").path("dealValue").asInt());
        assertNotEquals(etag, now.path("eTag").asText());

        // With If-Match: a stale eTag is refused; with Prefer: return=representation, the referral comes back.
        // (the referral has no notes and no sales stage yet: RFC 6902 'add', 'replace' would be refused)
        assertPatchRefused(url, "[{\"op\":\"replace\",\"path\":\"/salesStage\",\"value\":\"Develop\"}]", "'add' it");
        String ops = "[{\"op\":\"add\",\"path\":\"/details/notes\",\"value\":\"workshop\"},"
                + "{\"op\":\"add\",\"path\":\"/salesStage\",\"value\":\"Develop\"},"
                + "{\"op\":\"add\",\"path\":\"/team/-\",\"value\":{\"email\":\"jane.doe@contoso.com\",\"firstName\":\"Jane\",\"lastName\":\"Doe\"}}]";
        assertEquals(412, user.send("PATCH", url, ops, "If-Match", etag).status());
        TestHttp.Resp full = user.send("PATCH", url, ops, "If-Match", now.path("eTag").asText(), "Prefer", "return=representation");
        assertEquals(200, full.status(), full.body());
        assertEquals("workshop", full.json().path("details").path("notes").asText());
        assertEquals("Develop", full.json().path("salesStage").asText());
        assertEquals("Jane", full.json().path("team").get(0).path("firstName").asText(), "added at /team/-");
        assertEquals(2000, full.json().path("details").path("dealValue").asInt(), "fields not in the patch stay");

        // Only replace and add, only the listed paths, the contract's types.
        assertPatchRefused(url, "[{\"op\":\"remove\",\"path\":\"/details/notes\"}]", "/0/op");
        assertPatchRefused(url, "[{\"op\":\"replace\",\"path\":\"/name\",\"value\":\"x\"}]", "/0/path");
        assertPatchRefused(url, "[{\"op\":\"replace\",\"path\":\"/details/requirements/solutions\",\"value\":{\"id\":\"Azure\"}}]",
                "/0/value", "array");
        assertPatchRefused(url, "[{\"op\":\"replace\",\"path\":\"/salesStage\",\"value\":\"Negotiate\"}]", "/0/value");
        assertPatchRefused(url, "{\"details\":{\"notes\":\"a merge patch\"}}", "JSON Patch");

        // Microsoft's own example (dealValue as the string "10000") is read as the decimal it means.
        TestHttp.Resp documented = user.send("PATCH", url, "[{\"op\":\"replace\",\"path\":\"/details/dealValue\",\"value\":\"10000\"},"
                + "{\"op\":\"add\",\"path\":\"/team/-\",\"value\":{\"email\":\"jane.doe@contoso.com\",\"firstName\":\"Jane\","
                + "\"lastName\":\"Doe\",\"phoneNumber\":\"0000000001\"}}]", "Prefer", "return=representation");
        assertEquals(200, documented.status(), documented.body());
        assertEquals(10000, documented.json().path("details").path("dealValue").asInt());

        // Transitions are checked on the patched referral, status and substatus together.
        assertPatchRefused(url, "[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"Active\"},"
                + "{\"op\":\"replace\",\"path\":\"/substatus\",\"value\":\"Won\"}]", "Substatus Won is not allowed with status Active");
        TestHttp.Resp accepted = user.send("PATCH", url, "[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"Active\"},"
                + "{\"op\":\"replace\",\"path\":\"/substatus\",\"value\":\"Accepted\"}]", "Prefer", "return=representation");
        assertEquals(200, accepted.status(), accepted.body());
        assertNotNull(accepted.json().path("acceptedDateTime").textValue(), "acceptedDateTime set on acceptance");
        assertEquals(List.of(), pc.referrals().contractViolations());
    }

    private static void assertPatchRefused(String url, String body, String... named) {
        assertRefused("PATCH", url, body, named);
    }

    @Test
    void aDealRegistrationIsAddedAndUpdatedThroughTheSameJsonPatch() {
        JsonNode c = user.send("POST", referrals, referral("Registered").toString()).json();
        String url = referrals + "/" + c.path("id").asText();
        String add = "[{\"op\":\"add\",\"path\":\"/registrations/-\",\"value\":{\"type\":\"AzureIPCoSell\","
                + "\"solutionDetails\":[{\"id\":\"SOL-1\",\"value\":1000,\"currency\":\"USD\",\"isDeployedOnAzure\":true,"
                + "\"primaryDeploymentOn\":\"Customer\",\"pricingModel\":\"Other\"}],"
                + "\"contract\":{\"value\":1000,\"currency\":\"USD\",\"term\":\"Finite\"}}}]";
        TestHttp.Resp added = user.send("PATCH", url, add, "Prefer", "return=representation");
        assertEquals(200, added.status(), added.body());
        JsonNode reg = added.json().path("registrations").get(0);
        assertNotNull(reg.path("id").textValue());
        assertEquals("ReviewPending", reg.path("status").asText());
        assertEquals("ReviewPending", added.json().path("registrationStatus").asText());
        TestHttp.Resp changed = user.send("PATCH", url, "[{\"op\":\"replace\",\"path\":\"/registrations/0/contract/value\",\"value\":1500}]",
                "Prefer", "return=representation");
        assertEquals(200, changed.status(), changed.body());
        assertEquals(1500, changed.json().path("registrations").get(0).path("contract").path("value").asInt());
        assertPatchRefused(url, "[{\"op\":\"add\",\"path\":\"/registrations/-\",\"value\":{\"type\":\"Resale\",\"solutionDetails\":[{\"id\":\"S\"}]}}]",
                "/0/value/type");
    }

    @Test
    void theDeprecatedPutStillAnswersAndNeedsIfMatch() throws Exception {
        JsonNode c = user.send("POST", referrals, referral("Contoso").toString()).json();
        String id = c.path("id").asText();
        String etag = c.path("eTag").asText();
        ObjectNode put = (ObjectNode) c.deepCopy();
        put.remove("links");
        ((ObjectNode) put.path("details")).put("dealValue", 2000);

        TestHttp.Resp missing = user.send("PUT", referrals + "/" + id, put.toString());
        assertEquals(428, missing.status(), missing.body());
        assertTrue(missing.json().path("description").asText().contains("If-Match"));
        assertEquals(412, user.send("PUT", referrals + "/" + id, put.toString(), "If-Match", "\"stale\"").status());

        Instant before = Instant.parse(c.path("updatedDateTime").asText());
        TestHttp.Resp ok = user.send("PUT", referrals + "/" + id, put.toString(), "If-Match", etag);
        assertEquals(200, ok.status(), ok.body());
        assertEquals(2000, ok.json().path("details").path("dealValue").asInt());
        assertNotEquals(etag, ok.json().path("eTag").asText());
        assertFalse(Instant.parse(ok.json().path("updatedDateTime").asText()).isBefore(before));
        assertEquals(c.path("createdDateTime").asText(), ok.json().path("createdDateTime").asText());
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
        assertNotNull(won.json().path("closedDateTime").textValue(), "closedDateTime set when closed");
        assertEquals(400, put(won.json(), "Active", "Accepted").status());
        assertEquals("Closed", user.get(referrals + "/" + id).json().path("status").asText());
    }

    private TestHttp.Resp put(JsonNode current, String status, String substatus) {
        ObjectNode body = (ObjectNode) current.deepCopy();
        body.remove("links");
        // a well-behaved client leaves out what the swagger marks read-only (the service sets it)
        for (String readOnly : List.of("registrations", "registrationStatus", "quality", "isSpam", "direction", "tags",
                "acceptedDateTime", "closedDateTime")) {
            body.remove(readOnly);
        }
        body.put("status", status).put("substatus", substatus);
        return user.send("PUT", referrals + "/" + current.path("id").asText(), body.toString(), "If-Match",
                current.path("eTag").asText());
    }

    @Test
    void theListPagesAsODataSaysTopIsTheTotalAndFiltersAreTheDocumentedOnes() {
        List<ObjectNode> many = new ArrayList<>();
        Instant t = Instant.parse("2026-03-01T00:00:00Z");
        for (int i = 0; i < 250; i++) {
            ObjectNode r = referral("R" + i);
            r.put("id", String.format("00000000-0000-4000-8000-%012d", i)).put("createdDateTime", t.plusSeconds(i).toString())
                    .put("updatedDateTime", t.plusSeconds(i).toString()).put("status", "New").put("substatus", "Pending");
            many.add(r);
        }
        pc.referrals().load(TENANT, many);
        // No $top: every referral, in pages of at most 100 that the service cuts, joined by @odata.nextLink.
        assertEquals(List.of(100, 100, 50), pageSizes(referrals));
        // $top is the total to return (OData), across pages: never a page size.
        assertEquals(List.of(100, 50), pageSizes(referrals + "?$top=150"));
        assertEquals(List.of(10), pageSizes(referrals + "?$top=10"));
        assertEquals(List.of(10), pageSizes(referrals + "?$skip=240"));
        assertEquals(250, user.get(referrals + "?$count=true").json().path("@odata.count").asInt(), "$count: all that match");

        JsonNode desc = user.get(referrals + "?$orderby=" + enc("createdDateTime desc") + "&$top=1").json();
        assertEquals("R249", desc.path("value").get(0).path("name").asText());
        String someId = "00000000-0000-4000-8000-000000000007";
        JsonNode one = user.get(referrals + "/" + someId).json();
        assertEquals(200, put(one, "Active", "Accepted").status());
        JsonNode newest = user.get(referrals + "?$orderby=" + enc("updatedDateTime desc") + "&$top=1").json();
        assertEquals(someId, newest.path("value").get(0).path("id").asText(), "$orderby updatedDateTime (documented)");
        JsonNode active = user.get(referrals + "?$filter=" + enc("status eq 'Active' and substatus eq 'Accepted'")).json();
        assertEquals(1, active.path("value").size());
        String since = user.get(referrals + "/" + someId).json().path("updatedDateTime").asText();
        assertEquals(1, user.get(referrals + "?$filter=" + enc("updatedDateTime ge " + since)).json().path("value").size());

        // Filters outside the documented ones are refused: externalReferenceId is not one of them.
        TestHttp.Resp external = user.get(referrals + "?$filter=" + enc("externalReferenceId eq 'x'"));
        assertEquals(400, external.status());
        assertTrue(external.json().path("description").asText().contains("externalReferenceId"), external.body());
        assertEquals(400, user.get(referrals + "?$filter=" + enc("colour eq 'blue'")).status());
        assertEquals(400, user.get(referrals + "?$top=-1").status());
        assertEquals(List.of(), pc.referrals().contractViolations());
    }

    private static List<Integer> pageSizes(String first) {
        List<Integer> sizes = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        String next = first;
        while (next != null) {
            TestHttp.Resp page = user.get(next);
            assertEquals(200, page.status(), page.body());
            page.json().path("value").forEach(r -> assertTrue(seen.add(r.path("id").asText()), "no repeats"));
            sizes.add(page.json().path("value").size());
            next = page.json().path("@odata.nextLink").textValue();
        }
        return sizes;
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
        assertEquals(404, webhookUser.get(webhooks).status());
        TestHttp.Resp events = webhookUser.get(webhooks + "/events");
        assertTrue(events.json().toString().contains("referral-created"));
        String body = "{\"WebhookUrl\":\"" + hookUrl() + "\",\"WebhookEvents\":[\"referral-created\",\"referral-updated\"]}";
        TestHttp.Resp created = webhookUser.send("POST", webhooks, body);
        assertEquals(200, created.status(), created.body());
        assertNotNull(created.json().path("SubscriberId").textValue());
        TestHttp.Resp again = webhookUser.send("POST", webhooks, body);
        assertEquals(409, again.status());
        assertTrue(again.json().path("description").asText().contains("use the PUT method"));
        TestHttp.Resp replaced = webhookUser.send("PUT", webhooks, body.replace("/hook", "/other"));
        assertEquals(200, replaced.status());
        assertTrue(webhookUser.get(webhooks).json().path("WebhookUrl").asText().endsWith("/other"));
        assertEquals(400, webhookUser.send("PUT", webhooks, "{\"WebhookUrl\":\"" + hookUrl() + "\",\"WebhookEvents\":[\"nope\"]}")
                .status());
        assertEquals(204, webhookUser.send("DELETE", webhooks, null).status());
        assertEquals(404, webhookUser.get(webhooks).status());
    }

    @Test
    void referralEventsArriveSignedAndVerifyWithThePublishedCertificate() throws Exception {
        webhookUser.send("POST", webhooks, "{\"WebhookUrl\":\"" + hookUrl() + "\",\"WebhookEvents\":[\"referral-created\"]}");
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

        WebhookSignatureVerifier verifier = new WebhookSignatureVerifier(List.of("127.0.0.1:" + pc.port()),
                SandboxPki.SIGNING_ORGANIZATION, sandbox.pki().clientSslContext(), sandbox.pki().trustStore());
        assertTrue(verifier.verify(headers, body).contains(SandboxPki.SIGNING_ORGANIZATION));
        byte[] tampered = new String(body, StandardCharsets.UTF_8).replace("referral-created", "referral-updated")
                .getBytes(StandardCharsets.UTF_8);
        assertThrows(WebhookSignatureVerifier.InvalidSignatureException.class, () -> verifier.verify(headers, tampered));
        WebhookSignatureVerifier otherHost = new WebhookSignatureVerifier(List.of("3psostorageacct.blob.core.windows.net"),
                null, sandbox.pki().clientSslContext(), sandbox.pki().trustStore());
        assertThrows(WebhookSignatureVerifier.InvalidSignatureException.class, () -> otherHost.verify(headers, body));
        WebhookSignatureVerifier otherOrg = new WebhookSignatureVerifier(List.of("127.0.0.1:" + pc.port()), "Microsoft Corporation",
                sandbox.pki().clientSslContext(), sandbox.pki().trustStore());
        assertThrows(WebhookSignatureVerifier.InvalidSignatureException.class, () -> otherOrg.verify(headers, body));

        // A registration that asks for the x-ms-signature header gets "Signature <base64>" there instead.
        webhookUser.send("PUT", webhooks, "{\"WebhookUrl\":\"" + hookUrl() + "\",\"WebhookEvents\":[\"referral-created\"],"
                + "\"SignatureTokenToMsSignatureHeader\":true}");
        pc.createAsMicrosoft(TENANT, referral("Signed in x-ms-signature"));
        await().atMost(Duration.ofSeconds(10)).until(() -> received.size() == 2);
        Map<String, Object> msHeaders = received.get(1);
        assertTrue(String.valueOf(msHeaders.get("X-ms-signature")).startsWith("Signature "), msHeaders.toString());
        assertEquals(null, msHeaders.get("Authorization"));
        assertTrue(verifier.verify(msHeaders, receivedBodies.get(1)).contains(SandboxPki.SIGNING_ORGANIZATION));

        // Signed with a certificate whose subject claims the organisation but whose issuer does not: refused,
        // as Microsoft's sample checks the issuer (its chain is trusted, so only that check can refuse it).
        pc.signAsImpostor(true);
        try {
            pc.createAsMicrosoft(TENANT, referral("Impostor"));
            await().atMost(Duration.ofSeconds(10)).until(() -> received.size() == 3);
            var refused = assertThrows(WebhookSignatureVerifier.InvalidSignatureException.class,
                    () -> verifier.verify(received.get(2), receivedBodies.get(2)));
            assertTrue(refused.getMessage().contains("issued by"), refused.getMessage());
        } finally {
            pc.signAsImpostor(false);
        }
    }

    @Test
    void deliveryIsRetriedWithBackoffUntilTheReceiverAccepts() {
        webhookUser.send("POST", webhooks, "{\"WebhookUrl\":\"" + hookUrl() + "\",\"WebhookEvents\":[\"referral-created\","
                + "\"referral-updated\"]}");
        failuresToAnswer.set(2);
        ObjectNode created = pc.createAsMicrosoft(TENANT, referral("Retry"));
        await().atMost(Duration.ofSeconds(10)).until(() -> "completed".equals(pc.webhooks().deliveries().get(0).status));
        WebhookDispatcher.Delivery d = pc.webhooks().deliveries().get(0);
        assertEquals(List.of(500, 500, 200), d.attempts.stream().map(WebhookDispatcher.Attempt::status).toList());
        // The second retry waits at least twice the first delay (20 ms, then 40 ms): measured against the plan,
        // not against the first gap, which a busy machine can stretch.
        assertTrue(Duration.between(d.attempts.get(1).at(), d.attempts.get(2).at()).toMillis() >= 40, "backoff grows");

        // An update through the API fires referral-updated.
        JsonNode current = user.get(referrals + "/" + created.path("id").asText()).json();
        assertEquals(200, put(current, "Active", "Accepted").status());
        await().atMost(Duration.ofSeconds(10)).until(() -> received.stream().count() == 4);
        assertTrue(new String(receivedBodies.get(3), StandardCharsets.UTF_8).contains("referral-updated"));
    }

    @Test
    void validationEventIsDeliveredAndReported() {
        webhookUser.send("POST", webhooks, "{\"WebhookUrl\":\"" + hookUrl() + "\",\"WebhookEvents\":[\"test-created\"]}");
        TestHttp.Resp sent = webhookUser.send("POST", webhooks + "/validationEvents", "{}");
        assertEquals(200, sent.status(), sent.body());
        String correlationId = sent.json().path("correlationId").asText();
        await().atMost(Duration.ofSeconds(10)).until(() ->
                "completed".equals(webhookUser.get(webhooks + "/validationEvents/" + correlationId).json().path("status").asText()));
        JsonNode status = webhookUser.get(webhooks + "/validationEvents/" + correlationId).json();
        assertEquals("OK", status.path("results").get(0).path("responseCode").asText());
        assertEquals(hookUrl(), status.path("callbackUrl").asText());
        // Documented limit: two per minute.
        assertEquals(200, webhookUser.send("POST", webhooks + "/validationEvents", "{}").status());
        TestHttp.Resp third = webhookUser.send("POST", webhooks + "/validationEvents", "{}");
        assertEquals(429, third.status());
        assertNotNull(third.header("Retry-After"));
    }
}
