package dev.cosell.connector.mapping;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The JSON Patch a CRM change becomes: what goes out, with which op, and who wins a conflict. */
class ReferralPatchTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static final ReferralPatch SHIPPED = new ReferralPatch("routes/mappings/field-owners.json");

    static Map<String, Object> referral(String status, String substatus) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("id", "r1");
        r.put("status", status);
        r.put("substatus", substatus);
        r.put("details", new LinkedHashMap<>(Map.of("dealValue", 50000, "notes", "n")));
        return r;
    }

    static Map<String, Object> crm(Object... pairs) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            m.put((String) pairs[i], pairs[i + 1]);
        }
        return m;
    }

    static Map<String, Object> link(Map<String, Object> lastPc, Map<String, Object> lastCrm, Map<String, Object> body) throws Exception {
        Map<String, Object> l = new HashMap<>();
        l.put("referral_projection", lastPc == null ? null : JSON.writeValueAsString(lastPc));
        l.put("opportunity_projection", lastCrm == null ? null : JSON.writeValueAsString(lastCrm));
        l.put("referral_body", body == null ? null : JSON.writeValueAsString(body));
        return l;
    }

    static List<String> ops(ReferralPatch.Plan plan) {
        return plan.ops().stream().map(o -> o.get("op") + " " + o.get("path") + "=" + o.get("value")).toList();
    }

    @Test
    void aTransitionMicrosoftOwnsIsDroppedWholeNotHalfSent(@TempDir Path dir) throws Exception {
        Path owners = dir.resolve("owners.json");
        Files.writeString(owners, "{\"/status\":\"microsoft\",\"/substatus\":\"microsoft\",\"/statusReason\":\"microsoft\","
                + "\"/details/dealValue\":\"partner\"}");
        ReferralPatch patch = new ReferralPatch(owners.toString());
        // Synced at Active/Accepted; since then Microsoft closed it Won, the seller lost it in the CRM.
        Map<String, Object> base = crm("/status", "Active", "/substatus", "Accepted", "/details/dealValue", 50000);
        ReferralPatch.Plan plan = patch.plan(referral("Closed", "Won"), crm("/status", "Closed", "/substatus", "Lost",
                "/statusReason", "Lost in the CRM", "/details/dealValue", 50000), link(base, base, null), false);
        assertEquals(List.of(), ops(plan), "neither the status, nor the substatus, nor the reason");
        assertTrue(plan.report().contains("/status") && plan.report().contains("owner microsoft"), plan.report());
    }

    @Test
    void aTransitionGoesOutWholeWithItsReason() throws Exception {
        Map<String, Object> base = crm("/details/dealValue", 50000);
        ReferralPatch.Plan plan = SHIPPED.plan(referral("Active", "Accepted"), crm("/status", "Closed", "/substatus", "Lost",
                "/statusReason", "Lost in the CRM", "/details/dealValue", 50000), link(base, base, null), false);
        assertEquals(List.of("replace /status=Closed", "replace /substatus=Lost", "add /statusReason=Lost in the CRM"), ops(plan),
                "statusReason is added: the referral has none (RFC 6902: replace needs the member)");
        assertTrue(plan.transition());
        ReferralPatch.Plan without = SHIPPED.plan(referral("Active", "Accepted"), crm("/status", "Closed", "/substatus", "Lost",
                "/details/dealValue", 64000), link(base, base, null), true);
        assertEquals(List.of("replace /details/dealValue=64000"), ops(without), "a refused transition left out");
    }

    @Test
    void aFieldTheReferralLacksIsAddedNotReplaced() throws Exception {
        Map<String, Object> base = crm("/details/dealValue", 50000);
        ReferralPatch.Plan plan = SHIPPED.plan(referral("New", "Pending"), crm("/details/dealValue", 50000, "/salesStage", "Propose"),
                link(base, crm("/details/dealValue", 50000, "/salesStage", null), null), false);
        assertEquals(List.of("add /salesStage=Propose"), ops(plan));
    }

    @Test
    void aLinkFromBeforeTheCrmSideWasKeptTakesNewFieldsAsTheyAreNotAsChanges() throws Exception {
        // Written by an older version: Partner Center's side only, without the fields added since.
        Map<String, Object> lastPc = crm("/details/dealValue", 50000, "/details/notes", "n");
        ReferralPatch.Plan plan = SHIPPED.plan(referral("New", "Pending"), crm("/details/dealValue", 60000, "/details/notes", "n",
                "/salesStage", "Close", "/consent/consentToShareReferralWithMicrosoftSellers", true), link(lastPc, null, null), false);
        assertEquals(List.of("replace /details/dealValue=60000"), ops(plan), "sales stage and sharing were not changed by the seller");
    }

    @Test
    void whatTheCrmHoldsIsTheLedgersCopyWithThePatchWhenItWasApplied() throws Exception {
        Map<String, Object> base = crm("/details/dealValue", 50000);
        Map<String, Object> body = referral("New", "Pending");
        ReferralPatch.Plan plan = SHIPPED.plan(referral("New", "Pending"), crm("/details/dealValue", 64000), link(base, base, body), false);
        assertEquals(64000, ((Map<?, ?>) SHIPPED.heldByCrm(plan, true).get("details")).get("dealValue"));
        assertEquals(50000, ((Map<?, ?>) SHIPPED.heldByCrm(plan, false).get("details")).get("dealValue"));
        assertEquals(null, SHIPPED.heldByCrm(SHIPPED.plan(referral("New", "Pending"), crm("/details/dealValue", 64000),
                link(base, base, null), false), true), "no ledger copy: nobody knows");
    }
}
