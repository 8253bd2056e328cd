package dev.cosell.connector.bench;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.Sandbox;

/** Microsoft co-sell referrals for the benchmark, as Partner Center would hold them. */
final class Referrals {

    private static final ObjectMapper JSON = new ObjectMapper();

    private Referrals() {
    }

    static ObjectNode referral(String customer, String name) {
        ObjectNode r = JSON.createObjectNode().put("name", name).put("type", "Shared").put("qualification", "SalesQualified");
        ObjectNode cp = r.putObject("customerProfile").put("name", customer).put("size", "10to50employees");
        cp.putObject("address").put("addressLine1", "1 Main St").put("city", "Seattle").put("country", "US");
        cp.putArray("team").addObject().put("firstName", "Sue").put("lastName", "Smith")
                .put("email", "sue@" + customer.toLowerCase().replace(' ', '-') + ".example");
        ObjectNode details = r.putObject("details").put("notes", "needs help").put("dealValue", 50000)
                .put("currency", "USD").put("closingDateTime", "2027-03-31T00:00:00Z");
        details.putObject("requirements").putArray("solutions").addObject().put("id", "Azure-AI").put("name", "AI")
                .put("solutionType", "Category");
        r.putArray("team").addObject().put("firstName", "John").put("lastName", "Doe").put("email", "john@microsoft.example");
        return r;
    }

    /** {@code n} referrals already in Partner Center (no webhooks): 40 customers, fixed ids, for a backfill. */
    static void load(Sandbox sandbox, int n) {
        Instant t = Instant.parse("2026-06-01T00:00:00Z");
        List<ObjectNode> batch = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ObjectNode r = referral("Backfill Customer " + (i % 40), "Backfill " + i);
            r.put("id", String.format("b0000000-0000-4000-8000-%012d", i)).put("createdDateTime", t.plusSeconds(i).toString())
                    .put("updatedDateTime", t.plusSeconds(i).toString()).put("status", "New").put("substatus", "Pending")
                    .put("engagementId", "e-" + i);
            batch.add(r);
            if (batch.size() == 5000) {
                sandbox.partnerCenter().referrals().load(sandbox.tenant(), batch);
                batch = new ArrayList<>();
            }
        }
        if (!batch.isEmpty()) {
            sandbox.partnerCenter().referrals().load(sandbox.tenant(), batch);
        }
    }
}
