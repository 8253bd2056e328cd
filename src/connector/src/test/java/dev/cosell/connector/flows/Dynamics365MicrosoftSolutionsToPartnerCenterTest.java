package dev.cosell.connector.flows;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * Flow "Dynamics 365 Microsoft Solutions to Partner Center"
 * (routes/dynamics-365-microsoft-solutions-to-partner-center.camel.yaml): the opportunity's Products become the
 * referral's solution list - always a list - and a change of Products is sent as that list in the referral's PATCH.
 * Runs nested in {@link ConnectorFlowsTest}, on the connector all flows share.
 */
abstract class Dynamics365MicrosoftSolutionsToPartnerCenterTest extends FlowTestSupport {

    static final String ENTRY = "direct:dynamics-365-microsoft-solutions-to-partner-center";

    Object solutionsOf(String products) {
        Map<String, Object> opportunity = new HashMap<>(opportunity(id(), id(), id()));
        opportunity.put("cosell_products", products);
        return run(ENTRY, Map.of("opportunity", opportunity)).getProperty("solutions");
    }

    static Map<String, Object> tag(String id) {
        return Map.of("id", id, "name", id, "type", "Name");
    }

    @Test
    void productsBecomeSolutionTagsInTheirOrder() {
        assertEquals(List.of(tag("Azure-AI"), tag("Dynamics-365"), tag("Power-BI")), solutionsOf("Azure-AI, Dynamics-365 ,,Power-BI"));
        assertEquals(List.of(), dataverse.calls());
        assertEquals(List.of(), partnerCenter.calls());
    }

    @Test
    void oneProductOrNoneIsStillAList() {
        assertEquals(List.of(tag("Azure-AI")), solutionsOf("Azure-AI"));
        assertEquals(List.of(), solutionsOf(null));
        assertEquals(List.of(), solutionsOf(""));
    }

    @Test
    void changedProductsArePatchedAsTheWholeSolutionList() {
        String opportunityId = id();
        String referralId = id();
        Map<String, Object> written = new LinkedHashMap<>();
        Map<String, Object> referral = linkOpportunity(opportunity(opportunityId, id(), id()), referralId, written);
        partnerCenter.answer("PATCH v1.0/engagements/referrals/" + referralId,
                call -> patched(referral, call.json(), "\"etag-2\""));
        Map<String, Object> edited = new LinkedHashMap<>(written);
        edited.put("versionnumber", 5003);
        edited.put("cosell_products", "Dynamics-365,Power-BI");

        run("direct:dynamics-365-opportunity-to-partner-center", Map.of("opportunity", edited, "opportunityId", opportunityId,
                "referralId", referralId, "link", ledger.findByOpportunity(opportunityId), "flow", "dynamics-365-to-partner-center"));

        assertEquals(List.of(Map.of("op", "replace", "path", "/details/requirements/solutions",
                "value", List.of(tag("Dynamics-365"), tag("Power-BI")))),
                partnerCenter.only("PATCH v1.0/engagements/referrals/" + referralId).json());
    }
}
