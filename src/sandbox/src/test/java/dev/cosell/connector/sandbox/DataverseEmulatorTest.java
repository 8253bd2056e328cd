package dev.cosell.connector.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.auth.EntraTokenProvider;
import dev.cosell.connector.sandbox.dataverse.DataverseEmulator;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The Dataverse emulator over real HTTPS, with tokens obtained by msal4j from the Entra emulator. */
class DataverseEmulatorTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static Vertx vertx;
    static SandboxPki pki;
    static EntraIdEmulator entra;
    static DataverseEmulator dv;
    static TestHttp http;
    static TestHttp anonymous;
    static String api;

    @BeforeAll
    static void start() {
        vertx = Vertx.vertx();
        pki = SandboxPki.generate();
        entra = (EntraIdEmulator) new EntraIdEmulator(vertx, pki).start(0);
        entra.registerApp("tenant-1", "app-1", "secret-1");
        dv = (DataverseEmulator) new DataverseEmulator(vertx, pki, entra, "tenant-1").start(0);
        entra.registerResource(dv.environmentUrl());
        EntraTokenProvider tokens = new EntraTokenProvider(new EntraTokenProvider.Settings(entra.baseUrl()
                + "/tenant-1/", "app-1", "secret-1", null, null, true, entra.instanceMetadata().toString(), null),
                pki.clientSslContext(), null);
        http = new TestHttp(pki.clientSslContext(),
                () -> tokens.authorization(dv.environmentUrl() + "/.default", EntraTokenProvider.Mode.APPLICATION));
        anonymous = new TestHttp(pki.clientSslContext(), null);
        api = dv.baseUrl() + "/api/data/v9.2/";
    }

    @AfterAll
    static void stop() {
        dv.close();
        entra.close();
        vertx.close();
    }

    @BeforeEach
    void reset() {
        dv.api().clear();
        dv.faults().clear();
        dv.calls().reset();
        dv.api().setChangeTracking("opportunities", true);
    }

    @Test
    void requestsWithoutAValidTokenGet401() {
        TestHttp.Resp r = anonymous.get(api + "opportunities");
        assertEquals(401, r.status());
        assertTrue(r.header("WWW-Authenticate").startsWith("Bearer authorization_uri="));
        TestHttp wrongAudience = new TestHttp(pki.clientSslContext(), () -> "Bearer not-a-jwt");
        assertEquals(401, wrongAudience.get(api + "opportunities").status());
    }

    @Test
    void createReturns204WithEntityIdOr201WithRepresentation() {
        TestHttp.Resp plain = http.send("POST", api + "opportunities", "{\"name\":\"Plain\",\"estimatedvalue\":1000}");
        assertEquals(204, plain.status());
        String entityId = plain.header("OData-EntityId");
        assertTrue(entityId.matches(".*/api/data/v9\\.2/opportunities\\([0-9a-f-]{36}\\)"), entityId);

        TestHttp.Resp rep = http.send("POST", api + "opportunities?$select=name,estimatedvalue",
                "{\"name\":\"Rep\",\"estimatedvalue\":2500.5,\"estimatedclosedate\":\"2027-03-31\"}",
                "Prefer", "return=representation");
        assertEquals(201, rep.status());
        assertEquals("return=representation", rep.header("Preference-Applied"));
        JsonNode body = rep.json();
        assertEquals("Rep", body.get("name").asText());
        assertEquals(2500.5, body.get("estimatedvalue").asDouble());
        assertTrue(body.get("@odata.etag").asText().matches("W/\"\\d+\""));
        assertTrue(body.get("@odata.context").asText().endsWith("$metadata#opportunities(name,estimatedvalue)/$entity"));
        assertNotNull(body.get("opportunityid"));
    }

    @Test
    void retrieveByKeyAndByAlternateKeyWithSelect() {
        String id = create("{\"name\":\"Keyed\",\"cosell_referralid\":\"ref-42\"}");
        JsonNode byId = http.get(api + "opportunities(" + id + ")?$select=name,cosell_referralid").json();
        assertEquals("Keyed", byId.get("name").asText());
        assertEquals(id, byId.get("opportunityid").asText());
        assertFalse(byId.has("estimatedvalue"), "$select limits the columns");

        TestHttp.Resp byKey = http.get(api + "opportunities(cosell_referralid='ref-42')?$select=name");
        assertEquals(200, byKey.status());
        assertEquals(id, byKey.json().get("opportunityid").asText());

        TestHttp.Resp missing = http.get(api + "opportunities(cosell_referralid='nope')");
        assertEquals(404, missing.status());
        assertEquals("0x80040217", missing.json().at("/error/code").asText());

        TestHttp.Resp unknownKey = http.get(api + "opportunities(name='x')");
        assertEquals(400, unknownKey.status());
    }

    @Test
    void patchWithStaleEtagIs412AndCurrentEtagSucceeds() {
        String id = create("{\"name\":\"Concurrent\"}");
        String etag = http.get(api + "opportunities(" + id + ")").json().get("@odata.etag").asText();
        assertEquals(204, http.send("PATCH", api + "opportunities(" + id + ")", "{\"estimatedvalue\":10}",
                "If-Match", etag).status());
        TestHttp.Resp stale = http.send("PATCH", api + "opportunities(" + id + ")", "{\"estimatedvalue\":20}",
                "If-Match", etag);
        assertEquals(412, stale.status());
        assertEquals("0x80060882", stale.json().at("/error/code").asText());
        JsonNode now = http.get(api + "opportunities(" + id + ")").json();
        assertEquals(10, now.get("estimatedvalue").asInt());
        assertNotEquals(etag, now.get("@odata.etag").asText(), "every write makes a new version");
    }

    @Test
    void patchUpsertsUnlessIfMatchStarAndIfNoneMatchStarCreatesOnly() {
        TestHttp.Resp created = http.send("PATCH", api + "opportunities(cosell_referralid='upsert-1')",
                "{\"name\":\"Upserted\"}");
        assertEquals(204, created.status());
        assertEquals(1, dv.api().countWhere("opportunities", "cosell_referralid", "upsert-1"));

        TestHttp.Resp updated = http.send("PATCH", api + "opportunities(cosell_referralid='upsert-1')",
                "{\"name\":\"Upserted again\"}", "Prefer", "return=representation");
        assertEquals(200, updated.status());
        assertEquals("Upserted again", updated.json().get("name").asText());
        assertEquals(1, dv.api().countWhere("opportunities", "cosell_referralid", "upsert-1"));

        String missing = "11111111-2222-3333-4444-555555555555";
        assertEquals(404, http.send("PATCH", api + "opportunities(" + missing + ")", "{\"name\":\"x\"}",
                "If-Match", "*").status());
        assertEquals(412, http.send("PATCH", api + "opportunities(cosell_referralid='upsert-1')", "{\"name\":\"x\"}",
                "If-None-Match", "*").status());
    }

    @Test
    void deleteThen404() {
        String id = create("{\"name\":\"Doomed\"}");
        assertEquals(204, http.send("DELETE", api + "opportunities(" + id + ")", null).status());
        assertEquals(404, http.get(api + "opportunities(" + id + ")").status());
        assertEquals(404, http.send("DELETE", api + "opportunities(" + id + ")", null).status());
    }

    @Test
    void filterSupportsComparisonLogicalStringNullDateBooleanAndLookupOperators() {
        String account = http.send("POST", api + "accounts", "{\"name\":\"Fabrikam\"}").header("OData-EntityId");
        String accountId = account.substring(account.indexOf('(') + 1, account.indexOf(')'));
        create("{\"name\":\"Alpha deal\",\"estimatedvalue\":100,\"estimatedclosedate\":\"2027-01-15\","
                + "\"cosell_syncwithpartnercenter\":true,\"parentaccountid@odata.bind\":\"/accounts(" + accountId + ")\"}");
        create("{\"name\":\"Beta deal\",\"estimatedvalue\":500,\"estimatedclosedate\":\"2027-06-01\","
                + "\"cosell_syncwithpartnercenter\":false,\"description\":\"it's big\"}");
        create("{\"name\":\"Gamma\",\"estimatedvalue\":900,\"cosell_syncwithpartnercenter\":true}");

        assertEquals(Set.of("Beta deal", "Gamma"), names("estimatedvalue gt 100"));
        assertEquals(Set.of("Alpha deal", "Beta deal"), names("estimatedvalue ge 100 and estimatedvalue le 500"));
        assertEquals(Set.of("Alpha deal", "Gamma"), names("estimatedvalue eq 100 or estimatedvalue eq 900"));
        assertEquals(Set.of("Beta deal"), names("not (cosell_syncwithpartnercenter eq true)"));
        assertEquals(Set.of("Alpha deal", "Beta deal"), names("contains(name,'DEAL')"));
        assertEquals(Set.of("Gamma"), names("startswith(name,'gam')"));
        assertEquals(Set.of("Alpha deal"), names("endswith(name,'ha deal')"));
        assertEquals(Set.of("Gamma"), names("estimatedclosedate eq null"));
        assertEquals(Set.of("Alpha deal"), names("estimatedclosedate lt 2027-03-01"));
        assertEquals(Set.of("Beta deal"), names("description eq 'it''s big'"));
        assertEquals(Set.of("Alpha deal"), names("_parentaccountid_value eq " + accountId));
        assertEquals(Set.of("Beta deal", "Gamma"), names("_parentaccountid_value eq null"));
        assertEquals(Set.of("Alpha deal", "Beta deal", "Gamma"), names("modifiedon gt 2020-01-01T00:00:00Z"));

        TestHttp.Resp unknown = http.get(api + "opportunities?$filter=" + enc("nosuchcolumn eq 1"));
        assertEquals(400, unknown.status());
        assertTrue(unknown.json().at("/error/message").asText().contains("nosuchcolumn"));
        assertEquals(400, http.get(api + "opportunities?$filter=" + enc("name eq")).status());
    }

    @Test
    void orderByTopAndCount() {
        for (int i = 1; i <= 5; i++) {
            create("{\"name\":\"Deal " + i + "\",\"estimatedvalue\":" + (i * 10) + "}");
        }
        JsonNode r = http.get(api + "opportunities?$select=name&$orderby=estimatedvalue%20desc&$top=2&$count=true").json();
        assertEquals(5, r.get("@odata.count").asInt());
        assertEquals(2, r.get("value").size());
        assertEquals("Deal 5", r.get("value").get(0).get("name").asText());
        assertEquals("Deal 4", r.get("value").get(1).get("name").asText());
        assertNull(r.get("@odata.nextLink"), "$top disables paging");
    }

    @Test
    void maxPageSizePagesWithNextLinkUntilEveryRowIsSeenOnce() {
        List<ObjectNode> rows = new ArrayList<>();
        for (int i = 0; i < 23; i++) {
            rows.add(JSON.createObjectNode().put("name", "Paged " + i));
        }
        dv.api().seed("opportunities", rows);
        Set<String> seen = new HashSet<>();
        String url = api + "opportunities?$select=name";
        int pages = 0;
        while (url != null) {
            TestHttp.Resp r = http.get(url, "Prefer", "odata.maxpagesize=5");
            assertEquals(200, r.status());
            assertEquals("odata.maxpagesize=5", r.header("Preference-Applied"));
            for (JsonNode v : r.json().get("value")) {
                assertTrue(seen.add(v.get("opportunityid").asText()), "a row appears on one page only");
            }
            url = r.json().path("@odata.nextLink").asText(null);
            pages++;
        }
        assertEquals(23, seen.size());
        assertEquals(5, pages);
    }

    @Test
    void unknownPropertyAndWrongTypeAreOdataErrors() {
        TestHttp.Resp unknown = http.send("POST", api + "opportunities", "{\"name\":\"x\",\"bogus\":1}");
        assertEquals(400, unknown.status());
        assertEquals("0x80060888", unknown.json().at("/error/code").asText());
        TestHttp.Resp wrongType = http.send("POST", api + "opportunities", "{\"name\":\"x\",\"estimatedvalue\":\"lots\"}");
        assertEquals(400, wrongType.status());
        assertEquals("0x80048d19", wrongType.json().at("/error/code").asText());
        TestHttp.Resp badOption = http.send("POST", api + "opportunities", "{\"name\":\"x\",\"cosell_referralstatus\":7}");
        assertEquals(400, badOption.status());
        TestHttp.Resp tooLong = http.send("POST", api + "opportunities", "{\"name\":\"" + "x".repeat(301) + "\"}");
        assertEquals(400, tooLong.status());
        TestHttp.Resp malformed = http.send("POST", api + "opportunities", "{\"name\":");
        assertEquals(400, malformed.status());
    }

    @Test
    void customerLookupsBindThroughTheTypedNavigationProperty() {
        String account = http.send("POST", api + "accounts", "{\"name\":\"Contoso\"}").header("OData-EntityId");
        String path = account.substring(account.indexOf("/accounts("));
        TestHttp.Resp untyped = http.send("POST", api + "contacts", "{\"lastname\":\"Doe\",\"parentcustomerid@odata.bind\":\""
                + path + "\"}");
        assertEquals(400, untyped.status());
        assertEquals("0x80048d19", untyped.json().at("/error/code").asText());
        TestHttp.Resp typed = http.send("POST", api + "contacts?$select=fullname,_parentcustomerid_value",
                "{\"firstname\":\"Jane\",\"lastname\":\"Doe\",\"parentcustomerid_account@odata.bind\":\"" + path + "\"}",
                "Prefer", "return=representation");
        assertEquals(201, typed.status(), typed.body());
        assertEquals("Jane Doe", typed.json().get("fullname").asText());
        assertTrue(account.contains(typed.json().get("_parentcustomerid_value").asText()));
    }

    @Test
    void duplicateAlternateKeyIsRejected() {
        create("{\"name\":\"One\",\"cosell_referralid\":\"dup\"}");
        TestHttp.Resp second = http.send("POST", api + "opportunities", "{\"name\":\"Two\",\"cosell_referralid\":\"dup\"}");
        assertEquals(412, second.status());
        assertEquals("0x80060892", second.json().at("/error/code").asText());
    }

    @Test
    void winAndLoseGoThroughActionsNotThroughStatecode() {
        String id = create("{\"name\":\"Closing\"}");
        TestHttp.Resp direct = http.send("PATCH", api + "opportunities(" + id + ")", "{\"statecode\":1,\"statuscode\":3}");
        assertEquals(400, direct.status());
        TestHttp.Resp win = http.send("POST", api + "WinOpportunity", "{\"Status\":3,\"OpportunityClose\":{"
                + "\"subject\":\"Won\",\"actualrevenue\":1200,\"opportunityid@odata.bind\":\"/opportunities(" + id + ")\"}}");
        assertEquals(204, win.status());
        JsonNode won = http.get(api + "opportunities(" + id + ")?$select=statecode,statuscode,actualvalue").json();
        assertEquals(1, won.get("statecode").asInt());
        assertEquals(3, won.get("statuscode").asInt());
        assertEquals(1200, won.get("actualvalue").asInt());
        TestHttp.Resp again = http.send("POST", api + "LoseOpportunity", "{\"Status\":4,\"OpportunityClose\":{"
                + "\"opportunityid@odata.bind\":\"/opportunities(" + id + ")\"}}");
        assertEquals(400, again.status());
        assertEquals("0x80040515", again.json().at("/error/code").asText());
    }

    @Test
    void batchChangeSetIsAtomicAndResolvesContentIdReferences() {
        String ok = batch("batch_1", "changeset_a",
                part("1", "POST", "accounts", "{\"name\":\"Batch account\"}"),
                part("2", "POST", "opportunities", "{\"name\":\"Batch opp\",\"parentaccountid@odata.bind\":\"$1\"}"));
        TestHttp.Resp r = http.send("POST", api + "$batch", ok, "Content-Type", "multipart/mixed; boundary=batch_1");
        assertEquals(200, r.status());
        assertTrue(r.header("Content-Type").startsWith("multipart/mixed; boundary=batchresponse_"));
        assertTrue(r.body().contains("HTTP/1.1 204 No Content"), r.body());
        assertEquals(1, dv.api().countWhere("opportunities", "name", "Batch opp"));
        ObjectNode opp = dv.api().rows("opportunities").get(0);
        ObjectNode account = dv.api().rows("accounts").get(0);
        assertEquals(account.get("accountid").asText(), opp.get("_parentaccountid_value").asText());

        String failing = batch("batch_2", "changeset_b",
                part("1", "POST", "accounts", "{\"name\":\"Rolled back\"}"),
                part("2", "POST", "opportunities", "{\"name\":\"Bad\",\"estimatedvalue\":\"NaN\"}"));
        TestHttp.Resp f = http.send("POST", api + "$batch", failing, "Content-Type", "multipart/mixed; boundary=batch_2");
        assertEquals(400, f.status(), "without continue-on-error a failing batch answers 400 with the failed part");
        assertTrue(f.body().contains("HTTP/1.1 400 Bad Request"), f.body());
        assertFalse(f.body().contains("204 No Content"), f.body());
        assertEquals(0, dv.api().countWhere("accounts", "name", "Rolled back"), "the change set rolled back");

        String independent = "--batch_3\r\n" + part(null, "POST", "accounts", "{\"name\":\"bad\",\"nope\":1}")
                + "--batch_3\r\n" + part(null, "POST", "accounts", "{\"name\":\"Kept\"}") + "--batch_3--\r\n";
        TestHttp.Resp c = http.send("POST", api + "$batch", independent, "Content-Type",
                "multipart/mixed; boundary=batch_3", "Prefer", "odata.continue-on-error");
        assertEquals(200, c.status());
        assertTrue(c.body().contains("HTTP/1.1 400 Bad Request") && c.body().contains("HTTP/1.1 204 No Content"), c.body());
        assertEquals(1, dv.api().countWhere("accounts", "name", "Kept"));
    }

    /** The connector's change set for a new customer (ODataBatch.accountAndContact): both rows, the contact under the account. */
    @Test
    void theConnectorsNewCustomerChangeSetCreatesTheAccountAndItsContact() throws Exception {
        var batch = new dev.cosell.connector.dataverse.ODataBatch("/api/data/v9.2");
        String body = batch.accountAndContact(java.util.Map.of("name", "Change set account"),
                java.util.Map.of("lastname", "Set", "parentcustomerid_account@odata.bind", "/accounts(null)"));
        TestHttp.Resp r = http.send("POST", api + "$batch", body, "Content-Type", dev.cosell.connector.dataverse.ODataBatch.CONTENT_TYPE);
        assertEquals(200, r.status(), r.body());
        List<java.util.Map<String, Object>> rows = batch.answers(r.body());
        assertEquals(2, rows.size(), r.body());
        ObjectNode account = dv.api().rows("accounts").stream().filter(a -> a.path("name").asText().equals("Change set account"))
                .findFirst().orElseThrow();
        assertEquals(account.get("accountid").asText(), rows.get(0).get("accountid"));
        ObjectNode contact = dv.api().rows("contacts").stream().filter(c -> c.path("lastname").asText().equals("Set"))
                .findFirst().orElseThrow();
        assertEquals(contact.get("contactid").asText(), rows.get(1).get("contactid"));
        assertEquals(account.get("accountid").asText(), contact.get("_parentcustomerid_value").asText());
    }

    @Test
    void changeTrackingReturnsDeltaWithUpdatesAndDeletions() {
        String keep = create("{\"name\":\"Tracked 1\"}");
        String gone = create("{\"name\":\"Tracked 2\"}");
        TestHttp.Resp initial = http.get(api + "opportunities?$select=name", "Prefer", "odata.track-changes");
        assertEquals(200, initial.status());
        assertEquals(2, initial.json().get("value").size());
        String deltaLink = initial.json().get("@odata.deltaLink").asText();
        assertTrue(deltaLink.contains("$deltatoken="), deltaLink);

        http.send("PATCH", api + "opportunities(" + keep + ")", "{\"name\":\"Tracked 1 renamed\"}");
        http.send("DELETE", api + "opportunities(" + gone + ")", null);
        String added = create("{\"name\":\"Tracked 3\"}");

        JsonNode delta = http.get(deltaLink, "Prefer", "odata.track-changes").json();
        assertTrue(delta.get("@odata.context").asText().endsWith("/$delta"));
        Set<String> changed = new HashSet<>();
        String deleted = null;
        for (JsonNode v : delta.get("value")) {
            if (v.path("reason").asText().equals("deleted")) {
                deleted = v.get("id").asText();
                assertTrue(v.get("@odata.context").asText().endsWith("$deletedEntity"));
            } else {
                changed.add(v.get("opportunityid").asText());
            }
        }
        assertEquals(Set.of(keep, added), changed);
        assertEquals(gone, deleted);

        JsonNode quiet = http.get(delta.get("@odata.deltaLink").asText()).json();
        assertEquals(0, quiet.get("value").size(), "nothing changed since the last delta link");

        dv.api().expireDeltaTokens("opportunities");
        TestHttp.Resp expired = http.get(delta.get("@odata.deltaLink").asText());
        assertEquals(400, expired.status());
        assertEquals("0x80044352", expired.json().at("/error/code").asText());

        dv.api().setChangeTracking("opportunities", false);
        TestHttp.Resp off = http.get(api + "opportunities?$select=name", "Prefer", "odata.track-changes");
        assertEquals(400, off.status());
    }

    @Test
    void throttlingAnswers429WithRetryAfterThenRecovers() {
        dv.faults().add(Faults.Rule.throttle(7).on("GET", "/opportunities").times(2));
        TestHttp.Resp first = http.get(api + "opportunities");
        assertEquals(429, first.status());
        assertEquals("7", first.header("Retry-After"));
        assertEquals("0x80072322", first.json().at("/error/code").asText());
        assertEquals(429, http.get(api + "opportunities").status());
        assertEquals(200, http.get(api + "opportunities").status());
        assertEquals(3, dv.calls().count("GET /api/data/v9.2/{entitySet}"));
    }

    @Test
    void serviceProtectionRateLimit() {
        dv.faults().add(Faults.Rule.rateLimit(3, 60).on(null, "/api/data"));
        for (int i = 0; i < 3; i++) {
            assertEquals(200, http.get(api + "WhoAmI").status());
        }
        TestHttp.Resp limited = http.get(api + "WhoAmI");
        assertEquals(429, limited.status());
        assertTrue(Integer.parseInt(limited.header("Retry-After")) > 0);
    }

    // -------------------------------------------------------------------------------------------

    private static String create(String body) {
        TestHttp.Resp r = http.send("POST", api + "opportunities", body);
        assertEquals(204, r.status(), r.body());
        String e = r.header("OData-EntityId");
        return e.substring(e.indexOf('(') + 1, e.indexOf(')'));
    }

    private static Set<String> names(String filter) {
        TestHttp.Resp r = http.get(api + "opportunities?$select=name&$filter=" + enc(filter));
        assertEquals(200, r.status(), r.body());
        Set<String> out = new HashSet<>();
        r.json().get("value").forEach(v -> out.add(v.get("name").asText()));
        return out;
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static String part(String contentId, String method, String path, String body) {
        return "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
                + (contentId == null ? "" : "Content-ID: " + contentId + "\r\n") + "\r\n" + method + " " + api + path + " HTTP/1.1\r\nContent-Type: application/json;type=entry\r\n\r\n"
                + body + "\r\n";
    }

    private static String batch(String boundary, String changeset, String... parts) {
        StringBuilder sb = new StringBuilder("--" + boundary + "\r\nContent-Type: multipart/mixed; boundary=" + changeset
                + "\r\n\r\n");
        for (String p : parts) {
            sb.append("--").append(changeset).append("\r\n").append(p);
        }
        sb.append("--").append(changeset).append("--\r\n\r\n--").append(boundary).append("--\r\n");
        return sb.toString();
    }
}
