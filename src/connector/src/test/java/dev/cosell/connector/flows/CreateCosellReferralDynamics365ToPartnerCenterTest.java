package dev.cosell.connector.flows;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import dev.cosell.connector.flows.RemoteStandIn.Call;
import dev.cosell.connector.mapping.MappingException;
import org.apache.camel.Exchange;
import org.junit.jupiter.api.Test;

/**
 * Flow "Create Co-sell Referral - Dynamics 365 to Partner Center"
 * (routes/create-cosell-referral-dynamics-365-to-partner-center.camel.yaml), entered with a flagged opportunity
 * that has no referral: its customer read, the referral POSTed (solutions always a list:
 * dynamics-365-microsoft-solutions-to-partner-center), linked, and the link fields written back; a missing required
 * field is said on the opportunity and nothing is sent; a referral an earlier attempt made is taken, never made twice.
 * Runs nested in {@link ConnectorFlowsTest}, on the connector all flows share.
 */
@SuppressWarnings("unchecked")
abstract class CreateCosellReferralDynamics365ToPartnerCenterTest extends FlowTestSupport {

    static final String ENTRY = "direct:create-cosell-referral-dynamics-365-to-partner-center";

    String opportunityId;
    String accountId;
    String contactId;
    String referralId;
    String customer;

    Map<String, Object> flagged() {
        opportunityId = id();
        accountId = id();
        contactId = id();
        referralId = id();
        customer = "Fabrikam " + unique();
        dataverse.answer("GET accounts(" + accountId + ")", account(accountId, customer));
        dataverse.answer("GET contacts(" + contactId + ")", contact(contactId));
        dataverse.answer("PATCH opportunities(" + opportunityId + ")", writtenOpportunity(opportunityId, 5002));
        partnerCenter.answer("POST v1.0/engagements/referrals", createdReferral(referralId));
        return opportunity(opportunityId, accountId, contactId);
    }

    Exchange create(Map<String, Object> opportunity) {
        return send(ENTRY, Map.of("opportunity", opportunity, "opportunityId", opportunityId, "flow", "dynamics-365-to-partner-center"));
    }

    @Test
    void aFlaggedOpportunityBecomesASharedCoSellReferralAndIsLinked() {
        Exchange done = create(flagged());
        assertEquals(null, done.getException());

        assertEquals(List.of("GET accounts(" + accountId + ")", "GET contacts(" + contactId + ")"),
                dataverse.keys().stream().filter(k -> k.startsWith("GET a") || k.startsWith("GET c")).toList());
        Map<String, Object> r = partnerCenter.only("POST v1.0/engagements/referrals").json();
        assertEquals("Fabrikam data platform", r.get("name"));
        assertEquals("Shared", r.get("type"));
        assertEquals("SalesQualified", r.get("qualification"));
        assertEquals(opportunityId, r.get("externalReferenceId"));
        assertEquals("Develop", r.get("salesStage"));
        Map<String, Object> profile = (Map<String, Object>) r.get("customerProfile");
        assertEquals(customer, profile.get("name"));
        assertEquals(Map.of("addressLine1", "1 Lake Rd", "city", "Redmond", "state", "WA", "postalCode", "98052", "country", "US"),
                profile.get("address"));
        assertEquals("51to250employees", profile.get("size"));
        assertEquals(List.of(Map.of("firstName", "Ana", "lastName", "Lima", "email", "ana@fabrikam.example",
                "phoneNumber", "+1 425 555 0100")), profile.get("team"));
        assertEquals(List.of(Map.of("profileType", "Duns", "id", "123456789")), profile.get("ids"));
        assertEquals(Map.of("consentToToShareInfoWithOthers", true, "consentToContact", true,
                "consentToShareReferralWithMicrosoftSellers", true), r.get("consent"));
        Map<String, Object> details = (Map<String, Object>) r.get("details");
        assertEquals(120000, details.get("dealValue"));
        assertEquals("USD", details.get("currency"), "from the opportunity's transactioncurrencyid");
        assertEquals("2027-06-30T00:00:00Z", details.get("closingDateTime"));
        assertEquals("Migration to Azure", details.get("notes"));
        Object solutions = ((Map<String, Object>) details.get("requirements")).get("solutions");
        assertEquals(List.of(Map.of("id", "Azure-AI", "name", "Azure-AI", "type", "Name"),
                Map.of("id", "Dynamics-365", "name", "Dynamics-365", "type", "Name")), solutions);
        assertEquals(Map.of("assistanceRequestCode", "ProofOfConceptOrDemo"), r.get("inviteContext"));

        // The link fields written back over the version read.
        Call writeBack = dataverse.only("PATCH opportunities(" + opportunityId + ")");
        assertEquals("W/\"5001\"", writeBack.header("If-Match"));
        Map<String, Object> fields = writeBack.json();
        assertEquals(referralId, fields.get("cosell_referralid"));
        assertEquals(REFERRAL_LINK + referralId, fields.get("cosell_referrallink"));
        assertEquals(100000001, fields.get("cosell_referralstatus"));
        assertEquals(100000001, fields.get("cosell_referralsubstatus"));
        assertEquals(true, fields.get("cosell_iscosell"));
        assertEquals("✔ Fabrikam data platform", fields.get("name"));
        assertTrue(fields.get("cosell_audit").toString().contains("CRM -> Partner Center: referral " + referralId + " created (Shared)"));

        Map<String, Object> link = link(referralId);
        assertEquals(opportunityId, link.get("opportunity_id"));
        assertEquals("dynamics", link.get("origin"));
        assertEquals("\"etag-created\"", link.get("referral_etag"));
        assertEquals(5002L, ((Number) link.get("opportunity_version")).longValue(), "the write-back is our own version");
        assertEquals(List.of("created"), audit(referralId));
        assertEquals(List.of(), rows("select * from referral_create_attempt where opportunity_id = ?", opportunityId));
    }

