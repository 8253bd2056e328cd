package dev.cosell.connector.flows;

import static dev.cosell.connector.flows.RemoteStandIn.batch;
import static dev.cosell.connector.flows.RemoteStandIn.status;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import dev.cosell.connector.flows.RemoteStandIn.Call;
import org.apache.camel.builder.NotifyBuilder;
import org.junit.jupiter.api.Test;

/**
 * Flow "Partner Center to Dynamics 365" (routes/partner-center-to-dynamics-365.camel.yaml): an accepted event is
 * processed from the queue (seda:partner-center-events) - deduplicated, the referral read, routed - and a new co-sell
 * referral becomes an opportunity, with its account and contact (dynamics-365-customer), its currency
 * (dynamics-365-currencies) and its texts fitted to the columns (dynamics-365-text-fitting).
 * Runs nested in {@link ConnectorFlowsTest}, on the connector all flows share.
 */
@SuppressWarnings("unchecked")
abstract class PartnerCenterToDynamics365Test extends FlowTestSupport {

    static final String QUEUE = "seda:partner-center-events";
    static final String PROCESSING = "partner-center-to-dynamics-365-processing";

    /** Queues the event as the intake does and waits until it is processed (applied, skipped or dead-lettered). */
    void process(String event) {
        String referralId = event.replaceAll(".*/referrals/([^\"]+)\".*", "$1");
        NotifyBuilder done = new NotifyBuilder(context).fromRoute(PROCESSING)
                .filter(e -> referralId.equals(e.getProperty("referralId"))).whenDone(1).create();
        template.sendBody(QUEUE, event);
        assertTrue(done.matches(10, TimeUnit.SECONDS), "event not processed: " + event);
    }

    /** The Dataverse calls but the currency table's read (cached by the connector, so read once per run). */
    List<String> dataverseKeys() {
        return dataverse.keys().stream().filter(k -> !k.equals("GET transactioncurrencies")).toList();
    }

