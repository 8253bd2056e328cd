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
import dev.cosell.connector.backfill.Reconciliation;
import dev.cosell.connector.ledger.SyncCursor;
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
        // Each page read takes 150 ms: the stop below falls in the middle of the run, however fast the rest is.
        harness.sandbox.partnerCenter().faults().add(dev.cosell.connector.sandbox.Faults.Rule.delay(150)
                .on("GET", "/engagements/referrals$"));
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
        // Pages as Partner Center cuts them: $top is OData's total (the emulator reads it so), never a page size.
        assertTrue(harness.sandbox.partnerCenter().calls().entries().stream().filter(e -> e.uri().contains("/referrals?"))
                .noneMatch(e -> e.uri().contains("$top")), "no $top sent");
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

    private long dataverseWrites(String what) {
        return harness.sandbox.dataverse().calls().entries().stream().filter(e -> e.method().equals("PATCH")
                || e.method().equals("POST")).filter(e -> what.equals("$batch") == e.uri().contains("$batch")).count();
    }

    @Test
    void newReferralsOfKnownCustomersAreCreatedTwoDataverseCallsPerPage() throws Exception {
        // One $batch call per step (the page's 80 lookups and up to 100 creations fit one call).
        harness = new ConnectorHarness().with("sync.poll-interval-ms", "3600000").with("sync.dataverse.batch-size", "1000")
                .with("partnercenter.webhook.register-on-startup", "false");
        loadReferrals(40); // the 40 customers, created by the page
        ConnectorRuntime runtime = harness.start();
        runtime.reconcile(false);
        assertEquals(40, backfilled().size());
        long batches = dataverseWrites("$batch");
        long singles = dataverseWrites("single");

        loadReferrals(240); // 200 more, of the same customers: pages of 100 (40 linked + 60 new), 100, 40
        runtime.reconcile(false);

        Set<String> referralIds = new HashSet<>();
        backfilled().forEach(o -> referralIds.add(o.path("cosell_referralid").asText()));
        assertEquals(240, backfilled().size());
        assertEquals(240, referralIds.size(), "exactly one opportunity per referral");
        assertEquals(6, dataverseWrites("$batch") - batches, "a lookup $batch and a create $batch per page");
        assertEquals(0, dataverseWrites("single") - singles, "no call per referral");
        assertEquals(240, harness.count("select count(*) from sync_link where referral_id like 'b0000000%' and opportunity_id is not null"
                + " and opportunity_hash is not null and referral_hash is not null and referral_body is not null"));
        assertEquals(240, harness.count("select count(*) from sync_audit where referral_id like 'b0000000%' and action = 'created'"));

        // The links work as the webhook's: a third run finds nothing to write.
        long writes = dataverseWrites("$batch") + dataverseWrites("single");
        runtime.reconcile(false);
        assertEquals(writes, dataverseWrites("$batch") + dataverseWrites("single"));
    }

    @Test
    void aPageCreatesItsNewCustomersOnceAndItsCallsGoInSeveralBatchesAtOnce() throws Exception {
        harness = new ConnectorHarness().with("sync.poll-interval-ms", "3600000").with("sync.dataverse.batch-size", "10")
                .with("partnercenter.webhook.register-on-startup", "false");
        loadReferrals(100); // one page: 100 referrals of 40 customers the CRM does not have yet
        ConnectorRuntime runtime = harness.start();
        runtime.reconcile(false);

        assertEquals(100, backfilled().size());
        assertEquals(0, dataverseWrites("single"), "no call per referral or per customer");
        // 80 lookups, 40 accounts, 40 contacts, 100 opportunities: in calls of at most 10 requests
        assertEquals(8 + 4 + 4 + 10, dataverseWrites("$batch"));
        var accounts = harness.sandbox.dataverse().api().rows("accounts").stream()
                .filter(a -> a.path("name").asText().startsWith("Backfill Customer")).toList();
        assertEquals(40, accounts.size(), "each new customer created once");
        assertEquals(40, harness.sandbox.dataverse().api().rows("contacts").size());
        // Every opportunity under its own customer's account (the answers of parallel calls kept in order).
        java.util.Map<String, String> accountName = new java.util.HashMap<>();
        accounts.forEach(a -> accountName.put(a.path("accountid").asText(), a.path("name").asText()));
        for (ObjectNode o : backfilled()) {
            int i = Integer.parseInt(o.path("cosell_referralid").asText().substring(24));
            assertEquals("Backfill Customer " + (i % 40), accountName.get(o.path("_parentaccountid_value").asText()),
                    "account of " + o.path("name").asText());
        }
        assertEquals(100, harness.count("select count(*) from sync_link where referral_id like 'b0000000%' and opportunity_id is not null"));
        assertEquals(0, harness.count("select count(*) from customer_creation where state = 'creating'"), "every customer given back");
        assertEquals(0, harness.count("select count(*) from dead_letter"));

        // Four pages at once of the same 40 customers, new again (another CRM's names): the first page
        // to claim a customer creates it, the others look it up again in bulk; nothing one by one.
        loadReferralsOf("Second Customer ", 100, 400);
        long batchesBefore = dataverseWrites("$batch");
        runtime.reconcile(false);
        assertEquals(500, backfilled().size());
        assertEquals(0, dataverseWrites("single"), "no call per referral or per customer");
        assertEquals(40, harness.sandbox.dataverse().api().rows("accounts").stream()
                .filter(a -> a.path("name").asText().startsWith("Second Customer")).count(), "each new customer created once");
        assertTrue(dataverseWrites("$batch") - batchesBefore >= 4 * (8 + 10), "each page's lookups and creations in $batch");
    }

    private void loadReferralsOf(String customer, int from, int count) {
        List<ObjectNode> referrals = new ArrayList<>();
        Instant t = Instant.parse("2026-07-01T00:00:00Z");
        for (int i = from; i < from + count; i++) {
            ObjectNode r = PartnerCenterToDynamicsTest.referral(customer + (i % 40), "10to50employees");
            r.put("id", String.format("b0000000-0000-4000-8000-%012d", i)).put("name", "Backfill " + i)
                    .put("createdDateTime", t.plusSeconds(i).toString()).put("updatedDateTime", t.plusSeconds(i).toString())
                    .put("status", "New").put("substatus", "Pending").put("engagementId", "e-" + i);
            referrals.add(r);
        }
        harness.sandbox.partnerCenter().referrals().load(harness.tenant(), referrals);
    }

    @Test
    void aPageTheBulkPathCannotTakeGoesOneByOneWithoutADuplicate() throws Exception {
        harness = new ConnectorHarness().with("sync.poll-interval-ms", "3600000")
                .with("partnercenter.webhook.register-on-startup", "false");
        loadReferrals(40);
        ConnectorRuntime runtime = harness.start();
        runtime.reconcile(false);
        // The first $batch of the run fails (503): that page goes one by one.
        loadReferrals(100);
        var failing = harness.sandbox.dataverse().faults().add(dev.cosell.connector.sandbox.Faults.Rule.status(503)
                .on("POST", "\\$batch").times(1));
        runtime.reconcile(false);
        assertEquals(1, failing.fired());
        assertEquals(100, backfilled().size(), "exactly one opportunity per referral");

        // An opportunity for referral 150 exists already (made meanwhile, not in the ledger): its creation
        // in the page's batch answers 412, and the pipeline links it instead of creating another.
        String existing = String.format("b0000000-0000-4000-8000-%012d", 150);
        harness.sandbox.dataverse().api().seed("opportunities", List.of((ObjectNode) new ObjectMapper().createObjectNode()
                .put("opportunityid", "0e000000-0000-4000-8000-000000000150").put("name", "Made meanwhile")
                .put("cosell_referralid", existing)));
        loadReferrals(200);
        runtime.reconcile(false);
        Set<String> referralIds = new HashSet<>();
        backfilled().forEach(o -> referralIds.add(o.path("cosell_referralid").asText()));
        assertEquals(200, referralIds.size());
        assertEquals(200, backfilled().size(), "exactly one opportunity per referral");
        assertEquals("0e000000-0000-4000-8000-000000000150", harness.text("select opportunity_id from sync_link where referral_id = '"
                + existing + "'"), "the existing opportunity is linked, not created again");
        assertEquals(0, harness.count("select count(*) from dead_letter"));
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
