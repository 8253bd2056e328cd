package dev.cosell.connector.flows;

import static dev.cosell.connector.flows.RemoteStandIn.batch;
import static dev.cosell.connector.flows.RemoteStandIn.status;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import dev.cosell.connector.flows.RemoteStandIn.Call;
import dev.cosell.connector.ledger.SyncCursor;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Flow "Dynamics 365 to Partner Center" (routes/dynamics-365-to-partner-center.camel.yaml): a poll asks Dataverse
 * what changed (change tracking, the delta link kept in sync_cursor), reads the customers of newly flagged
 * opportunities in one $batch, and routes each changed row: a flagged one without a referral gets one, our own
 * write and unflagged rows are left alone, a row that fails is a dead letter and the poll moves on.
 * Runs nested in {@link ConnectorFlowsTest}, on the connector all flows share.
 */
abstract class Dynamics365ToPartnerCenterTest extends FlowTestSupport {

    /** The schedule's route (quartz in the connector; a direct endpoint here). */
    static final String POLL = "direct:dynamics-365-to-partner-center";
    static final String DELTA = "dataverse-opportunities-delta";
    static final String DELTA_LINK = "https://contoso.crm.dynamics.com/api/data/v9.2/opportunities?$select=opportunityid&$deltatoken=";

    SyncCursor cursor;

    @BeforeEach
    void fromTheCurrentState() {
        cursor = context.getRegistry().lookupByNameAndType("syncCursor", SyncCursor.class);
        cursor.put(DELTA, null);
    }

    void poll() {
        template.sendBody(POLL, null);
    }

    static Map<String, Object> page(String deltaToken, Object... rows) {
        return map("@odata.context", "https://contoso.crm.dynamics.com/api/data/v9.2/$metadata#opportunities/$delta",
                "value", List.of(rows), "@odata.deltaLink", DELTA_LINK + deltaToken);
    }

    @Test
    void theFirstPollReadsTheCurrentStateAndAFlaggedOpportunityGetsAReferral() {
        String flagged = id();
        String accountId = id();
        String contactId = id();
        String referralId = id();
        Map<String, Object> notFlagged = opportunity(id(), id(), id());
        notFlagged.put("cosell_syncwithpartnercenter", false);
        Map<String, Object> deleted = map("@odata.context", "https://contoso.crm.dynamics.com/api/data/v9.2/$metadata#opportunities/$deletedEntity",
                "id", id(), "reason", "deleted");
        dataverse.answer("GET opportunities", page("919042", opportunity(flagged, accountId, contactId), notFlagged, deleted));
        dataverse.answer("POST $batch", batch(account(accountId, "Fabrikam " + unique()), contact(contactId)));
        partnerCenter.answer("POST v1.0/engagements/referrals", createdReferral(referralId));
        dataverse.answer("PATCH opportunities(" + flagged + ")", writtenOpportunity(flagged, 5002));

        poll();

        Call read = dataverse.calls().get(0);
        assertEquals("GET opportunities", read.key());
        assertTrue(read.query().startsWith("$select=opportunityid,name,description,"), "no delta link yet: " + read.query());
        assertEquals("odata.track-changes,odata.maxpagesize=500", read.header("Prefer"));
        // The flagged row's customer in one $batch; nobody reads it again.
        assertEquals(List.of("GET /api/data/v9.2/accounts(" + accountId + ")", "GET /api/data/v9.2/contacts(" + contactId + ")"),
                RemoteStandIn.batchRequests(dataverse.only("POST $batch").text()));
        assertEquals(List.of(), dataverse.calls("GET accounts(" + accountId + ")"));
        assertEquals(List.of(), dataverse.calls("GET contacts(" + contactId + ")"));

        assertEquals(List.of("POST v1.0/engagements/referrals"), partnerCenter.keys(), "one referral, for the flagged row only");
        assertEquals(flagged, partnerCenter.calls().get(0).<Map<String, Object>>json().get("externalReferenceId"));
        assertEquals(1, dataverse.calls("PATCH opportunities(" + flagged + ")").size(), "its link fields written back");
        assertTrue(dataverse.calls().stream().noneMatch(c -> c.path().contains(notFlagged.get("opportunityid").toString())));

        assertEquals("$select=opportunityid&$deltatoken=919042", cursor.get(DELTA), "the next poll asks for changes only");
        assertEquals(flagged, link(referralId).get("opportunity_id"));
        assertEquals("dynamics", link(referralId).get("origin"));
        assertEquals(1, rows("select * from camel_messageprocessed where processorname = 'dynamics-365-to-partner-center'"
                + " and messageid = ?", flagged + "|5001").size());
    }

