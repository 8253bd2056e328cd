package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import javax.sql.DataSource;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.Faults;
import dev.cosell.connector.sandbox.dataverse.DataverseApi;
import dev.cosell.connector.sandbox.partnercenter.PartnerCenterEmulator;
import dev.cosell.connector.sandbox.partnercenter.WebhookDispatcher;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Partner Center → Dynamics 365 end to end: Microsoft creates or changes a referral in the Partner
 * Center emulator, the emulator posts the signed webhook to the running connector, and the
 * opportunity appears or changes in the Dataverse emulator. Assertions read the emulators' records
 * and call counters and the connector's ledger.
 */
class PartnerCenterToDynamicsTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static ConnectorHarness harness;
    static ConnectorRuntime runtime;
    static PartnerCenterEmulator pc;
    static DataverseApi dv;

    @BeforeAll
    static void start() throws Exception {
        harness = new ConnectorHarness().with("sync.retry.initial-delay-ms", "50");
        runtime = harness.start();
        pc = harness.sandbox.partnerCenter();
        dv = harness.sandbox.dataverse().api();
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
        pc.faults().clear();
    }

    static ObjectNode referral(String customer, String size) {
        return dev.cosell.connector.sandbox.partnercenter.SampleReferrals.coSell(customer, customer + " co-sell", size);
    }

    List<ObjectNode> opportunitiesFor(String referralId) {
        return dv.rows("opportunities").stream().filter(o -> referralId.equals(o.path("cosell_referralid").asText()))
                .toList();
    }

    static long dvCalls(String method) {
        return harness.sandbox.dataverse().calls().entries().stream().filter(e -> e.method().equals(method)
                && e.uri().contains("/opportunities")).count();
    }

    static DataSource store() {
        return runtime.context().getRegistry().lookupByNameAndType("dataSource", DataSource.class);
    }

    static Map<String, Object> ledger(String referralId) {
        return runtime.context().getRegistry().lookupByNameAndType("syncLedger", dev.cosell.connector.ledger.SyncLedger.class)
                .find(referralId);
    }

    static long count(String sql) throws Exception {
        try (var c = store().getConnection(); var s = c.createStatement(); var rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void newReferralBecomesExactlyOneOpportunityEvenWhenTheWebhookComesThreeTimes() throws Exception {
        ObjectNode created = pc.createAsMicrosoft(harness.tenant(), referral("Fabrikam One", "51to250employees"));
        String id = created.path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> opportunitiesFor(id).size() == 1 && ledger(id) != null);

        ObjectNode opp = opportunitiesFor(id).get(0);
        assertEquals("✔ Fabrikam One co-sell", opp.path("name").asText());
        assertEquals(50000, opp.path("estimatedvalue").asInt());
        assertEquals("2027-03-31", opp.path("estimatedclosedate").asText());
        assertTrue(opp.path("cosell_referrallink").asText().endsWith("/referrals/" + id));
        assertTrue(opp.path("cosell_iscosell").asBoolean());
        assertEquals(100000001, opp.path("cosell_referralstatus").asInt());
        assertEquals("Azure-AI", opp.path("cosell_products").asText());
        assertTrue(opp.path("cosell_audit").asText().contains("created from referral " + id));
        String accountId = opp.path("_parentaccountid_value").asText();
        ObjectNode account = dv.row("accounts", accountId);
        assertEquals("Fabrikam One", account.path("name").asText());
        assertEquals(51, account.path("numberofemployees").asInt());
        ObjectNode contact = dv.row("contacts", opp.path("_parentcontactid_value").asText());
        assertEquals("sue@fabrikam-one.example", contact.path("emailaddress1").asText());
        assertEquals(opp.path("opportunityid").asText(), ledger(id).get("opportunity_id"));

        // Partner Center redelivers the same event twice more.
        WebhookDispatcher.Delivery d = pc.webhooks().deliveries().stream().filter(x -> x.resourceUri.endsWith(id))
                .findFirst().orElseThrow();
        long before = count("select count(*) from webhook_inbox");
        pc.webhooks().redeliver(d);
        pc.webhooks().redeliver(d);
        await().atMost(Duration.ofSeconds(10)).until(() -> count("select count(*) from webhook_inbox where state = 'duplicate'"
                + " and resource_id = '" + id + "'") == 2);
        assertEquals(before + 2, count("select count(*) from webhook_inbox"));
        assertEquals(1, opportunitiesFor(id).size());
        assertEquals(1, dv.rows("accounts").stream().filter(a -> a.path("name").asText().equals("Fabrikam One")).count());
    }

    @Test
    void aReferralOfAKnownCustomerCostsOnePartnerCenterReadAndTwoDataverseCalls() throws Exception {
        // The customer is known: the first referral creates its account and contact.
        String first = pc.createAsMicrosoft(harness.tenant(), referral("Known Customer", "10to50employees")).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> ledger(first) != null);
        var dvCalls = harness.sandbox.dataverse().calls();
        long before = dvCalls.entries().size();
        long pcBefore = pc.calls().entries().size();
        String id = pc.createAsMicrosoft(harness.tenant(), referral("Known Customer", "10to50employees")).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> ledger(id) != null);
        var calls = dvCalls.entries().subList((int) before, dvCalls.entries().size()).stream()
                .filter(e -> !e.uri().contains("deltatoken") && !e.uri().contains("WhoAmI")).toList();
        assertEquals(List.of("POST $batch", "PATCH opportunities"), calls.stream()
                .map(e -> e.method() + " " + (e.uri().contains("$batch") ? "$batch" : e.uri().contains("opportunities")
                        ? "opportunities" : e.uri())).toList(), "account and contact read in one $batch, then the upsert");
        assertEquals(1, pc.calls().entries().subList((int) pcBefore, pc.calls().entries().size()).stream()
                .filter(e -> e.uri().contains(id)).count(), "one read of the referral");
        ObjectNode opp = opportunitiesFor(id).get(0);
        assertEquals(opportunitiesFor(first).get(0).path("_parentaccountid_value").asText(),
                opp.path("_parentaccountid_value").asText(), "the same account");
        assertEquals(opportunitiesFor(first).get(0).path("_parentcontactid_value").asText(),
                opp.path("_parentcontactid_value").asText(), "the same contact");
    }

    @Test
    void microsoftSideChangesUpdateTheOpportunityAndNoChangeMeansNoWrite() throws Exception {
        ObjectNode created = pc.createAsMicrosoft(harness.tenant(), referral("Contoso Two", "10to50employees"));
        String id = created.path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> ledger(id) != null);

        long patches = dvCalls("PATCH");
        ObjectNode patch = JSON.createObjectNode();
        patch.putObject("details").put("dealValue", 75000);
        pc.updateAsMicrosoft(harness.tenant(), id, patch);
        await().atMost(Duration.ofSeconds(10)).until(() -> opportunitiesFor(id).get(0).path("estimatedvalue").asInt() == 75000);
        assertEquals(patches + 1, dvCalls("PATCH"));
        assertTrue(opportunitiesFor(id).get(0).path("cosell_audit").asText().startsWith(
                opportunitiesFor(id).get(0).path("cosell_audit").asText().substring(0, 20)));
        assertTrue(opportunitiesFor(id).get(0).path("cosell_audit").asText().contains("updated"));

        // A change to a field no mapping uses: the referral is read, nothing is written.
        long patchesBefore = dvCalls("PATCH");
        long audits = count("select count(*) from sync_audit where referral_id = '" + id + "' and action = 'unchanged'");
        pc.updateAsMicrosoft(harness.tenant(), id, JSON.createObjectNode().put("qualification", "Direct"));
        await().atMost(Duration.ofSeconds(10)).until(() -> count("select count(*) from sync_audit where referral_id = '"
                + id + "' and action = 'unchanged'") == audits + 1);
        assertEquals(patchesBefore, dvCalls("PATCH"));

        // Microsoft closes it: status columns follow.
        pc.updateAsMicrosoft(harness.tenant(), id, JSON.createObjectNode().put("status", "Closed").put("substatus", "Lost"));
        await().atMost(Duration.ofSeconds(10)).until(() -> opportunitiesFor(id).get(0).path("cosell_referralsubstatus")
                .asInt() == 100000005);
        assertEquals("closed", ledger(id).get("state"));
    }

    @Test
    void declinedAfterLinkingMarksTheOpportunityAndClosedBeforeLinkingIsSkipped() throws Exception {
        String id = pc.createAsMicrosoft(harness.tenant(), referral("Declined Seven", "10to50employees")).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> ledger(id) != null);
        pc.updateAsMicrosoft(harness.tenant(), id, JSON.createObjectNode().put("status", "Closed").put("substatus", "Declined"));
        await().atMost(Duration.ofSeconds(10)).until(() -> opportunitiesFor(id).get(0).path("cosell_referralsubstatus")
                .asInt() == 100000006);
        assertEquals(100000003, opportunitiesFor(id).get(0).path("cosell_referralstatus").asInt());

        // Created and closed before the connector heard of it (e.g. webhooks were down): not brought in.
        ObjectNode quiet = pc.referrals().create(harness.tenant(), referral("Closed Eight", "10to50employees"), "org", "Org");
        String closedId = quiet.path("id").asText();
        pc.referrals().merge(harness.tenant(), closedId, JSON.createObjectNode().put("status", "Closed").put("substatus", "Expired"));
        pc.webhooks().publish(harness.tenant(), "referral-updated", "referral",
                "https://api.partnercenter.microsoft.com/engagements/v1/referrals/" + closedId, "c-" + closedId);
        await().atMost(Duration.ofSeconds(10)).until(() -> count("select count(*) from sync_audit where referral_id = '"
                + closedId + "' and action = 'skipped' and detail like 'closed (Expired)%'") == 1);
        assertTrue(opportunitiesFor(closedId).isEmpty());
    }

    @Test
    void concurrentEditInTheCrmIsReadAgainAndWritten() throws Exception {
        String id = pc.createAsMicrosoft(harness.tenant(), referral("Conflict Nine", "10to50employees")).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> ledger(id) != null);
        String oppId = (String) ledger(id).get("opportunity_id");
        // Between our read and our write, someone changes the opportunity: the first PATCH gets 412.
        harness.sandbox.dataverse().faults().add(Faults.Rule.status(412).on("PATCH", "opportunities\\(" + oppId).times(1));
        long gets = harness.sandbox.dataverse().calls().entries().stream().filter(e -> e.method().equals("GET")
                && e.uri().contains(oppId)).count();
        ObjectNode patch = JSON.createObjectNode();
        patch.putObject("details").put("dealValue", 99000);
        pc.updateAsMicrosoft(harness.tenant(), id, patch);
        await().atMost(Duration.ofSeconds(10)).until(() -> opportunitiesFor(id).get(0).path("estimatedvalue").asInt() == 99000);
        assertEquals(1, opportunitiesFor(id).size());
        long getsAfter = harness.sandbox.dataverse().calls().entries().stream().filter(e -> e.method().equals("GET")
                && e.uri().contains(oppId)).count();
        assertEquals(gets + 2, getsAfter, "read once, and once more after the 412");
        assertEquals(1, harness.sandbox.dataverse().calls().entries().stream().filter(e -> e.status() == 412
                && e.uri().contains(oppId)).count());
    }

    @Test
    void nonCoSellReferralsAreSkippedWithTheReason() throws Exception {
        ObjectNode independent = referral("Northwind Three", "10to50employees").put("type", "Independent");
        String id = pc.createAsMicrosoft(harness.tenant(), independent).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> count("select count(*) from sync_audit where referral_id = '" + id
                + "' and action = 'skipped' and detail like '%not a co-sell referral%'") == 1);
        assertTrue(opportunitiesFor(id).isEmpty());
    }

    @Test
    void throttlingIsRetriedWithRetryAfterAndAppliedOnce() throws Exception {
        harness.sandbox.dataverse().faults().add(Faults.Rule.throttle(1).on("PATCH", "opportunities").times(2));
        String id = pc.createAsMicrosoft(harness.tenant(), referral("Throttled Four", "10to50employees")).path("id").asText();
        await().atMost(Duration.ofSeconds(20)).until(() -> ledger(id) != null);
        assertEquals(1, opportunitiesFor(id).size());
        long throttled = harness.sandbox.dataverse().calls().entries().stream()
                .filter(e -> e.status() == 429 && e.uri().contains(id)).count();
        assertEquals(2, throttled);
    }

    @Test
    void unknownEnumGoesToTheDeadLetterNamingTheFieldAndReplayAppliesItOnceFixed() throws Exception {
        // A value the published contract does not have (Microsoft may add sizes): the mapping names it.
        String id = pc.createBeyondContract(harness.tenant(), referral("Odd Size Six", "galactic")).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> count("select count(*) from dead_letter where state = 'open'"
                + " and error like '%galactic%customerProfile.size%'") == 1);
        assertTrue(opportunitiesFor(id).isEmpty());
        assertEquals(0, count("select count(*) from webhook_inbox where state = 'received'"));
        assertEquals(1, count("select count(*) from webhook_inbox where state = 'dead' and resource_id = '" + id + "'"));

        // The data is put right at the source (no new event), then the dead letter is replayed.
        ObjectNode fix = JSON.createObjectNode();
        fix.putObject("customerProfile").put("size", "10to50employees");
        pc.referrals().merge(harness.tenant(), id, fix);
        long deadId = firstLong("select id from dead_letter where state = 'open' and error like '%galactic%'");
        var deadLetters = runtime.context().getRegistry().lookupByNameAndType("deadLetters",
                dev.cosell.connector.ledger.DeadLetters.class);
        assertEquals(1, deadLetters.replay(deadId));
        await().atMost(Duration.ofSeconds(10)).until(() -> opportunitiesFor(id).size() == 1 && ledger(id) != null);
        // Replaying again changes nothing: the letter is no longer open.
        assertEquals(0, deadLetters.replay(deadId));
        assertEquals(1, opportunitiesFor(id).size());
    }

    static long firstLong(String sql) throws Exception {
        try (var c = store().getConnection(); var s = c.createStatement(); var rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void badSignatureMalformedAndOversizedPostsAreRejected() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String url = harness.callbackUrl();
        String event = "{\"EventName\":\"referral-created\",\"ResourceUri\":\"https://api.partnercenter.microsoft.com/engagements/v1/referrals/abc\"}";
        HttpResponse<String> unsigned = http.send(HttpRequest.newBuilder(URI.create(url)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(event)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(401, unsigned.statusCode());
        HttpResponse<String> forged = http.send(HttpRequest.newBuilder(URI.create(url)).header("Content-Type", "application/json")
                .header("Authorization", "Signature AAAA")
                .header("x-ms-certificate-url", pc.certificateUrl()).header("x-ms-signature-algorithm", "rsa-sha256")
                .POST(HttpRequest.BodyPublishers.ofString(event)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(401, forged.statusCode());
        HttpResponse<String> huge = http.send(HttpRequest.newBuilder(URI.create(url))
                .POST(HttpRequest.BodyPublishers.ofString("x".repeat(70_000))).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(413, huge.statusCode());
        assertEquals(0, count("select count(*) from webhook_inbox where resource_id = 'abc'"));

        // Correctly signed, but not a usable event: 400, nothing recorded.
        for (String body : List.of("{\"EventName\": \"referral-created\", ", "[1,2,3]",
                "{\"EventName\":\"referral-created\",\"ResourceUri\":\"https://x.example/not-a-referral\"}")) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).header("Content-Type", "application/json")
                    .header("Authorization", "Signature " + sign(body)).header("x-ms-certificate-url", pc.certificateUrl()).header("x-ms-signature-algorithm",
                    "rsa-sha256").POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(400, r.statusCode(), body + " -> " + r.body());
        }
        assertEquals(0, count("select count(*) from webhook_inbox where resource_id = 'abc' or body like '[1,2,3]%'"));
    }

    static String sign(String body) throws Exception {
        java.security.Signature s = java.security.Signature.getInstance("SHA256withRSA");
        s.initSign(harness.sandbox.pki().signingKey());
        s.update(body.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return java.util.Base64.getEncoder().encodeToString(s.sign());
    }
}
