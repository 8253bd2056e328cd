package dev.cosell.connector.bench;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.Sandbox;
import dev.cosell.connector.sandbox.partnercenter.SampleReferrals;

/** Microsoft co-sell referrals for the benchmark, as Partner Center would hold them. */
final class Referrals {

    private Referrals() {
    }

    static ObjectNode referral(String customer, String name) {
        return SampleReferrals.coSell(customer, name, "10to50employees");
    }

    /**
     * {@code n} referrals already in Partner Center (no webhooks): 40 customers, fixed ids (numbers
     * {@code from} to {@code from + n - 1}), for a backfill.
     */
    static void load(Sandbox sandbox, int from, int n) {
        Instant t = Instant.parse("2026-06-01T00:00:00Z");
        List<ObjectNode> batch = new ArrayList<>();
        for (int i = from; i < from + n; i++) {
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
