package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.time.Duration;

import dev.cosell.connector.store.ConnectorStore;
import dev.cosell.connector.store.StoreTarget;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The production store: both directions with the ledger, inbox, idempotent repositories and cursors
 * on PostgreSQL (required in CI, skipped with the reason elsewhere).
 */
class BothWaysOnPostgresTest {

    private ConnectorHarness harness;
    private ConnectorStore.Settings pg;

    @AfterEach
    void stop() {
        if (harness != null) {
            harness.close();
        }
        if (pg != null) {
            StoreTarget.dropPostgres(pg);
        }
    }

    private long inboxDuplicates(String referralId) throws Exception {
        var ds = harness.runtime().context().getRegistry().lookupByNameAndType("dataSource", javax.sql.DataSource.class);
        try (var c = ds.getConnection(); var ps = c.prepareStatement(
                "select count(*) from webhook_inbox where state = 'duplicate' and resource_id = ?")) {
            ps.setString(1, referralId);
            try (var rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    @Test
    void syncsBothWaysWithTheStateInPostgres() throws Exception {
        pg = StoreTarget.postgres();
        harness = new ConnectorHarness().with("store.url", pg.url()).with("store.user", pg.user())
                .with("store.password", pg.password()).with("sync.poll-interval-ms", "300");
        harness.start();
        Seller seller = new Seller(harness);
        harness.awaitWebhookRegistration();

        // Partner Center -> CRM, event delivered twice.
        String referralId = harness.sandbox.partnerCenter().createAsMicrosoft(harness.tenant(),
                PartnerCenterToDynamicsTest.referral("Postgres One", "10to50employees")).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> seller.ledger().find(referralId) != null);
        var delivery = harness.sandbox.partnerCenter().webhooks().deliveries().stream()
                .filter(d -> d.resourceUri.endsWith(referralId)).findFirst().orElseThrow();
        harness.sandbox.partnerCenter().webhooks().redeliver(delivery);
        await().atMost(Duration.ofSeconds(10)).until(() -> delivery.attempts.size() == 2);
        // The second delivery is recorded and dropped as a duplicate by the repository in PostgreSQL.
        await().atMost(Duration.ofSeconds(10)).until(() -> inboxDuplicates(referralId) == 1);
        assertEquals(1, harness.sandbox.dataverse().api().rows("opportunities").stream()
                .filter(o -> referralId.equals(o.path("cosell_referralid").asText())).count());

        // CRM -> Partner Center, and the delta link is in PostgreSQL.
        String opp = seller.opportunity("Postgres Two", true, "Azure");
        assertNotNull(seller.referralOf(opp));
        var cursor = harness.runtime().context().getRegistry().lookupByNameAndType("syncCursor",
                dev.cosell.connector.ledger.SyncCursor.class);
        assertNotNull(cursor.get("dataverse-opportunities-delta"));
    }
}
