package dev.cosell.connector.flows;

import static dev.cosell.connector.flows.RemoteStandIn.status;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.cosell.connector.flows.RemoteStandIn.Call;
import dev.cosell.connector.mapping.MappingException;
import org.apache.camel.Exchange;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Flow "Partner Center Microsoft Co-sell Referral Updates to Dynamics 365"
 * (routes/partner-center-referral-updates-to-dynamics-365.camel.yaml), entered with a linked referral that changed:
 * nothing is written when no mapped field changed; otherwise the opportunity is read and only the columns the
 * referral changed are PATCHed over the version read (If-Match), read again after a 412.
 * Runs nested in {@link ConnectorFlowsTest}, on the connector all flows share.
 */
@SuppressWarnings("unchecked")
abstract class PartnerCenterReferralUpdatesToDynamics365Test extends FlowTestSupport {

    static final String ENTRY = "direct:partner-center-referral-updates-to-dynamics-365";

    String referralId;
    String opportunityId;
    Map<String, Object> referral;
    /** The opportunity as the connector created it (version 1001). */
    Map<String, Object> created;

    @BeforeEach
    void linked() {
        referralId = id();
        opportunityId = id();
        referral = referral(referralId, "Tailspin " + unique());
        created = linkReferral(referral, opportunityId);
    }

    /** The referral as Microsoft changed it: a new eTag, and the changes made here. */
    Map<String, Object> changed() {
        Map<String, Object> changed = copyOf(referral);
        changed.put("eTag", "\"etag-" + unique() + "\"");
        changed.put("updatedDateTime", "2026-12-01T09:00:00Z");
        return changed;
    }

    Exchange apply(Map<String, Object> changed) {
        return send(ENTRY, Map.of("referral", changed, "referralId", referralId, "link", ledger.find(referralId),
                "flow", "partner-center-to-dynamics-365"));
    }

    List<Call> dataverseCalls() {
        return dataverse.calls().stream().filter(c -> !c.key().equals("GET transactioncurrencies")).toList();
    }

    @Test
    void aChangeIsPatchedOverTheVersionReadAndASellersEditOfAnotherColumnStays() {
        Map<String, Object> changed = changed();
        Map<String, Object> details = (Map<String, Object>) changed.get("details");
        details.put("dealValue", 70000);
        details.put("closingDateTime", "2027-05-31T00:00:00Z");
        // A seller edited the description since our write (version 1005).
        Map<String, Object> current = new LinkedHashMap<>(created);
        current.put("description", "seller's own notes");
        current.put("versionnumber", 1005);
        current.put("@odata.etag", "W/\"1005\"");
        dataverse.answer("GET opportunities(" + opportunityId + ")", current);
        dataverse.answer("PATCH opportunities(" + opportunityId + ")", writtenOpportunity(opportunityId, 1006));

        Exchange done = apply(changed);

        assertEquals(null, done.getException());
        assertEquals(List.of("GET opportunities(" + opportunityId + ")", "PATCH opportunities(" + opportunityId + ")"),
                dataverseCalls().stream().map(Call::key).toList());
        assertTrue(dataverseCalls().get(0).query().startsWith("$select=opportunityid,name,description,estimatedvalue,"));
        Call patch = dataverseCalls().get(1);
        assertEquals("W/\"1005\"", patch.header("If-Match"));
        Map<String, Object> body = patch.json();
        assertEquals(Set.of("estimatedvalue", "estimatedclosedate", "cosell_audit"), body.keySet(),
                "the seller's description is not overwritten");
        assertEquals(70000, body.get("estimatedvalue"));
        assertEquals("2027-05-31", body.get("estimatedclosedate"));
        String trail = body.get("cosell_audit").toString();
        assertTrue(trail.contains("Partner Center -> CRM: updated (New/Pending)") && trail.contains("created from referral"),
                "the new line over the existing trail: " + trail);

        Map<String, Object> link = link(referralId);
        assertEquals(changed.get("eTag"), link.get("referral_etag"));
        assertEquals(1001L, ((Number) link.get("opportunity_version")).longValue(),
                "written over a seller's version: not recorded as our own, the poll still sends the seller's edit");
        assertEquals(List.of("created", "updated"), audit(referralId));
    }

    @Test
    void aReferralWhoseMappedFieldsDidNotChangeWritesNothing() {
        Map<String, Object> changed = changed();

        Exchange done = apply(changed);

        assertEquals(null, done.getException());
        assertEquals(List.of(), dataverseCalls(), "not even read");
        assertEquals(changed.get("eTag"), link(referralId).get("referral_etag"), "its new eTag is recorded (no echo later)");
        assertEquals(List.of("created", "unchanged"), audit(referralId));
        assertEquals("no mapped field changed", rows("select detail from sync_audit where referral_id = ? and action = 'unchanged'",
                referralId).get(0).get("detail"));
    }

    @Test
    void aConcurrentEditIsReadAgainAndWrittenOverTheNewVersion() {
        Map<String, Object> changed = changed();
        changed.put("status", "Closed");
        changed.put("substatus", "Won");
        Map<String, Object> editedMeanwhile = new LinkedHashMap<>(created);
        editedMeanwhile.put("versionnumber", 1003);
        editedMeanwhile.put("@odata.etag", "W/\"1003\"");
        dataverse.answer("GET opportunities(" + opportunityId + ")", created, editedMeanwhile);
        dataverse.answer("PATCH opportunities(" + opportunityId + ")",
                status(412, "{\"error\":{\"code\":\"0x80060882\",\"message\":\"The version of the existing record doesn't match\"}}"),
                writtenOpportunity(opportunityId, 1004));

        Exchange done = apply(changed);

        assertEquals(null, done.getException());
        assertEquals(List.of("GET", "PATCH", "GET", "PATCH"), dataverseCalls().stream().map(Call::method).toList());
        assertEquals(List.of("W/\"1001\"", "W/\"1003\""), dataverseCalls().stream().filter(c -> c.method().equals("PATCH"))
                .map(c -> c.header("If-Match")).toList(), "each PATCH over the version just read");
        Map<String, Object> last = dataverseCalls().get(3).json();
        assertEquals(100000003, last.get("cosell_referralstatus"), "Closed");
        assertEquals(100000004, last.get("cosell_referralsubstatus"), "Won");
        assertEquals("closed", link(referralId).get("state"));
        assertEquals(List.of("created", "updated"), audit(referralId));
    }

    @Test
    void aCurrencyDataverseDoesNotHaveFailsTheMappingNamingItAndWritesNothing() {
        Map<String, Object> changed = changed();
        ((Map<String, Object>) changed.get("details")).put("currency", "XTS");
        String etagBefore = link(referralId).get("referral_etag").toString();

        Exchange done = apply(changed);

        MappingException failure = cause(done.getException(), MappingException.class);
        assertNotNull(failure, "a mapping error, not " + done.getException());
        assertTrue(failure.getMessage().contains("unknown currency 'XTS'") && failure.getMessage().contains("details.currency"),
                failure.getMessage());
        assertEquals(List.of(), dataverse.writes());
        assertEquals(etagBefore, link(referralId).get("referral_etag"), "nothing recorded: a replay applies it");
    }

    static <T extends Throwable> T cause(Throwable t, Class<T> type) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (type.isInstance(c)) {
                return type.cast(c);
            }
        }
        return null;
    }
}
