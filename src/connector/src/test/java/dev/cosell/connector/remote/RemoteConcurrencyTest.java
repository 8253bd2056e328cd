package dev.cosell.connector.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.apache.camel.CamelContext;
import org.apache.camel.Exchange;
import org.apache.camel.http.base.HttpOperationFailedException;
import org.apache.camel.impl.DefaultCamelContext;
import org.apache.camel.support.DefaultExchange;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The adaptive limit: start low, +1 per answered calls, capped by max and x-ms-dop-hint, halved and held on 429. */
class RemoteConcurrencyTest {

    private final CamelContext context = new DefaultCamelContext();
    private final RemoteConcurrency limits = new RemoteConcurrency(new RemoteConcurrency.Settings(2, 8),
            new RemoteConcurrency.Settings(2, 4), 3, 30_000, null);

    @AfterEach
    void close() throws Exception {
        context.close();
    }

    private Exchange sent() throws InterruptedException {
        Exchange e = new DefaultExchange(context);
        limits.acquire("dataverse", e);
        return e;
    }

    private void answered(int status, Map<String, String> headers) throws InterruptedException {
        Exchange e = sent();
        e.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, status);
        headers.forEach(e.getMessage()::setHeader);
        limits.release("dataverse", e);
    }

    /** 18 answered calls: 2 -> 8, Dataverse's maximum here. */
    private void rampedToTheMaximum() throws InterruptedException {
        for (int i = 0; i < 18; i++) {
            answered(200, Map.of());
        }
        assertEquals(8, limits.limit("dataverse"));
    }

    private Exchange throttled(int retryAfterSeconds) throws InterruptedException {
        Exchange e = sent();
        e.setException(new HttpOperationFailedException("https://dv/api", 429, "Too Many Requests", null,
                Map.of("Retry-After", String.valueOf(retryAfterSeconds)), "{}"));
        return e;
    }

    @Test
    void startsLowAndRampsUpToTheMaximum() throws Exception {
        assertEquals(2, limits.limit("dataverse"));
        for (int i = 0; i < 3; i++) {
            answered(200, Map.of());
        }
        assertEquals(3, limits.limit("dataverse"), "one more after 3 answered calls");
        for (int i = 0; i < 60; i++) {
            answered(i % 2 == 0 ? 200 : 404, Map.of());
        }
        assertEquals(8, limits.limit("dataverse"), "never above max");
        assertEquals(0, limits.inFlight("dataverse"));
    }

    @Test
    void honoursTheRecommendedDegreeOfParallelism() throws Exception {
        for (int i = 0; i < 60; i++) {
            answered(200, Map.of("x-ms-dop-hint", "5"));
        }
        assertEquals(5, limits.limit("dataverse"), "x-ms-dop-hint caps the limit below max");
        answered(200, Map.of("x-ms-dop-hint", "3"));
        assertEquals(3, limits.limit("dataverse"), "a lower hint lowers it at once");
    }

    @Test
    void halvesOnceABurstAndHoldsCallsWhileRetryAfterIsPending() throws Exception {
        rampedToTheMaximum();
        List<Exchange> burst = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            burst.add(throttled(1));
        }
        long t = System.nanoTime(); // before the 429s: Retry-After counts from their answers
        burst.forEach(e -> limits.release("dataverse", e));
        assertEquals(4, limits.limit("dataverse"), "four 429s of calls sent together halve the limit once");
        assertTrue(limits.held("dataverse"));
        CompletableFuture<Exchange> next = CompletableFuture.supplyAsync(() -> {
            try {
                return sent();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        Exchange e = next.get(5, TimeUnit.SECONDS);
        long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t);
        assertTrue(waited >= 990, "the next call waited for Retry-After (1 s): " + waited + " ms");
        assertFalse(limits.held("dataverse"));
        limits.release("dataverse", e);
        Exchange again = throttled(0);
        limits.release("dataverse", again);
        assertEquals(2, limits.limit("dataverse"), "a 429 of a call sent after the decrease halves again");
    }

    @Test
    void leavesAStormOfRetryAfterInAFewRoundTripsNotFromOneByTens() throws Exception {
        rampedToTheMaximum();
        for (int i = 0; i < 3; i++) {
            limits.release("dataverse", throttled(0)); // each sent after the last decrease: a storm
        }
        assertEquals(1, limits.limit("dataverse"), "halved at each Retry-After of the storm");
        for (int i = 0; i < 3; i++) {
            answered(200, Map.of());
        }
        assertEquals(4, limits.limit("dataverse"), "one more per answered call up to half the limit before the storm");
        answered(200, Map.of());
        answered(200, Map.of());
        assertEquals(4, limits.limit("dataverse"), "then one more per 3 answered calls again");
        answered(200, Map.of());
        assertEquals(5, limits.limit("dataverse"));
    }

    @Test
    void aCallThatNeverStartedReleasesNothingAndLimitsHoldCallsBack() throws Exception {
        limits.release("dataverse", new DefaultExchange(context));
        assertEquals(0, limits.inFlight("dataverse"));
        Exchange a = sent();
        Exchange b = sent();
        CompletableFuture<Exchange> third = new CompletableFuture<>();
        Thread caller = new Thread(() -> {
            try {
                third.complete(sent());
            } catch (InterruptedException e) {
                third.completeExceptionally(e);
            }
        });
        caller.start();
        // two in flight: the third waits inside acquire (parked on the limiter), it has not merely not started
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
                .until(() -> caller.getState() == Thread.State.TIMED_WAITING || caller.getState() == Thread.State.WAITING);
        assertFalse(third.isDone(), "two in flight: the third waits");
        a.getMessage().setHeader(Exchange.HTTP_RESPONSE_CODE, 200);
        limits.release("dataverse", a);
        limits.release("dataverse", third.get(2, TimeUnit.SECONDS));
        limits.release("dataverse", b);
        assertEquals(0, limits.inFlight("dataverse"));
    }
}
