package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.CallLog;
import dev.cosell.connector.sandbox.ContractSchema;
import dev.cosell.connector.sandbox.dataverse.DataverseApi;
import dev.cosell.connector.sandbox.partnercenter.PartnerCenterEmulator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Dynamics 365 → Partner Center as the published contract has it, end to end over HTTPS: a seller's
 * opportunity in the Dataverse emulator, the requests the connector makes of the Partner Center
 * emulator (which refuses anything outside the contract) captured and read.
 */
class DynamicsContractTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static ConnectorHarness harness;
    static PartnerCenterEmulator pc;
    static DataverseApi dv;
    static Seller seller;

    @BeforeAll
    static void start() throws Exception {
        harness = new ConnectorHarness().with("sync.poll-interval-ms", "200").with("sync.retry.initial-delay-ms", "50");
        harness.start();
        pc = harness.sandbox.partnerCenter();
        dv = harness.sandbox.dataverse().api();
        seller = new Seller(harness);
        pc.webhooks().setFirstRetryDelayMs(50);
        pc.calls().capture(true);
        harness.awaitWebhookRegistration();
    }

    @AfterAll
    static void stop() {
        pc.calls().capture(false);
        harness.close();
    }

    static List<CallLog.Captured> requests(String method, String referralId) {
        return pc.calls().captured().stream().filter(c -> c.method().equals(method) && c.uri().contains(referralId)).toList();
    }

    static JsonNode json(String body) {
        try {
            return JSON.readTree(body);
        } catch (Exception e) {
            throw new AssertionError(body, e);
        }
    }

    static String currencyId(String iso) {
        return dv.rows("transactioncurrencies").stream().filter(c -> iso.equals(c.path("isocurrencycode").asText()))
                .findFirst().orElseThrow().path("transactioncurrencyid").asText();
    }

    @Test
    void anOpportunityWithOneProductSendsItsSolutionsAsAListOfOne() {
        String id = seller.opportunity("Single Product", true, "Azure");
        ObjectNode referral = seller.referralOf(id);
        JsonNode solutions = referral.path("details").path("requirements").path("solutions");
        assertTrue(solutions.isArray(), solutions.toString());
        assertEquals(1, solutions.size());
        CallLog.Captured post = pc.calls().captured().stream().filter(c -> c.method().equals("POST")
                && c.requestBody() != null && c.requestBody().contains(id)).findFirst().orElseThrow();
        assertEquals(List.of(), ContractSchema.partnerCenter().problems(ContractSchema.Shape.NewReferral, json(post.requestBody())),
                "the POST body fits CreateReferral");
    }

    @Test
    void aSellersChangeIsAPatchOfTheChangedFieldsOnlyWithIfMatch() {
        String id = seller.opportunity("Patch Only", true, "Azure,PowerBI");
        String referralId = seller.referralOf(id).path("id").asText();
        String etag = seller.ledger().findByOpportunity(id).get("referral_etag").toString();
        seller.edit(id, JSON.createObjectNode().put("estimatedvalue", 64000));
        await().atMost(Duration.ofSeconds(10)).until(() -> pc.referrals().get(harness.tenant(), referralId)
                .path("details").path("dealValue").asInt() == 64000);
        List<CallLog.Captured> patches = requests("PATCH", referralId);
        assertEquals(1, patches.size());
        assertEquals(List.of(), requests("PUT", referralId), "the deprecated PUT is not used");
        JsonNode ops = json(patches.get(0).requestBody());
        assertEquals("[{\"op\":\"replace\",\"path\":\"/details/dealValue\",\"value\":64000}]", ops.toString());
        assertEquals(etag, patches.get(0).requestHeaders().get("If-Match"));
        assertEquals("return=representation", patches.get(0).requestHeaders().get("Prefer"));
        assertEquals(200, patches.get(0).status());
    }

    @Test
    void microsoftsEditOfAnotherFieldSurvivesASellersPatch() {
        String id = seller.opportunity("Both Edit", true, "Azure");
        String referralId = seller.referralOf(id).path("id").asText();
        // Microsoft moves the close date (a field the partner owns; its webhook lost), the seller changes
        // the deal value: the seller's unchanged close date must not overwrite Microsoft's.
        pc.webhooks().setEnabled(false);
        ObjectNode date = JSON.createObjectNode();
        date.putObject("details").put("closingDateTime", "2027-12-31T00:00:00Z");
        pc.updateAsMicrosoft(harness.tenant(), referralId, date);
        pc.webhooks().setEnabled(true);
        seller.edit(id, JSON.createObjectNode().put("estimatedvalue", 52000));
        await().atMost(Duration.ofSeconds(10)).until(() -> pc.referrals().get(harness.tenant(), referralId)
                .path("details").path("dealValue").asInt() == 52000);
        assertEquals("2027-12-31T00:00:00Z", pc.referrals().get(harness.tenant(), referralId)
                .path("details").path("closingDateTime").asText(), "a field the seller did not change is never sent");
        List<CallLog.Captured> patches = requests("PATCH", referralId);
        assertEquals(List.of(412, 200), patches.stream().map(CallLog.Captured::status).toList(),
                "our copy was stale (If-Match): read again, patched again");
        for (CallLog.Captured p : patches) {
            assertEquals("/details/dealValue", json(p.requestBody()).get(0).path("path").asText());
            assertEquals(1, json(p.requestBody()).size());
        }
    }

    @Test
    void salesStageAndCurrencyGoOutOnTheirPatchPaths() {
        String id = seller.opportunity("Stage And Money", true, "Azure");
        String referralId = seller.referralOf(id).path("id").asText();
        seller.edit(id, JSON.createObjectNode().put("salesstage", 2)
                .put("transactioncurrencyid@odata.bind", "/transactioncurrencies(" + currencyId("EUR") + ")"));
        await().atMost(Duration.ofSeconds(10)).until(() -> "Propose".equals(pc.referrals().get(harness.tenant(), referralId)
                .path("salesStage").asText()));
        assertEquals("EUR", pc.referrals().get(harness.tenant(), referralId).path("details").path("currency").asText());
        JsonNode ops = json(requests("PATCH", referralId).get(0).requestBody());
        List<String> paths = new java.util.ArrayList<>();
        ops.forEach(o -> paths.add(o.path("path").asText()));
        assertEquals(List.of("/details/currency", "/salesStage"), paths.stream().sorted().toList());
    }

    @Test
    void anOpportunityInYenBecomesAReferralInYen() {
        String id = seller.opportunity("Yen Deal", false, "Azure");
        seller.edit(id, JSON.createObjectNode().put("cosell_syncwithpartnercenter", true)
                .put("transactioncurrencyid@odata.bind", "/transactioncurrencies(" + currencyId("JPY") + ")"));
        assertEquals("JPY", seller.referralOf(id).path("details").path("currency").asText());
    }

    @Test
    void aSellerRequestsADealRegistrationOnceAndSeesItsStatus() {
        String id = seller.opportunity("Register Me", true, "SOL-4711");
        String referralId = seller.referralOf(id).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> seller.handledCurrentVersion(id));
        seller.edit(id, JSON.createObjectNode().put("cosell_requestdealregistration", true));
        await().atMost(Duration.ofSeconds(10)).until(() -> !dv.row("opportunities", id).path("cosell_requestdealregistration")
                .asBoolean() && "ReviewPending".equals(dv.row("opportunities", id).path("cosell_dealregistrationstatus").asText()));
        JsonNode registrations = pc.referrals().get(harness.tenant(), referralId).path("registrations");
        assertEquals(1, registrations.size());
        assertEquals("SOL-4711", registrations.get(0).path("solutionDetails").get(0).path("id").asText());
        assertEquals(40000, registrations.get(0).path("contract").path("value").asInt());
        assertTrue(dv.row("opportunities", id).path("cosell_audit").asText().contains("deal registration requested"));
        // Asked again: the referral has one, none is requested twice.
        seller.edit(id, JSON.createObjectNode().put("cosell_requestdealregistration", true));
        await().atMost(Duration.ofSeconds(10)).until(() -> !dv.row("opportunities", id).path("cosell_requestdealregistration").asBoolean());
        assertEquals(1, pc.referrals().get(harness.tenant(), referralId).path("registrations").size());
        assertFalse(requests("PATCH", referralId).stream().filter(p -> p.requestBody().contains("/registrations/-")).count() > 1);
    }

    @Test
    void aPatchAnswered204IsReadBackSoItsEchoIsRecognised() {
        String id = seller.opportunity("Answered 204", true, "Azure");
        String referralId = seller.referralOf(id).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> seller.handledCurrentVersion(id));
        pc.setPatchAlways204(true); // as the swagger declares PatchReferralById
        try {
            long writes = dvWrites(id, referralId);
            seller.edit(id, JSON.createObjectNode().put("estimatedvalue", 71000));
            await().atMost(Duration.ofSeconds(10)).until(() -> pc.referrals().get(harness.tenant(), referralId)
                    .path("details").path("dealValue").asInt() == 71000);
            assertEquals(204, requests("PATCH", referralId).get(0).status());
            String etag = pc.referrals().get(harness.tenant(), referralId).path("eTag").asText();
            await().atMost(Duration.ofSeconds(10)).until(() -> etag.equals(seller.ledger().findByOpportunity(id).get("referral_etag")));
            // The webhook of our own PATCH comes and goes: it writes nothing to the opportunity.
            await().atMost(Duration.ofSeconds(10)).until(() -> pc.webhooks().deliveries().stream()
                    .filter(d -> d.resourceUri.endsWith(referralId)).allMatch(d -> "completed".equals(d.status)));
            await().during(Duration.ofMillis(600)).atMost(Duration.ofSeconds(3)).until(() -> dvWrites(id, referralId) == writes);
        } finally {
            pc.setPatchAlways204(false);
        }
    }

    @Test
    void whatMicrosoftChangedMeanwhileReachesTheOpportunityAfterTheSellersPatch() {
        String id = seller.opportunity("Team Changed", true, "Azure");
        String referralId = seller.referralOf(id).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> seller.handledCurrentVersion(id));
        // Microsoft adds a seller to its team (its webhook lost); the seller changes the deal value.
        pc.webhooks().setEnabled(false);
        ObjectNode team = JSON.createObjectNode();
        team.putArray("team").addObject().put("firstName", "Ada").put("lastName", "Lovelace").put("email", "ada@microsoft.example");
        pc.updateAsMicrosoft(harness.tenant(), referralId, team);
        pc.webhooks().setEnabled(true);
        seller.edit(id, JSON.createObjectNode().put("estimatedvalue", 58000));
        await().atMost(Duration.ofSeconds(10)).until(() -> dv.row("opportunities", id).path("cosell_microsoftteam").asText()
                .contains("Ada Lovelace"));
        assertEquals(58000, pc.referrals().get(harness.tenant(), referralId).path("details").path("dealValue").asInt());
        assertEquals(58000, dv.row("opportunities", id).path("estimatedvalue").asInt(), "the seller's value stays");
    }

    @Test
    void aRefusedTransitionIsLeftOutAndTheRestOfTheChangeIsSent() {
        ObjectNode declined = dev.cosell.connector.sandbox.partnercenter.SampleReferrals.coSell("Refused Move", "Refused Move",
                "10to50employees");
        String referralId = pc.createAsMicrosoft(harness.tenant(), declined).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> seller.ledger().find(referralId) != null);
        String id = (String) seller.ledger().find(referralId).get("opportunity_id");
        pc.updateAsMicrosoft(harness.tenant(), referralId, JSON.createObjectNode().put("status", "Closed").put("substatus", "Expired"));
        await().atMost(Duration.ofSeconds(10)).until(() -> dv.row("opportunities", id).path("cosell_referralsubstatus").asInt() == 100000007);
        await().atMost(Duration.ofSeconds(10)).until(() -> seller.handledCurrentVersion(id));
        // The seller accepts (Closed cannot move to Active) and raises the value in one save.
        seller.edit(id, JSON.createObjectNode().put("cosell_referralaction", 100000001).put("estimatedvalue", 90000));
        await().atMost(Duration.ofSeconds(10)).until(() -> pc.referrals().get(harness.tenant(), referralId)
                .path("details").path("dealValue").asInt() == 90000);
        assertEquals("Expired", pc.referrals().get(harness.tenant(), referralId).path("substatus").asText());
        await().atMost(Duration.ofSeconds(10)).until(() -> dv.row("opportunities", id).path("cosell_audit").asText().contains("refused"));
        List<Integer> statuses = requests("PATCH", referralId).stream().map(CallLog.Captured::status).toList();
        assertEquals(List.of(400, 200), statuses, "the transition refused once, the value sent without it");
        // Further polls plan nothing more: the refused transition is not sent again until the seller asks again.
        await().atMost(Duration.ofSeconds(10)).until(() -> seller.handledCurrentVersion(id));
        long polls = harness.sandbox.dataverse().calls().entries().stream().filter(e -> e.uri().contains("deltatoken")).count();
        await().atMost(Duration.ofSeconds(10)).until(() -> harness.sandbox.dataverse().calls().entries().stream().filter(e -> e.uri().contains("deltatoken")).count() >= polls + 3);
        assertEquals(2, requests("PATCH", referralId).size());
    }

    @Test
    void aDealRegistrationTheOpportunityCannotSupportIsExplainedNotRetried() {
        String id = seller.opportunity("Register Without Value", true, "SOL-1");
        String referralId = seller.referralOf(id).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> seller.handledCurrentVersion(id));
        seller.edit(id, JSON.createObjectNode().putNull("estimatedvalue").put("cosell_requestdealregistration", true));
        await().atMost(Duration.ofSeconds(10)).until(() -> dv.row("opportunities", id).path("cosell_audit").asText()
                .contains("deal registration not requested: missing required field Est. revenue"));
        assertFalse(dv.row("opportunities", id).path("cosell_requestdealregistration").asBoolean(), "the request flag cleared");
        assertEquals(0, pc.referrals().get(harness.tenant(), referralId).path("registrations").size());
    }

    @Test
    void aRegistrationAskedForAtCreationKeepsTheCreationsAuditLine() {
        String id = seller.opportunity("Register At Once", false, "SOL-2");
        seller.edit(id, JSON.createObjectNode().put("cosell_syncwithpartnercenter", true).put("cosell_requestdealregistration", true));
        String referralId = seller.referralOf(id).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> "ReviewPending".equals(dv.row("opportunities", id)
                .path("cosell_dealregistrationstatus").asText()));
        String audit = dv.row("opportunities", id).path("cosell_audit").asText();
        assertTrue(audit.contains("referral " + referralId + " created") && audit.contains("deal registration requested"), audit);
    }

    @Test
    void aNameThatTheCheckMarkWouldMakeTooLongIsCutToFit() {
        String id = seller.opportunity("Long Name", false, "Azure");
        seller.edit(id, JSON.createObjectNode().put("name", "L".repeat(299)).put("cosell_syncwithpartnercenter", true));
        seller.referralOf(id);
        await().atMost(Duration.ofSeconds(10)).until(() -> dv.row("opportunities", id).path("name").asText().startsWith("✔ "));
        String name = dv.row("opportunities", id).path("name").asText();
        assertEquals(300, name.length());
        assertTrue(name.endsWith("…"), name);
    }

    static long dvWrites(String opportunityId, String referralId) {
        return harness.sandbox.dataverse().calls().entries().stream().filter(e -> (e.method().equals("PATCH") || e.method().equals("POST"))
                && (e.uri().contains(opportunityId) || e.uri().contains(referralId))).count();
    }
}
