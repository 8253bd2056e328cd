package dev.cosell.connector.flows;

import static dev.cosell.connector.flows.RemoteStandIn.status;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.cosell.connector.flows.RemoteStandIn.Call;
import org.apache.camel.Exchange;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Flow "Dynamics 365 Opportunity to Partner Center" (routes/dynamics-365-opportunity-to-partner-center.camel.yaml),
 * entered with a linked opportunity that changed: only the shared fields the CRM changed go to Partner Center, as one
 * JSON Patch with If-Match over the referral the ledger keeps; a 412 reads the referral and plans again, and what
 * Microsoft changed meanwhile goes to the opportunity.
 * Runs nested in {@link ConnectorFlowsTest}, on the connector all flows share.
 */
@SuppressWarnings("unchecked")
abstract class Dynamics365OpportunityToPartnerCenterTest extends FlowTestSupport {

    static final String ENTRY = "direct:dynamics-365-opportunity-to-partner-center";

    String opportunityId;
    String referralId;
    /** The referral as Partner Center created it (eTag "etag-created"). */
    Map<String, Object> referral;
    /** The opportunity as the connector wrote it back (version 5002). */
    Map<String, Object> written;

    @BeforeEach
    void linked() {
        opportunityId = id();
        referralId = id();
        written = new LinkedHashMap<>();
        referral = linkOpportunity(opportunity(opportunityId, id(), id()), referralId, written);
    }

    /** The opportunity as a seller saved it: version 5003 with these changes. */
    Map<String, Object> edited(Object... changes) {
        Map<String, Object> o = new LinkedHashMap<>(written);
        o.put("versionnumber", 5003);
        o.put("@odata.etag", "W/\"5003\"");
        o.putAll(map(changes));
        return o;
    }

    Exchange send(Map<String, Object> opportunity) {
        return send(ENTRY, Map.of("opportunity", opportunity, "opportunityId", opportunityId, "referralId", referralId,
                "link", ledger.findByOpportunity(opportunityId), "flow", "dynamics-365-to-partner-center"));
    }

    @Test
    void aChangedDealValueIsOneJsonPatchWithTheReferralsETag() {
        partnerCenter.answer("PATCH v1.0/engagements/referrals/" + referralId,
                call -> patched(referral, call.json(), "\"etag-2\""));

        Exchange done = send(edited("estimatedvalue", 150000));

        assertEquals(null, done.getException());
        assertEquals(List.of("PATCH v1.0/engagements/referrals/" + referralId), partnerCenter.keys(),
                "no read first: the ledger keeps the referral as last answered");
        Call patch = partnerCenter.calls().get(0);
        assertEquals("\"etag-created\"", patch.header("If-Match"));
        assertEquals("return=representation", patch.header("Prefer"));
        assertEquals(List.of(Map.of("op", "replace", "path", "/details/dealValue", "value", 150000)), patch.json(),
                "only what the CRM changed");
        assertEquals(List.of(), dataverse.writes(), "nothing goes back to the opportunity");
        assertEquals("\"etag-2\"", link(referralId).get("referral_etag"));
        assertEquals(List.of("created", "updated"), audit(referralId));
        assertTrue(rows("select detail from sync_audit where referral_id = ? and action = 'updated'", referralId).get(0)
                .get("detail").toString().contains("/details/dealValue"));
    }

    @Test
    void aChangeOfNoSharedFieldSendsNothing() {
        Exchange done = send(edited("name", "✔ Fabrikam data platform (phase 2)", "cosell_audit", "a seller's note"));

        assertEquals(null, done.getException());
        assertEquals(List.of(), partnerCenter.calls());
        assertEquals(List.of(), dataverse.writes());
        assertEquals(List.of("created"), audit(referralId));
    }

    @Test
    void aReferralMicrosoftChangedMeanwhileIsReadPatchedAgainAndItsChangeGoesToTheOpportunity() {
        Map<String, Object> changedByMicrosoft = copyOf(referral);
        changedByMicrosoft.put("eTag", "\"etag-ms\"");
        ((Map<String, Object>) changedByMicrosoft.get("details")).put("notes", "Microsoft: the customer asks for a PoC");
        partnerCenter.answer("PATCH v1.0/engagements/referrals/" + referralId,
                status(412, "{\"code\":\"PreconditionFailed\",\"message\":\"eTag mismatch\"}"),
                (java.util.function.Function<Call, Object>) call -> patched(changedByMicrosoft, call.json(), "\"etag-3\""));
        partnerCenter.answer("GET v1.0/engagements/referrals/" + referralId, changedByMicrosoft);
        Map<String, Object> opportunity = edited("estimatedvalue", 150000);
        dataverse.answer("GET opportunities(" + opportunityId + ")", opportunity);
        dataverse.answer("PATCH opportunities(" + opportunityId + ")", writtenOpportunity(opportunityId, 5004));

        Exchange done = send(opportunity);

        assertEquals(null, done.getException());
        assertEquals(List.of("PATCH v1.0/engagements/referrals/" + referralId, "GET v1.0/engagements/referrals/" + referralId,
                "PATCH v1.0/engagements/referrals/" + referralId), partnerCenter.keys());
        List<Call> patches = partnerCenter.calls("PATCH v1.0/engagements/referrals/" + referralId);
        assertEquals(List.of("\"etag-created\"", "\"etag-ms\""), patches.stream().map(c -> c.header("If-Match")).toList());
        assertEquals(patches.get(0).<List<Object>>json(), patches.get(1).json(), "Microsoft's notes are not in the patch");
        // Microsoft's notes reach the opportunity, and only they.
        Map<String, Object> toCrm = dataverse.only("PATCH opportunities(" + opportunityId + ")").json();
        assertEquals("Microsoft: the customer asks for a PoC", toCrm.get("description"));
        assertEquals(java.util.Set.of("description", "cosell_audit"), toCrm.keySet());
        assertEquals("\"etag-3\"", link(referralId).get("referral_etag"));
        assertEquals(List.of("created", "updated", "updated"), audit(referralId));
    }

    @Test
    void aWonOpportunityClosesTheReferralAsOneTransition() {
        partnerCenter.answer("PATCH v1.0/engagements/referrals/" + referralId,
                call -> patched(referral, call.json(), "\"etag-won\""));

        assertEquals(null, send(edited("statecode", 1, "statuscode", 3)).getException());

        assertEquals(List.of(Map.of("op", "replace", "path", "/status", "value", "Closed"),
                Map.of("op", "replace", "path", "/substatus", "value", "Won")),
                partnerCenter.only("PATCH v1.0/engagements/referrals/" + referralId).json());
        assertEquals("closed", link(referralId).get("state"));
    }
}
