package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.CallLog;
import dev.cosell.connector.sandbox.dataverse.DataverseApi;
import dev.cosell.connector.sandbox.partnercenter.PartnerCenterEmulator;
import dev.cosell.connector.ledger.SyncLedger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Dynamics 365 → Partner Center: sellers change opportunities in the Dataverse emulator, the
 * connector's poll (change tracking) picks them up and the referrals change in the Partner Center
 * emulator. Calls are counted by the emulators; "no echo" means no write came back.
 */
class DynamicsToPartnerCenterTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static ConnectorHarness harness;
    static ConnectorRuntime runtime;
    static PartnerCenterEmulator pc;
    static DataverseApi dv;

    @BeforeAll
    static void start() throws Exception {
        harness = new ConnectorHarness().with("sync.poll-interval-ms", "200").with("sync.retry.initial-delay-ms", "50");
        runtime = harness.start();
        pc = harness.sandbox.partnerCenter();
        dv = harness.sandbox.dataverse().api();
        seller = new Seller(harness);
        pc.webhooks().setFirstRetryDelayMs(50);
        harness.awaitWebhookRegistration();
    }

    @AfterAll
    static void stop() {
        harness.close();
    }

    static Seller seller;

    static SyncLedger ledger() {
        return seller.ledger();
    }

    static String sellerOpportunity(String name, boolean flagged, String products) {
        return seller.opportunity(name, flagged, products);
    }

    static void edit(String opportunityId, ObjectNode changes) {
        seller.edit(opportunityId, changes);
    }

    static List<ObjectNode> referralsFor(String opportunityId) {
        return seller.referralsFor(opportunityId);
    }

    static ObjectNode referralOf(String opportunityId) {
        return seller.referralOf(opportunityId);
    }

    static long pcCalls(String method) {
        return pc.calls().entries().stream().filter(e -> e.method().equals(method) && e.uri().contains("/engagements/referrals"))
                .count();
    }

    static long dvOpportunityWrites() {
        return harness.sandbox.dataverse().calls().entries().stream().filter(e -> (e.method().equals("PATCH")
                || e.method().equals("POST")) && e.uri().contains("opportunities")).count();
    }

    @Test
    void flaggedOpportunityBecomesExactlyOneReferralWrittenBackToTheCrm() {
        String id = sellerOpportunity("Tailspin Toys analytics", true, "Azure-Synapse, PowerBI");
        ObjectNode referral = referralOf(id);
        assertEquals("Tailspin Toys analytics", referral.path("name").asText());
        assertEquals("Shared", referral.path("type").asText());
        assertEquals("Tailspin Toys analytics Ltd", referral.path("customerProfile").path("name").asText());
        assertEquals(40000, referral.path("details").path("dealValue").asInt());
        assertEquals("2027-04-30T00:00:00Z", referral.path("details").path("closingDateTime").asText());
        assertEquals(List.of("Azure-Synapse", "PowerBI"), referral.path("details").path("requirements").path("solutions")
                .findValuesAsText("id"));
        // "How can Microsoft help?" is the contract's assistanceRequestCode (choice 100000001).
        assertEquals("CustomerTechnicalArchitecture", referral.path("inviteContext").path("assistanceRequestCode").asText());

        await().atMost(Duration.ofSeconds(10)).until(() -> dv.row("opportunities", id).hasNonNull("cosell_referralid"));
        ObjectNode opp = dv.row("opportunities", id);
        assertEquals(referral.path("id").asText(), opp.path("cosell_referralid").asText());
        assertTrue(opp.path("cosell_referrallink").asText().endsWith(referral.path("id").asText()));
        assertEquals("✔ Tailspin Toys analytics", opp.path("name").asText());
        assertTrue(opp.path("cosell_audit").asText().contains("referral " + referral.path("id").asText() + " created"));

        // Unset, set again: still one referral.
        edit(id, JSON.createObjectNode().put("cosell_syncwithpartnercenter", false));
        edit(id, JSON.createObjectNode().put("cosell_syncwithpartnercenter", true));
        long posts = pcCalls("POST");
        await().atMost(Duration.ofSeconds(10)).until(() -> seller.handledCurrentVersion(id));
        assertEquals(1, referralsFor(id).size());
        assertEquals(posts, pcCalls("POST"));
    }

    @Test
    void aFlaggedOpportunityCostsOnePartnerCenterCall() {
        long searches = pc.calls().count("GET /v1.0/engagements/referrals");
        // As Partner Center does: the "created" event comes after the POST was answered (the sandbox
        // otherwise posts it while still handling the POST, and its read is then legitimately needed).
        pc.webhooks().setDeliveryDelayMs(500);
        String id;
        String referralId;
        try {
            id = sellerOpportunity("One Call Ltd", true, "Azure");
            referralId = referralOf(id).path("id").asText();
        } finally {
            pc.webhooks().setDeliveryDelayMs(0);
        }
        // Partner Center's "created" webhook for our own POST has been delivered and handled.
        await().atMost(Duration.ofSeconds(10)).until(() -> pc.webhooks().deliveries().stream()
                .anyMatch(d -> d.resourceUri.endsWith(referralId) && "completed".equals(d.status)));
        await().atMost(Duration.ofSeconds(10)).until(() -> harness.runtime().context().getRegistry()
                .lookupByNameAndType("partnerCenterEventRepository", org.apache.camel.spi.IdempotentRepository.class)
                .contains("referral-created|" + referralId + "|" + pc.webhooks().deliveries().stream()
                        .filter(d -> d.resourceUri.endsWith(referralId)).findFirst().map(d -> changedAt(d.body)).orElseThrow()));
        assertEquals(searches, pc.calls().count("GET /v1.0/engagements/referrals"),
                "a first attempt does not look for an earlier one's referral");
        assertEquals(0, callsFor(referralId, "GET"), "the created event for our own referral is not read back");
    }

    @Test
    void aWebhookForAReferralWeAreWritingWaitsForTheWriteToBeRecorded() {
        String id = sellerOpportunity("In Flight Ltd", true, "Azure");
        String referralId = referralOf(id).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> seller.ledger().findByOpportunity(id).get("opportunity_version") != null);
        // Our PUT is on its way (marker set) and a webhook for the referral arrives before its answer.
        seller.ledger().writing(referralId);
        ObjectNode change = JSON.createObjectNode();
        change.putObject("details").put("dealValue", 43210);
        pc.updateAsMicrosoft(harness.tenant(), referralId, change);
        await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3))
                .until(() -> dv.row("opportunities", id).path("estimatedvalue").asInt() == 40000);
        // The write is recorded (here: given up): the event is handled, not lost.
        seller.ledger().writeDone(referralId);
        await().atMost(Duration.ofSeconds(10)).until(() -> dv.row("opportunities", id).path("estimatedvalue").asInt() == 43210);
    }

    @Test
    void anOpportunityCarryingAReferralTheLedgerDoesNotKnowYetGetsNoSecondReferral() {
        // As the poll can see it: created from a Microsoft referral, its link not yet in the ledger.
        String referralId = pc.referrals().create(harness.tenant(), PartnerCenterToDynamicsTest.referral("Quick Poll",
                "10to50employees"), "org", "Org").path("id").asText();
        long posts = pcCalls("POST");
        String id = sellerOpportunity("Quick Poll", false, "Azure");
        edit(id, JSON.createObjectNode().put("cosell_referralid", referralId).put("cosell_syncwithpartnercenter", true));
        await().atMost(Duration.ofSeconds(10)).until(() -> seller.handledCurrentVersion(id));
        assertEquals(posts, pcCalls("POST"), "no referral posted for an opportunity that has one");
        assertEquals(referralId, dv.row("opportunities", id).path("cosell_referralid").asText());
        assertTrue(referralsFor(id).isEmpty());
    }

    @Test
    void aReferralCreatedByAnAttemptThatDiedBeforeTheLedgerIsLinkedNotCreatedAgain() {
        String id = sellerOpportunity("Half Created", false, "Azure");
        // The earlier attempt's POST went through (externalReferenceId = opportunity id), then the node died.
        ObjectNode earlier = PartnerCenterToDynamicsTest.referral("Half Created", "10to50employees")
                .put("externalReferenceId", id);
        String referralId = pc.referrals().create(harness.tenant(), earlier, "org", "Org").path("id").asText();
        // ... having left its marker in the store before posting, as every attempt does.
        seller.ledger().earlierCreateAttempt(id);
        long posts = pcCalls("POST");
        edit(id, JSON.createObjectNode().put("cosell_syncwithpartnercenter", true));
        assertEquals(referralId, referralOf(id).path("id").asText());
        await().atMost(Duration.ofSeconds(10)).until(() -> referralId.equals(dv.row("opportunities", id)
                .path("cosell_referralid").asText()));
        assertEquals(posts, pcCalls("POST"), "no second referral");
        // Looked for with documented list options only (no externalReferenceId filter: not a documented one).
        assertTrue(pc.calls().entries().stream().anyMatch(e -> e.uri().contains("updatedDateTime%20ge")
                && e.uri().contains("createdDateTime%20desc")), "filtered on updatedDateTime, newest first");
    }

    @Test
    void aServiceThatRefusesTheFilterStillNeverGetsASecondReferral() {
        String id = sellerOpportunity("Half Created Twice", false, "Azure");
        ObjectNode earlier = PartnerCenterToDynamicsTest.referral("Half Created Twice", "10to50employees")
                .put("externalReferenceId", id);
        String referralId = pc.referrals().create(harness.tenant(), earlier, "org", "Org").path("id").asText();
        // Newer referrals on top of it: the fallback reads the newest first, without a filter.
        for (int i = 0; i < 3; i++) {
            pc.referrals().create(harness.tenant(), PartnerCenterToDynamicsTest.referral("Newer " + i, "10to50employees"), "org", "Org");
        }
        seller.ledger().earlierCreateAttempt(id);
        long posts = pcCalls("POST");
        pc.setRefuseListFilters(true);
        try {
            edit(id, JSON.createObjectNode().put("cosell_syncwithpartnercenter", true));
            assertEquals(referralId, referralOf(id).path("id").asText());
            assertEquals(posts, pcCalls("POST"), "no second referral");
            assertTrue(pc.calls().entries().stream().anyMatch(e -> e.status() == 400 && e.uri().contains("updatedDateTime")),
                    "the filter was refused");
        } finally {
            pc.setRefuseListFilters(false);
        }
    }

    @Test
    void missingRequiredFieldsAreNamedOnTheOpportunityAndNothingIsSent() {
        String id = sellerOpportunity("Litware without products", true, null);
        await().atMost(Duration.ofSeconds(10)).until(() -> dv.row("opportunities", id).path("cosell_audit").asText()
                .contains("Products (cosell_products)"));
        assertTrue(referralsFor(id).isEmpty());
        assertTrue(dv.row("opportunities", id).path("cosell_audit").asText().contains("Fill it in"));
        // The seller fills it in: the referral is created.
        edit(id, JSON.createObjectNode().put("cosell_products", "Dynamics365Sales"));
        assertNotNull(referralOf(id));
    }

    @Test
    void dealValueAndDateChangesUpdateTheReferralWithItsETag() {
        String id = sellerOpportunity("Wingtip upgrade", true, "Microsoft365");
        ObjectNode before = referralOf(id);
        long patches = pcCalls("PATCH");
        edit(id, JSON.createObjectNode().put("estimatedvalue", 64000).put("estimatedclosedate", "2027-06-30"));
        await().atMost(Duration.ofSeconds(10)).until(() -> referralsFor(id).get(0).path("details").path("dealValue").asInt() == 64000);
        ObjectNode after = referralsFor(id).get(0);
        assertEquals("2027-06-30T00:00:00Z", after.path("details").path("closingDateTime").asText());
        assertEquals(patches + 1, pcCalls("PATCH"), "one PATCH (PatchReferralById), no PUT");
        assertEquals(0, pcCalls("PUT"), "the deprecated PUT is not used");
        CallLog.Entry patch = pc.calls().entries().stream().filter(e -> e.method().equals("PATCH") && e.uri().contains(
                before.path("id").asText())).reduce((a, b) -> b).orElseThrow();
        assertEquals(200, patch.status(), "the PATCH carried the current eTag and asked for the referral back");
        await().atMost(Duration.ofSeconds(5)).until(() ->
                after.path("eTag").asText().equals(ledger().findByOpportunity(id).get("referral_etag")));
    }

    @Test
    void wonAndLostCloseTheReferral() {
        String won = sellerOpportunity("Won deal", true, "Azure");
        String lost = sellerOpportunity("Lost deal", true, "Azure");
        referralOf(won);
        referralOf(lost);
        edit(won, JSON.createObjectNode().put("statecode", 1).put("statuscode", 3));
        edit(lost, JSON.createObjectNode().put("statecode", 2).put("statuscode", 4));
        await().atMost(Duration.ofSeconds(10)).until(() -> "Won".equals(referralsFor(won).get(0).path("substatus").asText())
                && "Lost".equals(referralsFor(lost).get(0).path("substatus").asText()));
        assertEquals("Closed", referralsFor(won).get(0).path("status").asText());
        assertEquals("Lost in the CRM", referralsFor(lost).get(0).path("statusReason").asText());
    }

    @Test
    void acceptOrDeclineAMicrosoftReferralFromTheCrmAndAnInvalidTransitionIsAuditedNotRetried() {
        ObjectNode a = PartnerCenterToDynamicsTest.referral("Accept Me", "10to50employees");
        ObjectNode d = PartnerCenterToDynamicsTest.referral("Decline Me", "10to50employees");
        String acceptId = pc.createAsMicrosoft(harness.tenant(), a).path("id").asText();
        String declineId = pc.createAsMicrosoft(harness.tenant(), d).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> ledger().find(acceptId) != null && ledger().find(declineId) != null);
        String acceptOpp = (String) ledger().find(acceptId).get("opportunity_id");
        String declineOpp = (String) ledger().find(declineId).get("opportunity_id");

        edit(acceptOpp, JSON.createObjectNode().put("cosell_referralaction", 100000001));
        edit(declineOpp, JSON.createObjectNode().put("cosell_referralaction", 100000002));
        await().atMost(Duration.ofSeconds(10)).until(() ->
                "Accepted".equals(pc.referrals().get(harness.tenant(), acceptId).path("substatus").asText())
                && "Declined".equals(pc.referrals().get(harness.tenant(), declineId).path("substatus").asText()));
        assertEquals("Active", pc.referrals().get(harness.tenant(), acceptId).path("status").asText());
        assertEquals("Closed", pc.referrals().get(harness.tenant(), declineId).path("status").asText());

        // Declined is final: accepting it now is an invalid transition, refused once and audited.
        // (counted for this referral only: a PATCH still under way for an earlier test's referral is not ours)
        long patches = callsFor(declineId, "PATCH");
        edit(declineOpp, JSON.createObjectNode().put("cosell_referralaction", 100000001));
        await().atMost(Duration.ofSeconds(10)).until(() -> dv.row("opportunities", declineOpp).path("cosell_audit").asText()
                .contains("refused by Partner Center"));
        assertTrue(dv.row("opportunities", declineOpp).path("cosell_audit").asText().contains("cannot move to status Active"));
        // The audit line we wrote is a new version too: once it is handled, nothing else is pending.
        await().atMost(Duration.ofSeconds(10)).until(() -> seller.handledCurrentVersion(declineOpp));
        long polls = deltaPolls();
        await().atMost(Duration.ofSeconds(5)).until(() -> deltaPolls() >= polls + 3);
        assertEquals(patches + 1, callsFor(declineId, "PATCH"), "refused once, not retried");
        assertEquals(1, callsFor(acceptId, "PATCH"), "the accepted referral: one PATCH, no echo");
    }

    @Test
    void roundTripMakesTheExpectedCallsAndNoEchoWrites() {
        // Partner Center creates -> CRM.
        String referralId = pc.createAsMicrosoft(harness.tenant(), PartnerCenterToDynamicsTest.referral("Round Trip",
                "10to50employees")).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> ledger().find(referralId) != null);
        String opp = (String) ledger().find(referralId).get("opportunity_id");
        // Several polls see the opportunity the connector wrote: none may call Partner Center.
        long polls = deltaPolls();
        await().atMost(Duration.ofSeconds(5)).until(() -> deltaPolls() >= polls + 3);
        assertEquals(0, callsFor(referralId, "PATCH"), "our own write is not sent back");
        assertEquals(1, dvWritesFor(opp, referralId), "one write: the opportunity created by its alternate key");

        // The seller edits -> Partner Center: exactly one PATCH, and the webhook it causes writes nothing.
        long reads = callsFor(referralId, "GET");
        edit(opp, JSON.createObjectNode().put("estimatedvalue", 88000));
        await().atMost(Duration.ofSeconds(10)).until(() ->
                pc.referrals().get(harness.tenant(), referralId).path("details").path("dealValue").asInt() == 88000);
        long deliveries = pc.webhooks().deliveries().stream().filter(d -> d.resourceUri.endsWith(referralId)).count();
        await().atMost(Duration.ofSeconds(5)).until(() -> pc.webhooks().deliveries().stream()
                .filter(d -> d.resourceUri.endsWith(referralId) && "completed".equals(d.status)).count() == deliveries);
        long after = deltaPolls();
        await().atMost(Duration.ofSeconds(5)).until(() -> deltaPolls() >= after + 3);
        assertEquals(1, callsFor(referralId, "PATCH"), "one PATCH for one seller edit");
        assertEquals(reads + 1, callsFor(referralId, "GET"),
                "no read before the PATCH (the ledger keeps the referral); one read of the webhook it causes");
        assertEquals(1, dvWritesFor(opp, referralId), "no echo write to the opportunity");
    }

    static String changedAt(String eventBody) {
        try {
            return JSON.readTree(eventBody).path("ResourceChangeUtcDate").asText();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static long deltaPolls() {
        return harness.sandbox.dataverse().calls().entries().stream().filter(e -> e.uri().contains("deltatoken")).count();
    }

    static long callsFor(String referralId, String method) {
        return pc.calls().entries().stream().filter(e -> e.method().equals(method) && e.uri().contains(referralId)).count();
    }

    /** Writes to an opportunity, by id or by its alternate key (the referral id). */
    static long dvWritesFor(String opportunityId, String referralId) {
        return harness.sandbox.dataverse().calls().entries().stream().filter(e -> (e.method().equals("PATCH")
                || e.method().equals("POST")) && (e.uri().contains(opportunityId) || e.uri().contains(referralId))).count();
    }

    @Test
    void concurrentEditsResolveByFieldOwnerAndBothValuesAreAudited() {
        String id = sellerOpportunity("Concurrent Co", true, "Azure");
        String referralId = referralOf(id).path("id").asText();
        // Within one poll interval: Microsoft changes notes and deal value in Partner Center (its
        // webhook is lost), the seller changes the same two fields in the CRM.
        pc.webhooks().setEnabled(false);
        ObjectNode msChange = JSON.createObjectNode();
        msChange.putObject("details").put("notes", "Microsoft: customer wants a workshop").put("dealValue", 41000);
        pc.updateAsMicrosoft(harness.tenant(), referralId, msChange);
        pc.webhooks().setEnabled(true);
        edit(id, JSON.createObjectNode().put("description", "Seller: two-phase rollout").put("estimatedvalue", 52000));

        await().atMost(Duration.ofSeconds(20)).until(() ->
                pc.referrals().get(harness.tenant(), referralId).path("details").path("dealValue").asInt() == 52000);
        ObjectNode r = pc.referrals().get(harness.tenant(), referralId);
        assertEquals("Microsoft: customer wants a workshop", r.path("details").path("notes").asText(), "microsoft owns notes");
        await().atMost(Duration.ofSeconds(20)).until(() -> dv.row("opportunities", id).path("cosell_audit").asText()
                .contains("Concurrent edit"));
        String audit = dv.row("opportunities", id).path("cosell_audit").asText();
        assertTrue(audit.contains("'Seller: two-phase rollout'") && audit.contains("'Microsoft: customer wants a workshop'"), audit);
        assertTrue(audit.contains("'52000'") && audit.contains("'41000'"), audit);
    }

    /** Several opportunities flagged at once (one poll sees them all): returns their ids, account by id. */
    static Map<String, String> flagTogether(String prefix, int n) {
        Map<String, String> accountOf = new java.util.LinkedHashMap<>();
        List<ObjectNode> accounts = new java.util.ArrayList<>();
        List<ObjectNode> opportunities = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            String accountId = java.util.UUID.randomUUID().toString();
            String id = java.util.UUID.randomUUID().toString();
            accounts.add((ObjectNode) JSON.createObjectNode().put("accountid", accountId).put("name", prefix + " " + i + " Ltd")
                    .put("address1_city", "Oslo").put("address1_country", "NO"));
            opportunities.add((ObjectNode) JSON.createObjectNode().put("opportunityid", id).put("name", prefix + " " + i)
                    .put("estimatedvalue", 40000).put("estimatedclosedate", "2027-04-30").put("description", "Partner-led")
                    .put("cosell_syncwithpartnercenter", true).put("cosell_howcanmicrosofthelp", 100000001)
                    .put("cosell_products", "Azure").put("parentaccountid@odata.bind", "/accounts(" + accountId + ")"));
            accountOf.put(id, accountId);
        }
        dv.seed("accounts", accounts);
        dv.seed("opportunities", opportunities); // one write: the next poll sees them together
        return accountOf;
    }

    static long dvSingleReads(java.util.Collection<String> accountIds) {
        return harness.sandbox.dataverse().calls().entries().stream().filter(e -> e.method().equals("GET")
                && accountIds.stream().anyMatch(a -> e.uri().contains("accounts(" + a + ")"))).count();
    }

    static long dvBatches() {
        return harness.sandbox.dataverse().calls().entries().stream().filter(e -> e.uri().contains("$batch")).count();
    }

    static long deadLetters() {
        return harness.runtime().context().getRegistry().lookupByNameAndType("deadLetters",
                dev.cosell.connector.ledger.DeadLetters.class).openCount();
    }

    @Test
    void theCustomersOfOpportunitiesFlaggedTogetherAreReadInOneBatch() {
        long batches = dvBatches();
        Map<String, String> accountOf = flagTogether("Batch Read", 4);
        for (var e : accountOf.entrySet()) {
            ObjectNode referral = referralOf(e.getKey());
            assertEquals(dv.row("accounts", e.getValue()).path("name").asText(),
                    referral.path("customerProfile").path("name").asText(), "the customer as the $batch read it");
        }
        assertEquals(0, dvSingleReads(accountOf.values()), "no account read one by one");
        assertTrue(dvBatches() > batches, "the four accounts were read in a $batch");
        assertTrue(harness.sandbox.dataverse().calls().entries().stream().filter(e -> e.uri().contains("$batch"))
                .reduce((a, b) -> b).orElseThrow().template().endsWith("(reads only)"), "counted as a read, not a write");
        var customers = harness.runtime().context().getRegistry().lookupByNameAndType("flaggedOpportunityCustomers",
                dev.cosell.connector.dataverse.FlaggedOpportunityCustomers.class);
        await().atMost(Duration.ofSeconds(5)).until(() -> customers.size() == 0); // forgotten with the page
    }

    @Test
    void whenTheCustomersBatchFailsEachOpportunityReadsItsOwn() {
        long deadLetters = deadLetters();
        // Every $batch fails while these are handled (others retry theirs and go on once it is lifted).
        var failing = harness.sandbox.dataverse().faults().add(dev.cosell.connector.sandbox.Faults.Rule.status(503)
                .on("POST", "\\$batch").times(10_000));
        Map<String, String> accountOf;
        try {
            accountOf = flagTogether("Batch Down", 3);
            for (var e : accountOf.entrySet()) {
                ObjectNode referral = referralOf(e.getKey());
                assertEquals(dv.row("accounts", e.getValue()).path("name").asText(),
                        referral.path("customerProfile").path("name").asText());
            }
        } finally {
            harness.sandbox.dataverse().faults().clear();
        }
        assertTrue(failing.fired() >= 1);
        assertEquals(3, dvSingleReads(accountOf.values()), "each account read on its own, once");
        assertEquals(deadLetters, deadLetters(), "no dead letter");
    }

    @Test
    void ledgerRowsKeepBothSidesVersions() {
        String id = sellerOpportunity("Ledger Check", true, "Azure");
        referralOf(id);
        Map<String, Object> link = ledger().findByOpportunity(id);
        assertEquals("dynamics", link.get("origin"));
        assertNotNull(link.get("referral_etag"));
        assertNotNull(link.get("referral_hash"));
        assertNotNull(link.get("opportunity_hash"));
        assertEquals(dv.row("opportunities", id).path("versionnumber").asLong(), ((Number) link.get("opportunity_version")).longValue());
    }
}
