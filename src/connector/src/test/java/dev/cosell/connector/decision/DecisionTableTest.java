package dev.cosell.connector.decision;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import javax.sql.DataSource;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cosell.connector.decision.SyncDecisions.Opportunity;
import dev.cosell.connector.decision.SyncDecisions.Referral;
import dev.cosell.connector.backfill.BackfillPage;
import dev.cosell.connector.backfill.Reconciliation;
import dev.cosell.connector.ConnectorConfiguration;
import dev.cosell.connector.RouteTests;
import org.apache.camel.BeanInject;
import org.apache.camel.CamelContext;
import org.apache.camel.EndpointInject;
import org.apache.camel.ProducerTemplate;
import org.apache.camel.component.mock.MockEndpoint;
import org.apache.camel.support.DefaultExchange;
import org.apache.camel.test.main.junit5.CamelMainTest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * One table of cases per direction, run through every path that decides: the decision table itself,
 * the webhook flow's router (the real route, its next steps mocked), the backfill's bulk sort, the dry
 * run's plan, and the Dataverse poll's router. They must all agree — a rule changed in one place only
 * would fail here.
 */
@CamelMainTest(propertyPlaceholderLocations = "file:application.properties",
        configurationClasses = ConnectorConfiguration.class,
        properties = { RouteTests.STORE, RouteTests.SECRET_KEY, RouteTests.TENANT, RouteTests.CLIENT, RouteTests.SECRET,
                RouteTests.REFRESH_TOKEN, RouteTests.DATAVERSE, RouteTests.CALLBACK, RouteTests.NO_REGISTRATION, RouteTests.NO_SERVER_PORT, RouteTests.NO_MANAGEMENT,
                RouteTests.NO_POLL, RouteTests.NO_SWEEP },
        // The decisions' next steps are where this test stops: each is a mock, nothing is called.
        mockEndpointsAndSkip = "direct:(create-opportunity-from-referral|partner-center-referral-updates-to-dynamics-365"
                + "|create-cosell-referral-dynamics-365-to-partner-center|dynamics-365-opportunity-to-partner-center)",
        // The poll's queue as a direct endpoint: a send returns when the change is decided.
        replaceRouteFromWith = "dynamics-365-opportunity-changed=direct:dynamics-365-opportunity-changes")
class DecisionTableTest {

    static final ObjectMapper JSON = new ObjectMapper();

    @EndpointInject("mock:direct:create-opportunity-from-referral")
    MockEndpoint createOpportunity;
    @EndpointInject("mock:direct:partner-center-referral-updates-to-dynamics-365")
    MockEndpoint updateOpportunity;
    @EndpointInject("mock:direct:create-cosell-referral-dynamics-365-to-partner-center")
    MockEndpoint createReferral;
    @EndpointInject("mock:direct:dynamics-365-opportunity-to-partner-center")
    MockEndpoint updateReferral;

    @BeanInject
    CamelContext context;
    ProducerTemplate template;
    DataSource store;

    @BeforeEach
    void wire() {
        template = context.createProducerTemplate();
        store = context.getRegistry().lookupByNameAndType("dataSource", DataSource.class);
        MockEndpoint.resetMocks(context);
    }

    /** A referral case: how the referral looks, whether it is linked and with which eTag. */
    record ReferralCase(String name, String type, String status, String externalReferenceId, Boolean linkedSameEtag,
            Referral expected) {
    }

