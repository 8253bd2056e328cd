package dev.cosell.connector.remote;

import dev.cosell.connector.metrics.SyncMetrics;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

import org.apache.camel.Exchange;
import org.apache.camel.http.base.HttpOperationFailedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How many calls to each remote system are in flight at once, adapted to what the system answers
 * (additive increase, multiplicative decrease), used around every call in routes/remote-calls.camel.yaml:
 * {@link #acquire} before it, {@link #release} in its doFinally.
 *
 * <ul>
 * <li>Starts at {@code initial} calls in flight; after every {@code increaseAfter} answered calls in a row
 * one more, up to {@code max} and, when the system sends {@code x-ms-dop-hint} (Dataverse's recommended
 * degree of parallelism), up to that hint.</li>
 * <li>A 429 (or a 503 with Retry-After) halves the limit (once per burst: the 429s of calls already in flight
 * together count once) and holds every call to that system until its Retry-After has passed (capped), so a
 * throttled system gets no requests while it asked for none. Calls then resume at the halved limit.</li>
 * <li>The limit that was answered 429 is not reached again for a minute (then it is probed once more): in a
 * steady state under a limit, the 429s are one per minute at most, not one per ramp.</li>
 * <li>Back from a decrease, the limit grows by one per answered call (it doubles every round of calls,
 * TCP's slow start) up to half the limit before the burst of 429s, then by one per {@code increaseAfter}
 * again: a storm of Retry-After (every call answered 429 for seconds, the limit halved at each) is left
 * in a few round trips, not at one more call per ten answers from 1.</li>
 * <li>Other answers (2xx, 4xx) count as answered; I/O errors and 5xx are left to the circuit breaker.</li>
 * </ul>
 * The limit only bounds calls; the flows' worker threads ({@code sync.concurrency}) bound the changes in flight.
 * Metrics: {@code cosell_api_concurrency_limit{system}}, {@code cosell_api_concurrency_in_flight{system}},
 * {@code cosell_api_concurrency_decreases_total{system}}.
 */
public final class RemoteConcurrency {

    private static final Logger LOG = LoggerFactory.getLogger(RemoteConcurrency.class);
    private static final String HELD = "cosellConcurrencyHeld.";
    /** How long the limit stays below the one that was answered 429 before probing above it again. */
    static final long CEILING_MS = 60_000;

    /** Per-system settings (sync.concurrency.&lt;system&gt;.*). */
    public record Settings(int initial, int max) {
        public Settings {
            if (initial < 1 || max < initial) {
                throw new IllegalArgumentException("concurrency needs 1 <= initial <= max, got " + initial + "/" + max);
            }
        }
    }

    private final Map<String, Settings> settings;
    private final int increaseAfter;
    private final long maxHoldMs;
    private final SyncMetrics metrics;
    private final Map<String, Limiter> limiters = new ConcurrentHashMap<>();

    public RemoteConcurrency(Settings dataverse, Settings partnerCenter, int increaseAfter, long maxHoldMs,
            SyncMetrics metrics) {
        this.settings = Map.of("dataverse", dataverse, "partnercenter", partnerCenter);
        this.increaseAfter = Math.max(1, increaseAfter);
        this.maxHoldMs = maxHoldMs;
        this.metrics = metrics;
    }

    /** Waits until a call to {@code system} may go out (within the limit, no Retry-After pending). */
    public void acquire(String system, Exchange exchange) throws InterruptedException {
        limiter(system).acquire();
        if (exchange != null) {
            exchange.setProperty(HELD + system, System.nanoTime());
        }
    }

    /** After the call (doFinally): its answer adjusts the limit. Does nothing if {@link #acquire} did not finish. */
    public void release(String system, Exchange exchange) {
        Object sent = exchange == null ? null : exchange.removeProperty(HELD + system);
        if (!(sent instanceof Long sentAt)) {
            return;
        }
        // The HTTP producer sets the status header also when it then throws for a non-2xx answer: the
        // failure (with its Retry-After) is the one of this call when its status is the header's.
        Integer code = exchange.getMessage().getHeader(Exchange.HTTP_RESPONSE_CODE, Integer.class);
        Exception e = exchange.getException() != null ? exchange.getException()
                : exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Exception.class);
        HttpOperationFailedException http = HttpAnswers.httpFailure(e);
        if (http != null && (code == null || code == http.getStatusCode())) {
            limiter(system).released(sentAt, http.getStatusCode(), RetryAfter.delayMs(http.getResponseHeaders()),
                    header(http.getResponseHeaders(), "x-ms-dop-hint"));
        } else if (code != null) {
            limiter(system).released(sentAt, code, null, header(exchange.getMessage().getHeaders(), "x-ms-dop-hint"));
        } else {
            limiter(system).released(sentAt, 0, null, null); // not answered (I/O error, breaker open): neither up nor down
        }
    }

    /** True while a Retry-After of {@code system} is pending (the poll skips its turn instead of waiting). */
    public boolean held(String system) {
        return limiter(system).holdUntil > System.currentTimeMillis();
    }

    public int limit(String system) {
        return limiter(system).effectiveLimit();
    }

    public int inFlight(String system) {
        return limiter(system).inFlight;
    }

    /** Limit and calls in flight of each system, for JMX and health details. */
    public Map<String, String> states() {
        Map<String, String> s = new TreeMap<>();
        limiters.forEach((k, l) -> s.put(k, l.inFlight + " in flight, limit " + l.effectiveLimit()
                + (l.dopHint > 0 ? " (x-ms-dop-hint " + l.dopHint + ")" : "")));
        return s;
    }

    private Limiter limiter(String system) {
        return limiters.computeIfAbsent(system, s -> {
            Settings st = settings.getOrDefault(s, new Settings(4, 16));
            Limiter l = new Limiter(s, st);
            if (metrics != null) {
                metrics.gauge("cosell.api.concurrency.limit", "system", s, l::effectiveLimit);
                metrics.gauge("cosell.api.concurrency.in.flight", "system", s, () -> l.inFlight);
            }
            return l;
        });
    }

    private static String header(Map<String, ?> headers, String name) {
        if (headers == null) {
            return null;
        }
        for (var h : headers.entrySet()) {
            if (h.getKey().equalsIgnoreCase(name) && h.getValue() != null) {
                return h.getValue().toString();
            }
        }
        return null;
    }

    private final class Limiter {
        private final String system;
        private final Settings settings;
        private final ReentrantLock lock = new ReentrantLock();
        private final Condition changed = lock.newCondition();
        private volatile int limit;
        private volatile int inFlight;
        private volatile int dopHint;
        private volatile long holdUntil;
        private int answeredInARow;
        /** When the limit was last halved (nanoTime): a 429 of a call sent before that belongs to the same burst. */
        private long decreasedAt = System.nanoTime() - TimeUnit.HOURS.toNanos(1);
        /** The limit that was answered 429, less one: not exceeded again until it expires (then probed once more). */
        private int ceiling = Integer.MAX_VALUE;
        private long ceilingUntil;
        /** Calls answered since the last decrease: a 429 after some is a limit found; 429 after 429 (a storm) is not. */
        private int answeredSinceDecrease = 1;
        /** Up to here the limit grows by one per answered call (slow start): half the limit before the last burst. */
        private int slowStartUpTo;

        Limiter(String system, Settings settings) {
            this.system = system;
            this.settings = settings;
            this.limit = settings.initial();
        }

        int effectiveLimit() {
            int hint = dopHint;
            return Math.max(1, hint > 0 ? Math.min(limit, hint) : limit);
        }

        void acquire() throws InterruptedException {
            lock.lockInterruptibly();
            try {
                while (true) {
                    long wait = holdUntil - System.currentTimeMillis();
                    if (wait > 0) {
                        changed.await(wait, TimeUnit.MILLISECONDS);
                    } else if (inFlight < effectiveLimit()) {
                        inFlight++;
                        return;
                    } else {
                        changed.await(1, TimeUnit.SECONDS);
                    }
                }
            } finally {
                lock.unlock();
            }
        }

        void released(long sentAt, int status, Long retryAfterMs, String hint) {
            lock.lock();
            try {
                int limitBefore = limit;
                inFlight--;
                if (hint != null) {
                    try {
                        dopHint = Math.max(0, Integer.parseInt(hint.trim()));
                    } catch (NumberFormatException ignored) {
                        // not a number: keep the last one
                    }
                }
                long now = System.currentTimeMillis();
                if (status == 429 || status == 503 && retryAfterMs != null) {
                    answeredInARow = 0;
                    if (retryAfterMs != null && retryAfterMs > 0) {
                        holdUntil = Math.max(holdUntil, now + Math.min(retryAfterMs, maxHoldMs));
                    }
                    if (sentAt - decreasedAt > 0) {
                        int before = effectiveLimit();
                        limit = Math.max(1, before / 2);
                        if (answeredSinceDecrease > 0) {
                            ceiling = Math.max(1, before - 1);
                            ceilingUntil = now + CEILING_MS;
                            slowStartUpTo = Math.max(1, before / 2); // a storm's later halvings keep it
                        }
                        answeredSinceDecrease = 0;
                        decreasedAt = System.nanoTime();
                        if (metrics != null) {
                            metrics.concurrencyDecreased(system);
                        }
                        LOG.info("{} answered {}: calls in flight limited {} -> {}{}", system, status, before, limit,
                                retryAfterMs == null ? "" : ", held for " + Math.min(retryAfterMs, maxHoldMs) + " ms (Retry-After)");
                    }
                } else if (status > 0 && status < 500) {
                    answeredSinceDecrease++;
                    if (limit < slowStartUpTo && now >= holdUntil) {
                        limit++;
                    } else if (++answeredInARow >= increaseAfter) {
                        answeredInARow = 0;
                        int cap = dopHint > 0 ? Math.min(settings.max(), dopHint) : settings.max();
                        if (now < ceilingUntil) {
                            cap = Math.min(cap, ceiling);
                        }
                        if (limit < cap) {
                            limit++;
                        } else if (limit > cap) {
                            limit = cap;
                        }
                    }
                }
                // One waiter per freed place (two when the limit grew): not every waiting thread each time.
                changed.signal();
                if (limit > limitBefore) {
                    changed.signal();
                }
            } finally {
                lock.unlock();
            }
        }
    }
}
