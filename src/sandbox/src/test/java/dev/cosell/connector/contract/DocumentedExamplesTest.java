package dev.cosell.connector.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cosell.connector.sandbox.ContractSchema;
import dev.cosell.connector.sandbox.ContractSchema.Shape;
import org.junit.jupiter.api.Test;

/**
 * Microsoft's documented examples (src/test/resources/contract/examples) against our schema of the
 * published contract: each fits, or breaks it exactly where the example itself breaks the swagger.
 */
class DocumentedExamplesTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static final ContractSchema CONTRACT = ContractSchema.partnerCenter();

    static JsonNode example(String name) {
        try (InputStream in = DocumentedExamplesTest.class.getResourceAsStream("/contract/examples/" + name)) {
            return JSON.readTree(in);
        } catch (IOException e) {
            throw new IllegalStateException(name, e);
        }
    }

    @Test
    void referralAnswersFitTheContract() {
        for (String name : List.of("get-a-referral-by-id.response.json", "create-a-referral.response.json",
                "update-a-referral.response.json")) {
            assertEquals(List.of(), CONTRACT.problems(Shape.Referral, example(name)), name);
        }
    }

    @Test
    void requestBodiesFitTheContract() {
        assertEquals(List.of(), CONTRACT.problems(Shape.NewReferral, example("create-a-referral.request.json")));
        assertEquals(List.of(), CONTRACT.problems(Shape.Referral, example("update-a-referral.request.json")));
        assertEquals(List.of(), CONTRACT.problems(Shape.ReferralPatch, example("patch-a-referral.sample-2.json")));
        assertEquals(List.of(), CONTRACT.problems(Shape.ReferralPatch, example("patch-a-referral.sample-3.json")));
    }

    @Test
    void theListExampleBreaksTheSwaggerOnlyWhereItWritesIdsAsAnObject() {
        List<String> problems = CONTRACT.problems(Shape.ReferralList, example("get-a-list-of-referrals.response.json"));
        assertEquals(2, problems.size(), problems.toString());
        assertTrue(problems.stream().allMatch(p -> p.contains("/customerProfile/ids") && p.contains("array")), problems.toString());
    }

    @Test
    void thePatchExamplesBreakTheSwaggerOnlyWhereTheySendTheDealValueAsAString() {
        for (String name : List.of("patch-a-referral.request.json", "patch-a-referral.sample-1.json")) {
            List<String> problems = CONTRACT.problems(Shape.UpdateReferralDetails, example(name));
            assertTrue(!problems.isEmpty() && problems.stream().allMatch(p -> p.startsWith("/0/value")), name + ": " + problems);
        }
    }

    @Test
    void webhookEventsFitTheContract() {
        for (String event : List.of("referral-created", "referral-updated", "related-referral-created",
                "related-referral-updated", "test-created")) {
            assertEquals(List.of(), CONTRACT.problems(Shape.WebhookEvent, example("webhook-event." + event + ".json")), event);
        }
    }

    @Test
    void aContractViolationNamesTheProperty() {
        var referral = (com.fasterxml.jackson.databind.node.ObjectNode) example("create-a-referral.request.json").deepCopy();
        ((com.fasterxml.jackson.databind.node.ObjectNode) referral.path("details").path("requirements"))
                .set("solutions", JSON.createObjectNode().put("id", "Azure").put("name", "Azure").put("type", "Name"));
        ((com.fasterxml.jackson.databind.node.ObjectNode) referral.path("consent")).put("consentToShareInfoWithOthers", true);
        ((com.fasterxml.jackson.databind.node.ObjectNode) referral.path("customerProfile")).put("size", "1000to9999employees");
        List<String> problems = CONTRACT.problems(Shape.NewReferral, referral);
        assertTrue(problems.stream().anyMatch(p -> p.contains("/details/requirements/solutions") && p.contains("array")), problems.toString());
        assertTrue(problems.stream().anyMatch(p -> p.contains("consentToShareInfoWithOthers")), problems.toString());
        assertTrue(problems.stream().anyMatch(p -> p.contains("/customerProfile/size")), problems.toString());
    }
}
