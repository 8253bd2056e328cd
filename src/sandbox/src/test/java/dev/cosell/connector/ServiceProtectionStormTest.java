package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import dev.cosell.connector.remote.RemoteConcurrency;
import dev.cosell.connector.sandbox.Faults;
import dev.cosell.connector.sandbox.dataverse.ServiceProtection;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The connector's adaptive concurrency against the emulators' limits: a 429 storm on both remotes
 * (every request answered 429, Retry-After 1 s), then Dataverse's service protection with a concurrency
 * limit below what the connector would ramp up to and no x-ms-dop-hint to tell it. During the storm the
 * connector holds its calls for each Retry-After; afterwards the share of requests answered 429 in the
 * steady state stays under 1 %, and every change is applied once, none dead-lettered.
 */
class ServiceProtectionStormTest {

    static final int STORM_SECONDS = Integer.getInteger("cosell.storm.seconds", 6);

    private ConnectorHarness harness;

    @BeforeEach
    void start() throws Exception {
        harness = new ConnectorHarness().with("sync.poll-interval-ms", "500").with("sync.retry.max-delay-ms", "3000");
        harness.start();
        harness.sandbox.partnerCenter().webhooks().setFirstRetryDelayMs(200);
        harness.awaitWebhookRegistration();
    }

    @AfterEach
    void stop() {
        harness.close();
    }


    private long opportunitiesOf(String referralId) {
        return harness.sandbox.dataverse().api().rows("opportunities").stream()
                .filter(o -> referralId.equals(o.path("cosell_referralid").asText())).count();
    }

    @Test
    void backsOffInAStormAndStaysUnderTheLimitsAfterwards() {
        var dv = harness.sandbox.dataverse();
        var protection = dv.serviceProtection();
        dv.latency().set(20, 10);
        harness.sandbox.partnerCenter().latency().set(30, 10);
        // Service protection as documented, but 2 concurrent requests (the connector may go to 32) and no hint.
        protection.limits(ServiceProtection.Limits.documented().withConcurrent(2));
        var concurrency = harness.runtime().context().getRegistry().lookupByNameAndType("remoteConcurrency",
                RemoteConcurrency.class);

        // 1. The storm: everything answered 429 with Retry-After: 1.
        Faults.Rule dvStorm = dv.faults().add(Faults.Rule.throttle(1));
        Faults.Rule pcStorm = harness.sandbox.partnerCenter().faults().add(Faults.Rule.throttle(1).on(null, "/v1.0/"));
        List<String> referrals = new ArrayList<>(harness.microsoftCreates(40, "Storm"));
        // The storm lasts its time (a fixed window, not a condition), and both remotes were tried in it.
        await().pollDelay(Duration.ofSeconds(STORM_SECONDS)).atMost(Duration.ofSeconds(STORM_SECONDS + 5))
                .until(() -> dvStorm.fired() > 0 && pcStorm.fired() > 0);
        dv.faults().clear();
        harness.sandbox.partnerCenter().faults().clear();
        long stormDv = dvStorm.fired();
        long stormPc = pcStorm.fired();

        // 2. Steady state: the storm's backlog and 160 more, under the concurrency limit.
        protection.resetCounts();
        long t0 = System.nanoTime();
        referrals.addAll(harness.microsoftCreates(160, "Steady"));
        await().atMost(Duration.ofSeconds(120)).until(() -> referrals.stream().allMatch(r -> opportunitiesOf(r) == 1));
        long seconds = Math.max(1, (System.nanoTime() - t0) / 1_000_000_000);
        long limited = protection.rejectedTotal();
        long sent = protection.admitted() + limited;

        referrals.forEach(r -> assertEquals(1, opportunitiesOf(r), "applied once: " + r));
        var deadLetters = harness.runtime().context().getRegistry().lookupByNameAndType("deadLetters",
                dev.cosell.connector.ledger.DeadLetters.class);
        assertEquals(0, deadLetters.openCount(), "nothing was given up");
        System.out.printf("429 storm of %d s: %d Dataverse and %d Partner Center requests answered 429; steady state: "
                + "%d of %d Dataverse requests answered 429 (%.2f %%) in %d s, peak %s in flight, limits %s%n",
                STORM_SECONDS, stormDv, stormPc, limited, sent, 100.0 * limited / Math.max(1, sent), seconds,
                protection.counts().get("peakInFlight"), concurrency.states());
        // Held for each Retry-After: about one probe burst per second of storm, not every worker retrying at will.
        long perSecond = 6;
        assertTrue(stormDv > 0 && stormPc > 0, "calls went out in the storm: " + stormDv + " / " + stormPc);
        assertTrue(stormDv <= (STORM_SECONDS + 2) * perSecond, stormDv + " Dataverse 429s in a " + STORM_SECONDS + " s storm");
        assertTrue(stormPc <= (STORM_SECONDS + 2) * perSecond, stormPc + " Partner Center 429s in a " + STORM_SECONDS + " s storm");
        assertTrue(sent >= 300, "the steady state sent " + sent + " Dataverse requests");
        assertTrue(limited * 100 < sent, limited + " of " + sent + " Dataverse requests answered 429 in steady state (< 1 %)");
    }
}