    @Test
    void newCoSellReferralOfANewCustomerCreatesAccountContactAndOpportunity() {
        String referralId = id();
        String customer = "Contoso " + unique();
        String accountId = id();
        String contactId = id();
        String opportunityId = id();
        Map<String, Object> referral = referral(referralId, customer);
        partnerCenter.answer("GET v1.0/engagements/referrals/" + referralId, referral);
        dataverse.answer("POST $batch", batch(Map.of("value", List.of()), Map.of("value", List.of())),
                RemoteStandIn.changeSetBatch(Map.of("accountid", accountId, "name", customer), Map.of("contactid", contactId)));
        dataverse.answer("PATCH opportunities(cosell_referralid='" + referralId + "')", writtenOpportunity(opportunityId, 1001));

        String event = event("referral-created", referralId);
        process(event);

        assertEquals(List.of("GET v1.0/engagements/referrals/" + referralId), partnerCenter.keys(), "the event is never trusted for data");
        assertEquals(List.of("POST $batch", "POST $batch", "PATCH opportunities(cosell_referralid='" + referralId + "')"),
                dataverseKeys(), "the lookup, then the account and the contact created together");

        // One round trip looks up both: the account by name and country, the contact by e-mail.
        Call lookup = dataverse.calls("POST $batch").get(0);
        assertEquals("multipart/mixed; boundary=batch_cosell", lookup.header("Content-Type"));
        List<String> reads = RemoteStandIn.batchRequests(lookup.text()).stream()
                .map(r -> URLDecoder.decode(r, StandardCharsets.UTF_8)).toList();
        assertEquals(2, reads.size(), reads.toString());
        assertTrue(reads.get(0).startsWith("GET /api/data/v9.2/accounts?") && reads.get(0).contains("name eq '" + customer
                + "' and address1_country eq 'US'"), reads.get(0));
        assertTrue(reads.get(1).startsWith("GET /api/data/v9.2/contacts?") && reads.get(1).contains("emailaddress1 eq '"
                + email(customer) + "'"), reads.get(1));

        // One more creates both, in a change set (both or neither): the contact names the account by its Content-ID.
        String creation = dataverse.calls("POST $batch").get(1).text();
        assertTrue(creation.contains("Content-Type: multipart/mixed; boundary=changeset_"), creation);
        assertEquals(List.of("POST /api/data/v9.2/accounts", "POST /api/data/v9.2/contacts"), RemoteStandIn.batchRequests(creation));
        assertTrue(creation.contains("Content-ID: 1\r\n") && creation.contains("Content-ID: 2\r\n"), creation);
        Map<String, Object> account = RemoteStandIn.batchBodies(creation).get(0);
        assertEquals(customer, account.get("name"));
        assertEquals("Seattle", account.get("address1_city"));
        assertEquals("US", account.get("address1_country"));
        assertEquals(51, account.get("numberofemployees"), "customerProfile.size 51to250employees");
        Map<String, Object> contact = RemoteStandIn.batchBodies(creation).get(1);
        assertEquals("Smith", contact.get("lastname"));
        assertEquals(email(customer), contact.get("emailaddress1"));
        assertEquals("$1", contact.get("parentcustomerid_account@odata.bind"));

        // The opportunity, by its alternate key and If-None-Match: * (never twice), with the mapped fields.
        Call create = dataverse.only("PATCH opportunities(cosell_referralid='" + referralId + "')");
        assertEquals("*", create.header("If-None-Match"));
        assertEquals("return=representation", create.header("Prefer"));
        Map<String, Object> o = create.json();
        assertEquals("✔ AI rollout for " + customer, o.get("name"));
        assertEquals(50000, o.get("estimatedvalue"));
        assertEquals("2027-03-31", o.get("estimatedclosedate"));
        assertEquals(0, o.get("salesstage"), "Qualify");
        assertEquals("/transactioncurrencies(" + USD + ")", o.get("transactioncurrencyid@odata.bind"));
        assertEquals("/accounts(" + accountId + ")", o.get("parentaccountid@odata.bind"));
        assertEquals("/contacts(" + contactId + ")", o.get("parentcontactid@odata.bind"));
        assertEquals(referralId, o.get("cosell_referralid"));
        assertEquals(REFERRAL_LINK + referralId, o.get("cosell_referrallink"));
        assertEquals(100000001, o.get("cosell_referralstatus"), "New");
        assertEquals(100000001, o.get("cosell_referralsubstatus"), "Pending");
        assertEquals("Azure-AI", o.get("cosell_products"));
        assertEquals(true, o.get("cosell_syncwithpartnercenter"));
        assertEquals(true, o.get("cosell_iscosell"));
        assertEquals("John Doe <john@microsoft.example>", o.get("cosell_microsoftteam"));
        assertTrue(o.get("cosell_audit").toString().contains("Partner Center -> CRM: created from referral " + referralId
                + " (New/Pending)"), o.get("cosell_audit").toString());

        Map<String, Object> link = link(referralId);
        assertEquals(opportunityId, link.get("opportunity_id"));
        assertEquals("partnercenter", link.get("origin"));
        assertEquals("linked", link.get("state"));
        assertEquals(referral.get("eTag"), link.get("referral_etag"));
        assertEquals(1001L, ((Number) link.get("opportunity_version")).longValue());
        assertEquals(List.of("created"), audit(referralId));
        assertEquals(1, rows("select * from camel_messageprocessed where processorname = 'partner-center-to-dynamics-365'"
                + " and messageid like ?", "referral-created|" + referralId + "|%").size(), "the event is done");
    }

    @Test
    void aKnownCustomerIsBoundNotCreatedAndLongNotesAreCutToTheColumn() {
        String referralId = id();
        String accountId = id();
        String contactId = id();
        Map<String, Object> referral = referral(referralId, "Northwind " + unique());
        ((Map<String, Object>) referral.get("details")).put("notes", "n".repeat(2500));
        partnerCenter.answer("GET v1.0/engagements/referrals/" + referralId, referral);
        dataverse.answer("POST $batch", batch(Map.of("value", List.of(Map.of("accountid", accountId, "name", "Northwind"))),
                Map.of("value", List.of(Map.of("contactid", contactId)))));
        dataverse.answer("PATCH opportunities(cosell_referralid='" + referralId + "')", writtenOpportunity(id(), 1001));

        process(event("referral-created", referralId));

        assertEquals(List.of("POST $batch", "PATCH opportunities(cosell_referralid='" + referralId + "')"), dataverseKeys(),
                "no account or contact created");
        Map<String, Object> o = dataverse.calls().get(dataverse.calls().size() - 1).json();
        assertEquals("/accounts(" + accountId + ")", o.get("parentaccountid@odata.bind"));
        assertEquals("/contacts(" + contactId + ")", o.get("parentcontactid@odata.bind"));
        String description = o.get("description").toString();
        assertEquals(2000, description.length(), "description (Memo, 2000)");
        assertTrue(description.endsWith("…"));
        assertTrue(o.get("cosell_audit").toString().contains("opportunity.description cut to 2000 of 2500 characters"));
        assertEquals(List.of("fitted", "created"), audit(referralId));
    }