    static final List<ReferralCase> REFERRAL_CASES = List.of(
            new ReferralCase("linked, our own write", "Shared", "Active", null, true, Referral.OWN_WRITE),
            new ReferralCase("linked, changed by Microsoft", "Shared", "Active", null, false, Referral.UPDATE),
            new ReferralCase("linked private deal (Independent)", "Independent", "Active", null, false, Referral.UPDATE),
            new ReferralCase("linked, now closed", "Shared", "Closed", null, false, Referral.UPDATE),
            new ReferralCase("not linked, created from an opportunity", "Shared", "New", "opp-1", null, Referral.FROM_CRM),
            new ReferralCase("not linked, not co-sell", "Independent", "New", null, null, Referral.SKIP_NOT_COSELL),
            new ReferralCase("not linked, closed", "Shared", "Closed", null, null, Referral.SKIP_CLOSED),
            new ReferralCase("not linked, closed and not co-sell", "Independent", "Closed", null, null, Referral.SKIP_NOT_COSELL),
            new ReferralCase("not linked, new co-sell", "Shared", "New", null, null, Referral.CREATE),
            new ReferralCase("not linked, empty external id", "Shared", "Active", "", null, Referral.CREATE));

    @Test
    void everyPathDecidesTheSameForEachReferral() throws Exception {
        SyncDecisions table = context.getRegistry().lookupByNameAndType("syncDecisions", SyncDecisions.class);
        BackfillPage backfill = context.getRegistry().lookupByNameAndType("backfillPage", BackfillPage.class);
        Reconciliation reconciliation = context.getRegistry().lookupByNameAndType("reconciliation", Reconciliation.class);
        List<Map<String, Object>> page = new ArrayList<>();
        Map<String, ReferralCase> byId = new LinkedHashMap<>();
        for (ReferralCase c : REFERRAL_CASES) {
            String id = UUID.randomUUID().toString();
            Map<String, Object> referral = new HashMap<>(Map.of("id", id, "eTag", "etag-now", "type", c.type(), "status",
                    c.status(), "name", c.name()));
            if (c.externalReferenceId() != null) {
                referral.put("externalReferenceId", c.externalReferenceId());
            }
            Map<String, Object> link = c.linkedSameEtag() == null ? null : link(id, c.linkedSameEtag() ? "etag-now" : "etag-before");
            page.add(referral);
            byId.put(id, c);

            // 1. the table
            assertEquals(c.expected(), table.forReferral(referral, link), c.name());

            // 2. the webhook flow's router, for real
            createOpportunity.reset();
            updateOpportunity.reset();
            template.send("direct:sync-referral-to-opportunity", e -> {
                e.setProperty("referral", referral);
                e.setProperty("referralId", id);
                e.setProperty("flow", "partner-center-to-dynamics-365");
            });
            assertEquals(c.expected() == Referral.CREATE ? 1 : 0, createOpportunity.getReceivedCounter(), "create: " + c.name());
            assertEquals(c.expected() == Referral.UPDATE ? 1 : 0, updateOpportunity.getReceivedCounter(), "update: " + c.name());
            boolean skip = c.expected() == Referral.SKIP_CLOSED || c.expected() == Referral.SKIP_NOT_COSELL;
            assertEquals(skip ? 1 : 0, count("select count(*) from sync_audit where referral_id = ? and action = 'skipped'", id),
                    "audited skip: " + c.name());

            // 4. the dry run's plan says the same in words
            String plan = reconciliation.plan(referral, link, "hash-other");
            String expectedWords = switch (c.expected()) {
                case OWN_WRITE -> "unchanged";
                case FROM_CRM -> "link to opportunity";
                case SKIP_NOT_COSELL -> "skip (not co-sell)";
                case SKIP_CLOSED -> "skip (closed";
                case CREATE -> "create opportunity";
                case UPDATE -> "update opportunity";
            };
            assertTrue(plan.contains(id + "  " + expectedWords), c.name() + " -> " + plan);
        }

        // 3. the backfill's bulk path takes exactly the CREATE cases of a page
        var exchange = new DefaultExchange(context);
        backfill.sort(page, exchange);
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> oneByOne = exchange.getProperty(BackfillPage.ONE_BY_ONE, List.class);
        for (Map<String, Object> r : page) {
            ReferralCase c = byId.get(r.get("id").toString());
            assertEquals(c.expected() != Referral.CREATE, oneByOne.contains(r), "bulk path: " + c.name());
        }
        assertEquals(REFERRAL_CASES.stream().filter(c -> c.expected() == Referral.CREATE).count(),
                page.size() - oneByOne.size());
    }

