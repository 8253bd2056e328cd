package dev.cosell.connector.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cosell.connector.dataverse.TransactionCurrencies;
import dev.cosell.connector.sandbox.ContractSchema;
import dev.cosell.connector.sandbox.ContractSchema.Shape;
import dev.cosell.connector.mapping.FieldMappings;
import dev.cosell.connector.mapping.MappingException;
import dev.cosell.connector.partnercenter.PartnerCenterEvents;
import dev.cosell.connector.mapping.ReferralPatch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * The mapping files of routes/mappings against the published contract, without HTTP: what they make of
 * an opportunity fits the contract's request shapes for 0, 1 and n items of every list, and what they
 * make of Microsoft's documented examples is what the opportunity should say.
 */
class MappingsContractTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static final ContractSchema CONTRACT = ContractSchema.partnerCenter();
    static final String USD = "a0000000-0000-4000-8000-000000000840";
    static final String JPY = "a0000000-0000-4000-8000-000000000392";
    static final Path MAPPINGS = Path.of("routes/mappings");
    static final TransactionCurrencies CURRENCIES = new TransactionCurrencies(60);
    static final FieldMappings MAPPINGS_FILES;
    static {
        CURRENCIES.load(Map.of("value", List.of(Map.of("transactioncurrencyid", USD, "isocurrencycode", "USD"),
                Map.of("transactioncurrencyid", JPY, "isocurrencycode", "JPY"))));
        MAPPINGS_FILES = new FieldMappings(MAPPINGS.toString(), "https://partner.microsoft.com/dashboard/v2/referrals/{id}", true, CURRENCIES);
    }
    static final ReferralPatch PATCH = new ReferralPatch(MAPPINGS.resolve("field-owners.json").toString());

    static Map<String, Object> map(String mapping, Map<String, Object> inputs) {
        return MAPPINGS_FILES.mapRecord(mapping, inputs::get);
    }

    static Map<String, Object> opportunity(String products) {
        Map<String, Object> o = new HashMap<>();
        o.put("opportunityid", "0b000000-0000-4000-8000-0000000000aa");
        o.put("name", "✔ Tailspin analytics");
        o.put("estimatedvalue", 40000);
        o.put("estimatedclosedate", "2027-04-30");
        o.put("description", "Partner-led");
        o.put("salesstage", 1);
        o.put("cosell_howcanmicrosofthelp", 100000002);
        o.put("_transactioncurrencyid_value", JPY);
        if (products != null) {
            o.put("cosell_products", products);
        }
        return o;
    }

    static Map<String, Object> inputs(Map<String, Object> opportunity, boolean contact, boolean duns) {
        Map<String, Object> in = new HashMap<>();
        in.put("opportunity", opportunity);
        in.put("solutions", map("opportunity-to-referral-solutions", Map.of("opportunity", opportunity)).get("solutions"));
        Map<String, Object> account = new HashMap<>(Map.of("name", "Tailspin Ltd", "address1_city", "Oslo",
                "address1_country", "NO", "numberofemployees", 120));
        if (duns) {
            account.put("cosell_dunsnumber", "123456789");
        }
        in.put("account", account);
        if (contact) {
            in.put("contact", Map.of("firstname", "Sue", "lastname", "Smith", "emailaddress1", "sue@tailspin.example"));
        }
        return in;
    }

    @ParameterizedTest
    @ValueSource(strings = { "Azure", "Azure, PowerBI", "Azure,PowerBI,SQL" })
    void aNewReferralFitsTheContractForOneAndManyProducts(String products) {
        Map<String, Object> in = inputs(opportunity(products), true, true);
        JsonNode referral = JSON.valueToTree(map("opportunity-to-referral-create", in));
        assertEquals(List.of(), CONTRACT.problems(Shape.NewReferral, referral), referral.toString());
        JsonNode solutions = referral.path("details").path("requirements").path("solutions");
        assertTrue(solutions.isArray(), "solutions is a list also for one product: " + solutions);
        assertEquals(products.split(",").length, solutions.size());
        assertEquals("Name", solutions.get(0).path("type").asText());
        assertTrue(referral.path("customerProfile").path("team").isArray());
        assertEquals(1, referral.path("customerProfile").path("team").size());
        assertEquals("Duns", referral.path("customerProfile").path("ids").get(0).path("profileType").asText());
        assertEquals("123456789", referral.path("customerProfile").path("ids").get(0).path("id").asText());
        assertEquals("51to250employees", referral.path("customerProfile").path("size").asText());
        assertTrue(referral.path("consent").path("consentToToShareInfoWithOthers").asBoolean());
        assertTrue(referral.path("consent").path("consentToShareReferralWithMicrosoftSellers").asBoolean());
        assertEquals("JPY", referral.path("details").path("currency").asText());
        assertEquals("Develop", referral.path("salesStage").asText());
        assertEquals("ProofOfConceptOrDemo", referral.path("inviteContext").path("assistanceRequestCode").asText());
        assertEquals("Tailspin analytics", referral.path("name").asText(), "the check mark is ours, not the referral's");
    }

    @Test
    void noContactNoIdsAndNoProductAreEmptyListsOrTheReasonNothingIsSent() {
        JsonNode referral = JSON.valueToTree(map("opportunity-to-referral-create", inputs(opportunity("Azure"), false, false)));
        assertEquals(List.of(), CONTRACT.problems(Shape.NewReferral, referral), referral.toString());
        assertEquals(0, referral.path("customerProfile").path("team").size());
        assertTrue(referral.path("customerProfile").path("ids").isArray());
        assertEquals(0, referral.path("customerProfile").path("ids").size());
        MappingException none = assertThrows(MappingException.class,
                () -> map("opportunity-to-referral-create", inputs(opportunity(null), true, true)));
        assertTrue(none.getMessage().contains("Products (cosell_products)"), none.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = { "", "Azure", "Azure,PowerBI" })
    void aCrmChangeIsAJsonPatchThatFitsTheContract(String products) {
        Map<String, Object> before = opportunity("SQL");
        Map<String, Object> after = opportunity(products.isEmpty() ? null : products);
        after.put("estimatedvalue", 64000);
        after.put("salesstage", 2);
        after.put("statecode", 1);
        Map<String, Object> lastCrm = map("opportunity-to-referral-update", inputs(before, true, true));
        Map<String, Object> crm = map("opportunity-to-referral-update", inputs(after, true, true));
        Map<String, Object> referral = JSON.convertValue(DocumentedExamplesTest.example("create-a-referral.response.json"),
                new TypeReference<LinkedHashMap<String, Object>>() { });
        Map<String, Object> link = new HashMap<>();
        link.put("opportunity_projection", json(lastCrm));
        link.put("referral_projection", json(PATCH.sharedFields(referral)));
        ReferralPatch.Plan plan = PATCH.plan(referral, crm, link, false);
        JsonNode ops = JSON.valueToTree(plan.ops());
        assertEquals(List.of(), CONTRACT.problems(Shape.UpdateReferralDetails, ops), ops.toString());
        List<String> paths = new ArrayList<>();
        ops.forEach(op -> paths.add(op.path("op").asText() + " " + op.path("path").asText()));
        assertTrue(paths.contains("replace /details/dealValue") && paths.contains("add /salesStage")
                && paths.contains("replace /status") && paths.contains("replace /substatus"), paths.toString());
        assertFalse(paths.contains("replace /details/notes"), "unchanged in the CRM: not sent");
        // A seller who empties the deal value sends nothing for it (the contract has no empty deal value).
        Map<String, Object> cleared = opportunity("SQL");
        cleared.put("estimatedvalue", null);
        cleared.put("cosell_sharewithmicrosoftsellers", null);
        Map<String, Object> clearedCrm = map("opportunity-to-referral-update", inputs(cleared, true, true));
        assertFalse(clearedCrm.containsKey("/details/dealValue"), clearedCrm.toString());
        assertFalse(clearedCrm.containsKey("/consent/consentToShareReferralWithMicrosoftSellers"), "an empty column is no answer");
        ops.forEach(op -> {
            if (op.path("path").asText().equals("/details/requirements/solutions")) {
                assertTrue(op.path("value").isArray(), "a list for " + products.split(",").length + " product(s)");
            }
        });
    }

    @Test
    void microsoftsDocumentedReferralBecomesTheOpportunityItDescribes() {
        Map<String, Object> referral = JSON.convertValue(DocumentedExamplesTest.example("get-a-referral-by-id.response.json"),
                new TypeReference<Map<String, Object>>() { });
        Map<String, Object> in = new HashMap<>(Map.of("referral", referral, "accountId", "a1", "contactId", "c1"));
        Map<String, Object> projection = map("referral-to-opportunity-update", in);
        in.put("projection", projection);
        Map<String, Object> opportunity = map("referral-to-opportunity-create", in);
        assertEquals(true, opportunity.get("cosell_consenttoshare"), "consentToToShareInfoWithOthers (sic) read");
        assertEquals("/transactioncurrencies(" + USD + ")", opportunity.get("transactioncurrencyid@odata.bind"));
        assertEquals("Dynamics365forFieldService", opportunity.get("cosell_products"));
        assertEquals(false, opportunity.get("cosell_iscosell"), "an Independent referral");
        Map<String, Object> account = map("referral-to-account", in);
        assertEquals("795986822", account.get("cosell_dunsnumber"), "the Duns id of customerProfile.ids[] (profileType Duns)");
        assertEquals(10, ((Number) account.get("numberofemployees")).intValue());

        // The list example writes ids as an object ({}): read as well.
        JsonNode listed = DocumentedExamplesTest.example("get-a-list-of-referrals.response.json").path("value").get(1);
        Map<String, Object> second = JSON.convertValue(listed, new TypeReference<Map<String, Object>>() { });
        Map<String, Object> account2 = map("referral-to-account", Map.of("referral", second));
        assertNull(account2.get("cosell_dunsnumber"));
        assertEquals(true, map("referral-to-opportunity-update", Map.of("referral", second)).get("cosell_consenttoshare"));
    }

    @Test
    void aCurrencyDataverseDoesNotHaveIsARejectionWithTheReason() {
        Map<String, Object> referral = JSON.convertValue(DocumentedExamplesTest.example("create-a-referral.response.json"),
                new TypeReference<LinkedHashMap<String, Object>>() { });
        ((Map<String, Object>) referral.get("details")).put("currency", "CHF");
        MappingException e = assertThrows(MappingException.class,
                () -> map("referral-to-opportunity-update", Map.of("referral", referral)));
        assertTrue(e.getMessage().contains("unknown currency 'CHF'") && e.getMessage().contains("details.currency"), e.getMessage());
    }

    @Test
    void aRequestedDealRegistrationFitsTheContract() {
        Map<String, Object> body = map("opportunity-to-deal-registration", inputs(opportunity("SOL-4711"), true, true));
        JsonNode patch = JSON.valueToTree(body.get("patch"));
        assertEquals(List.of(), CONTRACT.problems(Shape.DealRegistration, patch), patch.toString());
        assertEquals("SOL-4711", patch.get(0).path("value").path("solutionDetails").get(0).path("id").asText());
        assertEquals("JPY", patch.get(0).path("value").path("contract").path("currency").asText());
    }

    @Test
    void documentedWebhookEventsNameTheirReferral() {
        PartnerCenterEvents events = new PartnerCenterEvents(65536, "referral-created,referral-updated");
        for (String name : List.of("referral-created", "referral-updated")) {
            Map<String, Object> event = JSON.convertValue(DocumentedExamplesTest.example("webhook-event." + name + ".json"),
                    new TypeReference<Map<String, Object>>() { });
            event.put("ResourceUri", event.get("ResourceUri").toString().replace("{{ReferralID}}",
                    "c5fbb3b6-be74-4795-9fb5-4324c73fed37"));
            assertEquals("c5fbb3b6-be74-4795-9fb5-4324c73fed37", events.referralId(event));
            assertTrue(events.eventKey(event).startsWith(name + "|c5fbb3b6"));
        }
    }

    static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