    @Test
    void theNextPollFollowsTheDeltaLinkAndOurOwnWriteIsNotSentBack() {
        cursor.put(DELTA, "$select=opportunityid&$deltatoken=1");
        // Linked at version 7 by our own write; and one carrying a referral id the ledger does not know yet.
        String ours = id();
        String referralId = id();
        ledger.record("dynamics", null, referralId, ours, "W/\"7\"", null, null, null, null);
        Map<String, Object> ownWrite = opportunity(ours, id(), id());
        ownWrite.put("versionnumber", 7);
        ownWrite.put("cosell_referralid", referralId);
        Map<String, Object> fromPartnerCenter = opportunity(id(), id(), id());
        fromPartnerCenter.put("cosell_referralid", id());
        dataverse.answer("GET opportunities", page("2", ownWrite, fromPartnerCenter));

        poll();

        assertEquals(List.of("GET opportunities"), dataverse.keys(), "nothing read or written for either row");
        assertEquals("$select=opportunityid&$deltatoken=1", dataverse.calls().get(0).query());
        assertEquals(List.of(), partnerCenter.calls(), "no echo, no second referral");
        assertEquals("$select=opportunityid&$deltatoken=2", cursor.get(DELTA));
        // Our own write left the page before the row's work (no idempotency key kept for it); the other went through it.
        String processed = "select * from camel_messageprocessed where processorname = 'dynamics-365-to-partner-center' and messageid = ?";
        assertEquals(0, rows(processed, ours + "|7").size(), "our own write never reached the row's pipeline");
        assertEquals(1, rows(processed, fromPartnerCenter.get("opportunityid") + "|" + fromPartnerCenter.get("versionnumber")).size());
    }

    @Test
    void anExpiredDeltaLinkStartsAgainFromTheCurrentState() {
        cursor.put(DELTA, "$select=opportunityid&$deltatoken=old");
        dataverse.answer("GET opportunities",
                status(400, "{\"error\":{\"code\":\"0x80044352\",\"message\":\"The delta token is older than the retention\"}}"),
                page("fresh"));

        poll();
        assertEquals(1, dataverse.calls().size());
        assertEquals("$select=opportunityid&$deltatoken=old", dataverse.calls().get(0).query());
        assertNull(cursor.get(DELTA), "forgotten");

        poll();
        assertTrue(dataverse.calls().get(1).query().startsWith("$select=opportunityid,name,"), "the current state read again");
        assertEquals("$select=opportunityid&$deltatoken=fresh", cursor.get(DELTA));
    }

    @Test
    void aRowThatCannotBeSentIsADeadLetterAndThePollMovesOn() {
        String opportunityId = id();
        String accountId = id();
        String contactId = id();
        Map<String, Object> incomplete = opportunity(opportunityId, accountId, contactId);
        incomplete.put("estimatedvalue", null);
        dataverse.answer("GET opportunities", page("3", incomplete));
        dataverse.answer("POST $batch", batch(account(accountId, "Wingtip " + unique()), contact(contactId)));
        dataverse.answer("PATCH opportunities(" + opportunityId + ")", writtenOpportunity(opportunityId, 5002));

        poll();

        assertEquals(List.of(), partnerCenter.calls(), "nothing sent before every required field is there");
        Call said = dataverse.only("PATCH opportunities(" + opportunityId + ")");
        assertEquals("*", said.header("If-Match"));
        assertTrue(said.<Map<String, Object>>json().get("cosell_audit").toString().contains(
                "Not sent to Partner Center: missing required field Est. revenue (estimatedvalue). Fill it in and save again."));
        List<Map<String, Object>> dead = rows("select * from dead_letter where message_key = ?", opportunityId + "|5001");
        assertEquals(1, dead.size());
        assertEquals("dynamics-365-to-partner-center", dead.get(0).get("flow"));
        assertEquals("seda:dynamics-365-opportunity-changes?waitForTaskToComplete=Always&timeout=0", dead.get(0).get("endpoint"));
        assertTrue(dead.get(0).get("body").toString().contains(opportunityId));
        assertEquals(1, rows("select * from camel_messageprocessed where messageid = ?", opportunityId + "|5002").size(),
                "the audit write is our own version: not taken for a seller's change");
        assertEquals("$select=opportunityid&$deltatoken=3", cursor.get(DELTA), "the poll went on past the row");
    }
}