    @Test
    void oneProductIsStillAListAndAPrivateDealIsIndependent() {
        Map<String, Object> opportunity = flagged();
        opportunity.put("cosell_products", "Azure-AI");
        opportunity.put("cosell_sharewithmicrosoftsellers", false);

        assertEquals(null, create(opportunity).getException());

        Map<String, Object> r = partnerCenter.only("POST v1.0/engagements/referrals").json();
        Object solutions = ((Map<String, Object>) ((Map<String, Object>) r.get("details")).get("requirements")).get("solutions");
        assertInstanceOf(List.class, solutions, "details.requirements.solutions must be an array, even of one");
        assertEquals(List.of(Map.of("id", "Azure-AI", "name", "Azure-AI", "type", "Name")), solutions);
        assertEquals("Independent", r.get("type"));
        assertEquals(false, ((Map<String, Object>) r.get("consent")).get("consentToShareReferralWithMicrosoftSellers"));
    }

    @Test
    void aMissingRequiredFieldIsSaidOnTheOpportunityAndNothingIsSent() {
        Map<String, Object> opportunity = flagged();
        opportunity.remove("estimatedclosedate");

        Exchange done = create(opportunity);

        assertNotNull(PartnerCenterReferralUpdatesToDynamics365Test.cause(done.getException(), MappingException.class),
                "fails (a dead letter in the poll's route): " + done.getException());
        assertEquals(List.of(), partnerCenter.calls());
        Call said = dataverse.only("PATCH opportunities(" + opportunityId + ")");
        assertEquals("*", said.header("If-Match"));
        assertEquals(java.util.Set.of("cosell_audit"), said.<Map<String, Object>>json().keySet());
        assertTrue(said.<Map<String, Object>>json().get("cosell_audit").toString().contains(
                "Not sent to Partner Center: missing required field Est. close date (estimatedclosedate)"));
        assertEquals(1, rows("select * from camel_messageprocessed where processorname = 'dynamics-365-to-partner-center'"
                + " and messageid = ?", opportunityId + "|5002").size(), "the audit write is not taken for a seller's change");
    }

    @Test
    void theReferralOfAnEarlierAttemptIsTakenNotCreatedTwice() {
        Map<String, Object> opportunity = flagged();
        // An attempt that POSTed and died before the ledger knew: its marker is in the store.
        update("insert into referral_create_attempt (opportunity_id, attempted_at) values (?, ?)", opportunityId,
                Timestamp.from(Instant.now().minusSeconds(60)));
        Map<String, Object> earlier = referral(referralId, customer);
        earlier.put("externalReferenceId", opportunityId);
        earlier.put("createdDateTime", Instant.now().minusSeconds(50).toString());
        Map<String, Object> other = referral(id(), "Other " + unique());
        partnerCenter.answer("GET v1.0/engagements/referrals", map("value", List.of(other, earlier)));

        assertEquals(null, create(opportunity).getException());

        assertEquals(List.of("GET v1.0/engagements/referrals"), partnerCenter.keys(), "found, not POSTed again");
        String query = java.net.URLDecoder.decode(partnerCenter.calls().get(0).query(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(query.startsWith("$filter=updatedDateTime ge ") && query.endsWith("&$orderby=createdDateTime desc"), query);
        assertEquals(opportunityId, link(referralId).get("opportunity_id"));
        assertEquals(referralId, dataverse.only("PATCH opportunities(" + opportunityId + ")").<Map<String, Object>>json()
                .get("cosell_referralid"));
    }
}
