package dev.cosell.connector.flows;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import dev.cosell.connector.backfill.Reconciliation;
import dev.cosell.connector.flows.RemoteStandIn.Call;
import dev.cosell.connector.ledger.SyncCursor;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Backfill and reconciliation (routes/reconciliation.camel.yaml): Partner Center's referrals are paged through
 * (@odata.nextLink) and each goes through the webhook's pipeline; a dry run only lists what it would do.
 * Runs nested in {@link ConnectorFlowsTest}, on the connector all flows share.
 */
@SuppressWarnings("unchecked")
abstract class ReconciliationFlowTest extends FlowTestSupport {

    static final String ENTRY = "direct:reconcile";
    static final String REFERRALS = "GET v1.0/engagements/referrals";

    SyncCursor cursor;
    Reconciliation reconciliation;

    @BeforeEach
    void fromTheFirstPage() {
        cursor = context.getRegistry().lookupByNameAndType("syncCursor", SyncCursor.class);
        reconciliation = context.getRegistry().lookupByNameAndType("reconciliation", Reconciliation.class);
        cursor.put("reconciliation-referrals-page", null);
    }

    static Map<String, Object> page(List<Map<String, Object>> referrals, String nextLink) {
        Map<String, Object> page = map("value", referrals);
        if (nextLink != null) {
            page.put("@odata.nextLink", nextLink);
        }
        return page;
    }

    @Test
    void aDryRunListsItsPlanPageAfterPageAndWritesNothing() {
        Map<String, Object> fresh = referral(id(), "Alpine " + unique());
        Map<String, Object> notCoSell = referral(id(), "Bellows " + unique());
        notCoSell.put("type", "Independent");
        // Linked, and changed by Microsoft since.
        Map<String, Object> changed = referral(id(), "Coho " + unique());
        String changedOpportunity = id();
        Map<String, Object> before = copyOf(changed);
        before.put("eTag", "\"etag-before\"");
        ledger.record("partnercenter", before, changed.get("id").toString(), changedOpportunity, "W/\"3\"", "hash-before",
                Map.of(), null, null);
        Map<String, Object> closed = referral(id(), "Dune " + unique());
        closed.put("status", "Closed");
        closed.put("substatus", "Lost");
        // Linked, and this is the version our own write made.
        Map<String, Object> ours = referral(id(), "Elm " + unique());
        ledger.record("partnercenter", ours, ours.get("id").toString(), id(), "W/\"4\"", "hash-ours", Map.of(), null, null);
        cursor.put("dataverse-opportunities-delta", "$deltatoken=kept");
        long links = rows("select * from sync_link").size();
        long audits = rows("select * from sync_audit").size();
        long deadLetters = rows("select * from dead_letter").size();
        partnerCenter.answer(REFERRALS,
                page(List.of(fresh, notCoSell, changed), "https://api.partner.microsoft.com/v1.0/engagements/referrals?$skiptoken=page2"),
                page(List.of(closed, ours), null));

        run(ENTRY, Map.of("dryRun", true));

        List<Call> pages = partnerCenter.calls(REFERRALS);
        assertEquals(2, pages.size(), partnerCenter.keys().toString());
        assertEquals("$filter=status eq 'New' or status eq 'Active'&$orderby=createdDateTime asc",
                URLDecoder.decode(pages.get(0).query(), StandardCharsets.UTF_8));
        assertEquals("$skiptoken=page2", pages.get(1).query(), "the next page as Partner Center linked it");

        List<String> plan = reconciliation.plan();
        assertEquals(5, plan.size(), plan.toString());
        assertPlanned(plan, fresh, "create opportunity");
        assertPlanned(plan, notCoSell, "skip (not co-sell)");
        assertPlanned(plan, changed, "update opportunity " + changedOpportunity);
        assertPlanned(plan, closed, "skip (closed, never linked)");
        assertPlanned(plan, ours, "unchanged (our own write)");

        // Nothing written anywhere: only reads went out, the store is as it was.
        assertEquals(List.of(), partnerCenter.writes());
        assertEquals(List.of(), dataverse.writes());
        assertTrue(dataverse.calls().stream().allMatch(c -> c.key().equals("GET transactioncurrencies")), dataverse.keys().toString());
        assertEquals(links, rows("select * from sync_link").size());
        assertEquals(audits, rows("select * from sync_audit").size());
        assertEquals(deadLetters, rows("select * from dead_letter").size());
        assertEquals("\"etag-before\"", link(changed.get("id").toString()).get("referral_etag"));
        assertEquals("$deltatoken=kept", cursor.get("dataverse-opportunities-delta"), "the opportunities are not re-read");
        assertNull(cursor.get("reconciliation-referrals-page"), "no checkpoint");
    }

    static void assertPlanned(List<String> plan, Map<String, Object> referral, String decision) {
        String id = referral.get("id").toString();
        assertTrue(plan.stream().anyMatch(line -> line.startsWith(id + "  " + decision)), id + " " + decision + " in " + plan);
    }

    @Test
    void aRealRunAppliesEachReferralAndMakesThePollReReadTheOpportunities() {
        Map<String, Object> notCoSell = referral(id(), "Fourth " + unique());
        notCoSell.put("type", "Independent");
        Map<String, Object> linked = referral(id(), "Graphic " + unique());
        String opportunityId = id();
        Map<String, Object> created = linkReferral(linked, opportunityId);
        Map<String, Object> changed = copyOf(linked);
        changed.put("eTag", "\"etag-changed\"");
        ((Map<String, Object>) changed.get("details")).put("dealValue", 99000);
        partnerCenter.answer(REFERRALS, page(List.of(notCoSell, changed), null));
        dataverse.answer("GET opportunities(" + opportunityId + ")", created);
        dataverse.answer("PATCH opportunities(" + opportunityId + ")", writtenOpportunity(opportunityId, 1002));
        cursor.put("dataverse-opportunities-delta", "$deltatoken=old");

        run(ENTRY, Map.of());

        assertEquals(List.of(REFERRALS), partnerCenter.keys(), "no second read: the page has the referrals");
        assertEquals(99000, dataverse.only("PATCH opportunities(" + opportunityId + ")").<Map<String, Object>>json()
                .get("estimatedvalue"));
        assertEquals(List.of("skipped"), audit(notCoSell.get("id").toString()));
        assertEquals(List.of("created", "updated"), audit(linked.get("id").toString()));
        assertEquals("reconciliation", rows("select flow from sync_audit where referral_id = ? and action = 'updated'",
                linked.get("id")).get(0).get("flow"));
        assertNull(cursor.get("dataverse-opportunities-delta"), "the next poll reads all opportunities again");
        assertTrue(reconciliation.status().startsWith("finished"), reconciliation.status());
    }
}
