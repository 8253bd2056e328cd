package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import dev.cosell.connector.sandbox.Faults;
import dev.cosell.connector.remote.RemoteCircuitBreakers;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Throttling and outages while changes keep coming in both directions: every change is applied once
 * when the remote is back, with no dead letter. Durations are short in the suite; the full
 * ones run with {@code -Dcosell.storm.seconds=30 -Dcosell.outage.seconds=120}.
 */
class ThrottlingAndOutageTest {

    static final int STORM = Integer.getInteger("cosell.storm.seconds", 8);
    static final int OUTAGE = Integer.getInteger("cosell.outage.seconds", 12);
    static final int OPEN_MS = 3000;

    private ConnectorHarness harness;
    private Seller seller;

    @BeforeEach
    void start() throws Exception {
        harness = new ConnectorHarness().with("sync.poll-interval-ms", "300").with("sync.retry.max-delay-ms", "3000")
                .with("sync.circuit-breaker.open-ms", String.valueOf(OPEN_MS));
        harness.start();
        seller = new Seller(harness);
        harness.sandbox.partnerCenter().webhooks().setFirstRetryDelayMs(200);
        harness.awaitWebhookRegistration();
    }

    @AfterEach
    void stop() {
        harness.close();
    }


    private List<String> sellerFlags(int n, String prefix) {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ids.add(seller.opportunity(prefix + " " + i, true, "Azure"));
        }
        return ids;
    }

    private void awaitAllAppliedOnce(List<String> referralIds, List<String> opportunityIds) {
        await().atMost(Duration.ofSeconds(60)).until(() -> referralIds.stream().allMatch(r -> opportunitiesOf(r) == 1)
                && opportunityIds.stream().allMatch(o -> seller.referralsFor(o).size() == 1));
        referralIds.forEach(r -> assertEquals(1, opportunitiesOf(r)));
        opportunityIds.forEach(o -> assertEquals(1, seller.referralsFor(o).size()));
        var deadLetters = harness.runtime().context().getRegistry().lookupByNameAndType("deadLetters",
                dev.cosell.connector.ledger.DeadLetters.class);
        assertEquals(0, deadLetters.openCount(), "nothing was given up");
    }

    private long opportunitiesOf(String referralId) {
        return harness.sandbox.dataverse().api().rows("opportunities").stream()
                .filter(o -> referralId.equals(o.path("cosell_referralid").asText())).count();
    }

    @Test
    void throttlingStormOnBothRemotes() {
        Faults.Rule dv = harness.sandbox.dataverse().faults().add(Faults.Rule.throttle(1));
        Faults.Rule pc = harness.sandbox.partnerCenter().faults().add(Faults.Rule.throttle(1).on(null, "/v1.0/"));
        List<String> referrals = harness.microsoftCreates(5, "Storm");
        List<String> opportunities = sellerFlags(5, "Storm CRM");
        await().pollDelay(Duration.ofSeconds(STORM)).atMost(Duration.ofSeconds(STORM + 5)).until(() -> true);
        harness.sandbox.dataverse().faults().clear();
        harness.sandbox.partnerCenter().faults().clear();
        awaitAllAppliedOnce(referrals, opportunities);
        System.out.printf("429 storm of %d s: %d Dataverse and %d Partner Center requests throttled%n", STORM, dv.fired(),
                pc.fired());
    }

    @Test
    void outageOfDataverseThenOfPartnerCenter() {
        var breakers = harness.runtime().context().getRegistry().lookupByNameAndType("remoteCircuitBreakers",
                RemoteCircuitBreakers.class);
        Faults.Rule down = harness.sandbox.dataverse().faults().add(Faults.Rule.status(503));
        List<String> referrals = harness.microsoftCreates(5, "Dataverse Down");
        await().pollDelay(Duration.ofSeconds(OUTAGE)).atMost(Duration.ofSeconds(OUTAGE + 5)).until(() -> true);
        assertNotEquals("CLOSED", breakers.state("dataverse"), "Dataverse's breaker opened during the outage");
        long dataverseCalls = down.fired();
        harness.sandbox.dataverse().faults().clear();
        awaitAllAppliedOnce(referrals, List.of());
        assertEquals("CLOSED", breakers.state("dataverse"), "closed again once Dataverse answered");

        Faults.Rule pcDown = harness.sandbox.partnerCenter().faults().add(Faults.Rule.status(503).on(null, "/v1.0/"));
        List<String> opportunities = sellerFlags(5, "Partner Center Down");
        List<String> more = harness.microsoftCreates(3, "Partner Center Down MS");
        await().pollDelay(Duration.ofSeconds(OUTAGE)).atMost(Duration.ofSeconds(OUTAGE + 5)).until(() -> true);
        assertNotEquals("CLOSED", breakers.state("partnercenter"), "Partner Center's breaker opened during the outage");
        long partnerCenterCalls = pcDown.fired();
        harness.sandbox.partnerCenter().faults().clear();
        awaitAllAppliedOnce(more, opportunities);
        System.out.printf("Outages of %d s: %d Dataverse and %d Partner Center requests failed with 503%n", OUTAGE,
                dataverseCalls, partnerCenterCalls);
        // The breaker keeps calls down to: enough to open it (10 by default, a few more already in
        // flight), then the trial calls once per open time (3 each).
        long bound = 10 + 8 + (OUTAGE * 1000L / OPEN_MS + 1) * 3;
        assertTrue(dataverseCalls <= bound, dataverseCalls + " Dataverse calls during the outage, bound " + bound);
        assertTrue(partnerCenterCalls <= bound, partnerCenterCalls + " Partner Center calls during the outage, bound " + bound);
    }
}
