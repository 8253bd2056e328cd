package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sync.Reconciliation;
import dev.cosell.connector.sync.SyncCursor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Backfill / reconciliation: referrals that never came by webhook are brought in page by page; a
 * stop in the middle resumes from the checkpoint and ends with exactly one opportunity per referral;
 * a dry run writes nothing.
 */
class ReconciliationTest {

    static final ObjectMapper JSON = new ObjectMapper();
    private ConnectorHarness harness;

    @AfterEach
    void stop() {
        if (harness != null) {
            harness.close();
        }
    }

    /** Referrals as they would be in Partner Center before the connector was installed (no webhooks). */
    private void loadReferrals(int count) {
        List<ObjectNode> referrals = new ArrayList<>();
        Instant t = Instant.parse("2026-06-01T00:00:00Z");
        for (int i = 0; i < count; i++) {
            // 40 customers: accounts and contacts are found again after the first referral of each.
            ObjectNode r = PartnerCenterToDynamicsTest.referral("Backfill Customer " + (i % 40), "10to50employees");
            r.put("id", String.format("b0000000-0000-4000-8000-%012d", i)).put("name", "Backfill " + i)
                    .put("createdDateTime", t.plusSeconds(i).toString()).put("updatedDateTime", t.plusSeconds(i).toString())
                    .put("status", "New").put("substatus", "Pending").put("engagementId", "e-" + i);
            referrals.add(r);
        }
        harness.sandbox.partnerCenter().referrals().load(harness.tenant(), referrals);
    }

    private List<ObjectNode> backfilled() {
        return harness.sandbox.dataverse().api().rows("opportunities").stream()
                .filter(o -> o.path("cosell_referralid").asText().startsWith("b0000000")).toList();
    }

    @Test
    void backfillOf5000ReferralsResumesAfterAStopWithExactlyOneOpportunityEach() throws Exception {
        harness = new ConnectorHarness().with("sync.poll-interval-ms", "3600000").with("camel.main.shutdown-timeout", "2")
                .with("partnercenter.webhook.register-on-startup", "false");
        loadReferrals(5000);
        ConnectorRuntime runtime = harness.start();
        var ops = runtime.context().getRegistry().lookupByNameAndType("reconciliation", Reconciliation.class);
        runtime.template().asyncSend("direct:reconcile", e -> e.setProperty("dryRun", false));
        await().atMost(Duration.ofMinutes(2)).until(() -> ops.processed() >= 1500);
        harness.stopConnector(); // in the middle of a page
        int before = backfilled().size();
        assertTrue(before > 0 && before < 5000, "stopped in the middle: " + before);

        runtime = harness.start();
        long started = System.nanoTime();
        Reconciliation second = runtime.reconcile(false);
        long ms = (System.nanoTime() - started) / 1_000_000;
        assertTrue(second.processedThisRun() < 5000, "resumed from the checkpoint, not from the start: "
                + second.processedThisRun());
        // The count goes on from the checkpoint (a page either side: the stop can fall between the
        // checkpoint and the count).
        assertTrue(Math.abs(second.processed() - 5000) <= 100, "counted on from the checkpoint: " + second.processed());
        await().atMost(Duration.ofSeconds(30)).until(() -> backfilled().size() == 5000);
        Set<String> referralIds = new HashSet<>();
        backfilled().forEach(o -> referralIds.add(o.path("cosell_referralid").asText()));
        assertEquals(5000, referralIds.size(), "exactly one opportunity per referral");
        assertEquals(40, harness.sandbox.dataverse().api().rows("accounts").stream()
                .filter(a -> a.path("name").asText().startsWith("Backfill Customer")).count());
        System.out.printf("Backfill: %d before the stop, %d after the restart in %d ms%n", before,
                second.processedThisRun(), ms);

        // Run again: nothing to write.
        long writes = harness.sandbox.dataverse().calls().entries().stream()
                .filter(e -> e.method().equals("PATCH") || e.method().equals("POST")).count();
        Reconciliation third = runtime.reconcile(false);
        assertEquals(5000, third.processed());
        assertEquals("5000", runtime.context().getRegistry().lookupByNameAndType("syncCursor", SyncCursor.class)
                .get("reconciliation-referrals-last-total"), "the total the next run's ETA uses");
        assertEquals(writes, harness.sandbox.dataverse().calls().entries().stream()
                .filter(e -> e.method().equals("PATCH") || e.method().equals("POST")).count(), "a second run writes nothing");
    }

    @Test
    void dryRunPrintsThePlanAndWritesNothing() throws Exception {
        harness = new ConnectorHarness().with("sync.poll-interval-ms", "3600000")
                .with("partnercenter.webhook.register-on-startup", "false");
        loadReferrals(30);
        ConnectorRuntime runtime = harness.start();
        Reconciliation r = runtime.reconcile(true);
        assertEquals(30, r.plan().size());
        assertTrue(r.plan().get(0).contains("create opportunity"), r.plan().get(0));
        assertEquals(0, backfilled().size());
        assertEquals(0, harness.sandbox.dataverse().calls().entries().stream()
                .filter(e -> e.method().equals("PATCH") || e.method().equals("POST")).count());
    }
}