    record OpportunityCase(String name, boolean flagged, String referralId, Boolean linkedSameVersion, Opportunity expected) {
    }

    static final List<OpportunityCase> OPPORTUNITY_CASES = List.of(
            new OpportunityCase("linked, our own write", true, null, true, Opportunity.OWN_WRITE),
            new OpportunityCase("linked, edited by a seller", true, null, false, Opportunity.UPDATE),
            new OpportunityCase("linked, unflagged since", false, null, false, Opportunity.SKIP_NOT_FLAGGED),
            new OpportunityCase("not linked, carries a referral id", true, "ref-1", null, Opportunity.FROM_PARTNER_CENTER),
            new OpportunityCase("not linked, flagged", true, null, null, Opportunity.CREATE),
            new OpportunityCase("not linked, not flagged", false, null, null, Opportunity.SKIP_NOT_FLAGGED));

    @Test
    void thePollAndTheTableDecideTheSameForEachOpportunity() throws Exception {
        SyncDecisions table = context.getRegistry().lookupByNameAndType("syncDecisions", SyncDecisions.class);
        for (OpportunityCase c : OPPORTUNITY_CASES) {
            String id = UUID.randomUUID().toString();
            Map<String, Object> opportunity = new HashMap<>(Map.of("opportunityid", id, "versionnumber", 7,
                    "cosell_syncwithpartnercenter", c.flagged(), "name", c.name()));
            if (c.referralId() != null) {
                opportunity.put("cosell_referralid", c.referralId());
            }
            Map<String, Object> link = null;
            if (c.linkedSameVersion() != null) {
                link = opportunityLink(id, c.linkedSameVersion() ? 7 : 6);
            }
            assertEquals(c.expected(), table.forOpportunity(opportunity, link), c.name());

            createReferral.reset();
            updateReferral.reset();
            template.sendBody("direct:dynamics-365-opportunity-changes", JSON.writeValueAsString(opportunity));
            assertEquals(c.expected() == Opportunity.CREATE ? 1 : 0, createReferral.getReceivedCounter(), "create: " + c.name());
            assertEquals(c.expected() == Opportunity.UPDATE ? 1 : 0, updateReferral.getReceivedCounter(), "update: " + c.name());
        }
    }

    private Map<String, Object> link(String referralId, String etag) throws Exception {
        insertLink(referralId, "opp-" + referralId, etag, 1);
        return ledger().find(referralId);
    }

    private Map<String, Object> opportunityLink(String opportunityId, long version) throws Exception {
        String referralId = "ref-" + opportunityId;
        insertLink(referralId, opportunityId, "etag", version);
        return ledger().find(referralId);
    }

    private dev.cosell.connector.ledger.SyncLedger ledger() {
        return context.getRegistry().lookupByNameAndType("syncLedger", dev.cosell.connector.ledger.SyncLedger.class);
    }

    private void insertLink(String referralId, String opportunityId, String etag, long version) throws Exception {
        try (Connection c = store.getConnection(); PreparedStatement ps = c.prepareStatement(
                "insert into sync_link (referral_id, opportunity_id, origin, state, referral_etag, opportunity_version, "
                        + "opportunity_hash, created_at, updated_at) values (?, ?, 'partnercenter', 'linked', ?, ?, 'hash-now', ?, ?)")) {
            Timestamp now = Timestamp.from(Instant.now());
            ps.setString(1, referralId);
            ps.setString(2, opportunityId);
            ps.setString(3, etag);
            ps.setLong(4, version);
            ps.setTimestamp(5, now);
            ps.setTimestamp(6, now);
            ps.executeUpdate();
        }
    }

    private long count(String sql, String key) throws Exception {
        try (Connection c = store.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, key);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }
}
