package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;


import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.dataverse.DataverseApi;
import dev.cosell.connector.sandbox.partnercenter.PartnerCenterEmulator;
import dev.cosell.connector.sandbox.partnercenter.SampleReferrals;
import dev.cosell.connector.sandbox.partnercenter.WebhookDispatcher;
import dev.cosell.connector.ledger.DeadLetters;
import dev.cosell.connector.ledger.SyncLedger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Partner Center → Dynamics 365 as the published contract has it (V3 Referral), end to end over HTTPS:
 * Microsoft's side in the Partner Center emulator, which refuses and flags anything outside the
 * contract, the opportunity in the Dataverse emulator. One test per contract point.
 */
class PartnerCenterContractTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static ConnectorHarness harness;
    static PartnerCenterEmulator pc;
    static DataverseApi dv;

    @BeforeAll
    static void start() throws Exception {
        // The poll is hourly here: these tests are about what Partner Center's side sends.
        harness = new ConnectorHarness().with("sync.retry.initial-delay-ms", "50").with("dataverse.currency-refresh-seconds", "0")
                .with("sync.poll-interval-ms", "3600000");
        harness.start();
        pc = harness.sandbox.partnerCenter();
        dv = harness.sandbox.dataverse().api();
        pc.webhooks().setFirstRetryDelayMs(50);
        harness.awaitWebhookRegistration();
    }

    @AfterAll
    static void stop() {
        harness.close();
    }

    static ObjectNode referral(String customer) {
        return SampleReferrals.coSell(customer, customer + " co-sell", "10to50employees");
    }

    static ObjectNode opportunityOf(String referralId) {
        await().atMost(Duration.ofSeconds(10)).until(() -> dv.rows("opportunities").stream()
                .anyMatch(o -> referralId.equals(o.path("cosell_referralid").asText())) && ledger().find(referralId) != null);
        return dv.rows("opportunities").stream().filter(o -> referralId.equals(o.path("cosell_referralid").asText()))
                .findFirst().orElseThrow();
    }

    static SyncLedger ledger() {
        return harness.runtime().context().getRegistry().lookupByNameAndType("syncLedger", SyncLedger.class);
    }

    static long count(String sql) throws Exception {
        return harness.count(sql);
    }

    static String text(String sql) throws Exception {
        return harness.text(sql);
    }

    static String currencyId(String iso) {
        return dv.rows("transactioncurrencies").stream().filter(c -> iso.equals(c.path("isocurrencycode").asText()))
                .findFirst().orElseThrow().path("transactioncurrencyid").asText();
    }

    @Test
    void consentAsTheContractSpellsItShowsOnTheOpportunity() {
        ObjectNode r = referral("Consent Given");
        r.putObject("consent").put("consentToToShareInfoWithOthers", true).put("consentToContact", true)
                .put("consentToShareReferralWithMicrosoftSellers", false);
        ObjectNode opp = opportunityOf(pc.createAsMicrosoft(harness.tenant(), r).path("id").asText());
        assertTrue(opp.path("cosell_consenttoshare").asBoolean(), "consentToToShareInfoWithOthers (sic) is the contract's name");
        assertFalse(opp.path("cosell_sharewithmicrosoftsellers").asBoolean(), "a private deal: not shared with Microsoft sellers");
    }

    @Test
    void everyDocumentedCustomerSizeIsTaken() throws Exception {
        Map<String, Integer> employees = Map.of("Morethan20000employees", 20001, "1to50employees", 1, "51to500employees", 51,
                "Morethan500employees", 501, "1001to5000employees", 1001);
        for (var e : employees.entrySet()) {
            ObjectNode r = referral("Size " + e.getKey());
            ((ObjectNode) r.path("customerProfile")).put("size", e.getKey());
            ObjectNode opp = opportunityOf(pc.createAsMicrosoft(harness.tenant(), r).path("id").asText());
            assertEquals((int) e.getValue(), dv.row("accounts", opp.path("_parentaccountid_value").asText())
                    .path("numberofemployees").asInt(), e.getKey());
        }
        assertEquals(0, count("select count(*) from dead_letter where error like '%customerProfile.size%'"));
    }

    @Test
    void aDunsIdInTheContractsListFindsTheAccountTheCrmHas() {
        String accountId = java.util.UUID.randomUUID().toString();
        dv.seed("accounts", List.of((ObjectNode) JSON.createObjectNode().put("accountid", accountId)
                .put("name", "Duns Holding (as the CRM calls it)").put("address1_city", "Oslo").put("address1_country", "NO")
                .put("cosell_dunsnumber", "987654321")));
        ObjectNode r = referral("Duns Customer");
        ((ObjectNode) r.path("customerProfile")).putArray("ids").addObject().put("profileType", "Duns").put("id", "987654321");
        ObjectNode opp = opportunityOf(pc.createAsMicrosoft(harness.tenant(), r).path("id").asText());
        assertEquals(accountId, opp.path("_parentaccountid_value").asText(), "matched by Duns, not by name");
    }

    @Test
    void theDealValueKeepsItsCurrencyAndAnUnknownOneIsARejectionWithTheReason() throws Exception {
        ObjectNode yen = referral("Yen Customer");
        ((ObjectNode) yen.path("details")).put("dealValue", 10_000_000).put("currency", "JPY");
        ObjectNode opp = opportunityOf(pc.createAsMicrosoft(harness.tenant(), yen).path("id").asText());
        assertEquals(10_000_000, opp.path("estimatedvalue").asLong());
        assertEquals(currencyId("JPY"), opp.path("_transactioncurrencyid_value").asText(), "10,000,000 JPY, not USD");

        // Microsoft changes the currency: the opportunity follows.
        ObjectNode toEuro = JSON.createObjectNode();
        toEuro.putObject("details").put("currency", "EUR");
        pc.updateAsMicrosoft(harness.tenant(), opp.path("cosell_referralid").asText(), toEuro);
        await().atMost(Duration.ofSeconds(10)).until(() -> currencyId("EUR").equals(dv.row("opportunities",
                opp.path("opportunityid").asText()).path("_transactioncurrencyid_value").asText()));

        // A currency the environment has no row for: no opportunity in the base currency, a dead letter
        // and an audit line with the reason; once the currency exists, the replay applies it.
        ObjectNode francs = referral("Franc Customer");
        ((ObjectNode) francs.path("details")).put("currency", "CHF");
        String id = pc.createAsMicrosoft(harness.tenant(), francs).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> count("select count(*) from dead_letter where state = 'open'"
                + " and error like '%unknown currency ''CHF''%'") == 1);
        assertTrue(dv.rows("opportunities").stream().noneMatch(o -> id.equals(o.path("cosell_referralid").asText())));
        // (the audit line follows the dead letter, in the same route)
        String failed = "select detail from sync_audit where referral_id = '" + id + "' and action = 'failed'";
        await().atMost(Duration.ofSeconds(10)).until(() -> text(failed) != null);
        assertTrue(text(failed).contains("no currency (transactioncurrencies) with ISO code CHF"));
        dv.seed("transactioncurrencies", List.of((ObjectNode) JSON.createObjectNode()
                .put("transactioncurrencyid", "c0000000-0000-4000-8000-000000000756").put("isocurrencycode", "CHF")
                .put("currencyname", "Swiss Franc")));
        DeadLetters deadLetters = harness.runtime().context().getRegistry().lookupByNameAndType("deadLetters", DeadLetters.class);
        long letter = count("select id from dead_letter where state = 'open' and error like '%CHF%'");
        // (dataverse.currency-refresh-seconds=0 here: the replay reads the table again at once)
        assertEquals(1, deadLetters.replay(letter));
        assertEquals("c0000000-0000-4000-8000-000000000756", opportunityOf(id).path("_transactioncurrencyid_value").asText());
    }

    @Test
    void theV3FieldsASellerNeedsReachTheOpportunity() {
        ObjectNode r = referral("Version Three");
        r.put("salesStage", "Develop").put("direction", "Incoming").put("callToAction", "Call the customer this week")
                .put("campaignId", "CMP-2027-AI").put("referralProgram", "Azure Accelerate");
        r.putObject("trackingInfo").put("microsoftMsxId", "7-3KQ8ZP2J9D");
        r.putObject("inviteContext").put("notes", "please help").put("assistanceRequestCode", "ProofOfConceptOrDemo")
                .putObject("invitedBy").put("organizationId", "msft").put("organizationName", "Microsoft");
        r.putArray("tags").add("AI").add("Priority");
        String id = pc.createAsMicrosoft(harness.tenant(), r).path("id").asText();
        ObjectNode opp = opportunityOf(id);
        assertEquals(1, opp.path("salesstage").asInt(), "Develop");
        assertEquals(100000002, opp.path("cosell_howcanmicrosofthelp").asInt(), "ProofOfConceptOrDemo");
        assertEquals("7-3KQ8ZP2J9D", opp.path("cosell_microsoftmsxid").asText());
        assertEquals("Incoming", opp.path("cosell_referraldirection").asText());
        assertEquals("Call the customer this week", opp.path("cosell_calltoaction").asText());
        assertEquals("CMP-2027-AI", opp.path("cosell_campaignid").asText());
        assertEquals("Azure Accelerate", opp.path("cosell_referralprogram").asText());
        assertEquals("AI, Priority", opp.path("cosell_referraltags").asText());

        // Microsoft accepts it for the partner and approves a deal registration: both show.
        ObjectNode accepted = JSON.createObjectNode().put("status", "Active").put("substatus", "Accepted")
                .put("registrationStatus", "Approved");
        accepted.putArray("registrations").addObject().put("id", "reg-1").put("type", "AzureIPCoSell").put("status", "Approved")
                .put("registrationDateTime", "2026-11-30T10:00:00Z").putObject("contract").put("value", 50000).put("currency", "USD");
        pc.updateAsMicrosoft(harness.tenant(), id, accepted);
        await().atMost(Duration.ofSeconds(10)).until(() -> "Approved".equals(dv.row("opportunities",
                opp.path("opportunityid").asText()).path("cosell_dealregistrationstatus").asText()));
        ObjectNode after = dv.row("opportunities", opp.path("opportunityid").asText());
        assertTrue(after.path("cosell_acceptedon").asText().startsWith("20"), "acceptedDateTime: " + after.path("cosell_acceptedon"));
        assertTrue(after.path("cosell_dealregistrations").asText().contains("AzureIPCoSell Approved since 2026-11-30 contract 50000 USD"),
                after.path("cosell_dealregistrations").asText());
    }

    @Test
    void textLongerThanItsColumnIsCutMarkedAndAuditedNeverADeadLetter() throws Exception {
        ObjectNode r = referral("C".repeat(200));
        r.put("name", "N".repeat(350));
        ((ObjectNode) r.path("details")).put("notes", "n".repeat(2500));
        String id = pc.createAsMicrosoft(harness.tenant(), r).path("id").asText();
        ObjectNode opp = opportunityOf(id);
        assertEquals(300, opp.path("name").asText().length());
        assertTrue(opp.path("name").asText().endsWith("…"));
        assertEquals(2000, opp.path("description").asText().length());
        assertTrue(opp.path("description").asText().endsWith("…"));
        String account = dv.row("accounts", opp.path("_parentaccountid_value").asText()).path("name").asText();
        assertEquals(160, account.length());
        assertTrue(opp.path("cosell_audit").asText().contains("opportunity.description cut to 2000 of 2500 characters"),
                opp.path("cosell_audit").asText());
        assertEquals(3, count("select count(*) from sync_audit where referral_id = '" + id + "' and action = 'fitted'"),
                "the account's cut, the contact's (its e-mail holds the long name) and the opportunity's");
        assertEquals(0, count("select count(*) from dead_letter where message_key like '%" + id + "%'"));
    }

    @Test
    void aCertificateIssuedByAnotherOrganisationIsRefusedWhateverItsSubjectSays() throws Exception {
        pc.signAsImpostor(true);
        String id;
        try {
            id = pc.createAsMicrosoft(harness.tenant(), referral("Impostor Signed")).path("id").asText();
            await().atMost(Duration.ofSeconds(10)).until(() -> delivery(id).attempts.size() >= 2);
        } finally {
            pc.signAsImpostor(false);
        }
        assertTrue(delivery(id).attempts.stream().allMatch(a -> a.status() == 401), delivery(id).attempts.toString());
        assertEquals(0, count("select count(*) from webhook_inbox where resource_id = '" + id + "'"));
        // The same event signed by the genuine certificate: taken.
        pc.webhooks().redeliver(delivery(id));
        opportunityOf(id);
    }

    @Test
    void aRegistrationAskingForTheMsSignatureHeaderIsServedToo() {
        WebhookDispatcher.Registration r = pc.webhooks().registration(harness.tenant());
        pc.webhooks().put(harness.tenant(), r.webhookUrl(), r.webhookEvents(), true);
        try {
            String id = pc.createAsMicrosoft(harness.tenant(), referral("Ms Signature Header")).path("id").asText();
            opportunityOf(id);
            assertEquals(List.of(200), delivery(id).attempts.stream().map(WebhookDispatcher.Attempt::status).toList());
        } finally {
            pc.webhooks().put(harness.tenant(), r.webhookUrl(), r.webhookEvents(), false);
        }
    }

    @Test
    void eachDecisionsCorrelationIdIsInItsPartnerCenterRequestsAndItsAuditLine() throws Exception {
        String id = pc.createAsMicrosoft(harness.tenant(), referral("Correlated")).path("id").asText();
        opportunityOf(id);
        String correlation = text("select correlation_id from sync_audit where referral_id = '" + id + "' and action = 'created'");
        assertTrue(correlation != null && correlation.matches("[0-9a-f-]{36}"), String.valueOf(correlation));
        assertTrue(pc.correlationIds().contains(correlation), "the GET of the referral carried MS-CorrelationId " + correlation);
    }

    @Test
    void aMicrosoftChangeWritesOnlyWhatItChangesNotOverASellersEdit() {
        String id = pc.createAsMicrosoft(harness.tenant(), referral("Seller Edited")).path("id").asText();
        ObjectNode opp = opportunityOf(id);
        String oppId = opp.path("opportunityid").asText();
        // The seller raises the value (this class polls once an hour: not sent yet), Microsoft changes the notes.
        ObjectNode edit = JSON.createObjectNode().put("opportunityid", oppId).put("estimatedvalue", 77000);
        dv.seed("opportunities", List.of(edit));
        ObjectNode notes = JSON.createObjectNode();
        notes.putObject("details").put("notes", "Microsoft: the customer asked for a workshop");
        pc.updateAsMicrosoft(harness.tenant(), id, notes);
        await().atMost(Duration.ofSeconds(10)).until(() -> "Microsoft: the customer asked for a workshop".equals(
                dv.row("opportunities", oppId).path("description").asText()));
        assertEquals(77000, dv.row("opportunities", oppId).path("estimatedvalue").asInt(), "the seller's value is not overwritten");
    }

    static WebhookDispatcher.Delivery delivery(String referralId) {
        return pc.webhooks().deliveries().stream().filter(d -> d.resourceUri.endsWith(referralId)).findFirst().orElseThrow();
    }
}