    @Test
    void anUpdatedEventForALinkedReferralPatchesTheOpportunityOnce() {
        String referralId = id();
        String opportunityId = id();
        Map<String, Object> referral = referral(referralId, "Adatum " + unique());
        Map<String, Object> created = linkReferral(referral, opportunityId);

        Map<String, Object> changed = copyOf(referral);
        changed.put("eTag", "\"etag-updated\"");
        changed.put("status", "Active");
        changed.put("substatus", "Accepted");
        ((Map<String, Object>) changed.get("details")).put("dealValue", 65000);
        partnerCenter.answer("GET v1.0/engagements/referrals/" + referralId, changed);
        dataverse.answer("GET opportunities(" + opportunityId + ")", created);
        dataverse.answer("PATCH opportunities(" + opportunityId + ")", writtenOpportunity(opportunityId, 1002));

        String event = event("referral-updated", referralId);
        process(event);

        assertEquals(List.of("GET opportunities(" + opportunityId + ")", "PATCH opportunities(" + opportunityId + ")"),
                dataverseKeys());
        Call patch = dataverse.only("PATCH opportunities(" + opportunityId + ")");
        assertEquals("W/\"1001\"", patch.header("If-Match"), "over the version read");
        Map<String, Object> body = patch.json();
        assertEquals(Set.of("estimatedvalue", "cosell_referralstatus", "cosell_referralsubstatus", "cosell_audit"), body.keySet(),
                "only what the referral changed");
        assertEquals(65000, body.get("estimatedvalue"));
        assertEquals(100000002, body.get("cosell_referralstatus"), "Active");
        assertEquals(100000003, body.get("cosell_referralsubstatus"), "Accepted");
        assertTrue(body.get("cosell_audit").toString().contains("Partner Center -> CRM: updated (Active/Accepted)"));

        Map<String, Object> link = link(referralId);
        assertEquals("\"etag-updated\"", link.get("referral_etag"));
        assertEquals(1002L, ((Number) link.get("opportunity_version")).longValue());
        assertEquals(List.of("created", "updated"), audit(referralId));

        // The same event delivered again is a duplicate (idempotent repository): not even read.
        standIns();
        process(event);
        assertEquals(List.of(), partnerCenter.calls());
        assertEquals(List.of(), dataverse.calls());
    }

    @Test
    void aWriteDataverseRefusesIsADeadLetterToReplay() {
        String referralId = id();
        partnerCenter.answer("GET v1.0/engagements/referrals/" + referralId, referral(referralId, "Litware " + unique()));
        dataverse.answer("POST $batch", batch(Map.of("value", List.of(Map.of("accountid", id()))),
                Map.of("value", List.of(Map.of("contactid", id())))));
        dataverse.answer("PATCH opportunities(cosell_referralid='" + referralId + "')",
                status(400, "{\"error\":{\"code\":\"0x80040203\",\"message\":\"Invalid value for cosell_referralstatus\"}}"));

        String event = event("referral-created", referralId);
        process(event);

        List<Map<String, Object>> dead = rows("select * from dead_letter where message_key like ?", "referral-created|" + referralId + "|%");
        assertEquals(1, dead.size());
        assertEquals("partner-center-to-dynamics-365", dead.get(0).get("flow"));
        assertEquals(QUEUE, dead.get(0).get("endpoint"));
        assertEquals("open", dead.get(0).get("state"));
        assertEquals(event, dead.get(0).get("body"), "the original event, to replay");
        assertTrue(dead.get(0).get("error").toString().contains("400"), dead.get(0).get("error").toString());
        assertEquals(1, dataverse.calls("PATCH opportunities(cosell_referralid='" + referralId + "')").size(), "a 400 is not retried");
        assertNull(link(referralId));
        assertEquals(List.of("failed"), audit(referralId));
        assertEquals(0, rows("select * from camel_messageprocessed where messageid like ?", "referral-created|" + referralId + "|%")
                .size(), "not marked done: a replay is processed");
    }
}
