package dev.cosell.connector.remote;

import dev.cosell.connector.metrics.SyncMetrics;

import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import org.apache.camel.Exchange;
import org.apache.camel.http.base.HttpOperationFailedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One resilience4j circuit breaker per remote system (partnercenter, dataverse), used around the HTTP
 * call in routes/remote-calls.camel.yaml: {@link #permit} before it, {@link #succeeded} or {@link #failed}
 * after it.
 *
 * <p>Only outages count as failures: 5xx answers and I/O errors (timeouts, refused or dropped
 * connections). 429 is throttling, handled by Retry-After, and other 4xx answers mean the remote is up.
 * When the failure rate over the last calls passes the threshold the breaker opens: calls fail at once
 * with {@link RemoteSystemUnavailableException} (no request sent, no quota burnt, one WARN line per state
 * change instead of one per call); after the open time a few trial calls decide whether to close it.
 * A failed call that finds the breaker open (it opened it, or it was a failed trial call) is reported
 * the same way. The retry policy (error-handling.camel.yaml) waits and tries again until the breaker closes,
 * without limit: a change is never dead-lettered because its remote was down, and the backlog drains by
 * itself when the remote is back.
 *
 * <p>Not Camel's circuitBreaker EIP: without a fallback it lets short-circuited exchanges continue as if
 * the call had answered, and it wraps the HTTP failure that the shared retry policy reads.
 */
public final class RemoteCircuitBreakers {

    private static final Logger LOG = LoggerFactory.getLogger(RemoteCircuitBreakers.class);
    private static final String STARTED = "cosellCallStartedNanos";

    /** Thrown instead of calling a remote system whose breaker is open. */
    public static final class RemoteSystemUnavailableException extends Exception {
        private final String system;
        private final long retryInMs;

        RemoteSystemUnavailableException(String system, CircuitBreaker.State state, long retryInMs, Throwable cause) {
            // The failure is named in the message but not chained as the cause: Camel matches
            // onException clauses from the innermost cause out, and the HTTP clause's retry budget
            // must not apply to a change that is waiting for the breaker.
            super(system + " circuit breaker is " + state + (cause == null ? ": call not sent" : ": call failed ("
                    + cause.getMessage() + ")") + ", retrying in " + retryInMs + " ms");
            this.system = system;
            this.retryInMs = retryInMs;
        }

        public String getSystem() {
            return system;
        }

        public long getRetryInMs() {
            return retryInMs;
        }
    }

    /** Breaker settings (sync.circuit-breaker.*). */
    public record Settings(boolean enabled, int failureRatePercent, int windowCalls, int minimumCalls, long openMs,
            int halfOpenCalls) {
    }

    private final Settings settings;
    private final CircuitBreakerConfig config;
    private final SyncMetrics metrics;
    private final Map<String, CircuitBreaker> breakers = new ConcurrentHashMap<>();

    public RemoteCircuitBreakers(Settings settings, SyncMetrics metrics) {
        this.settings = settings;
        this.metrics = metrics;
        this.config = CircuitBreakerConfig.custom()
                .failureRateThreshold(settings.failureRatePercent())
                .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                .slidingWindowSize(settings.windowCalls())
                .minimumNumberOfCalls(settings.minimumCalls())
                .waitDurationInOpenState(Duration.ofMillis(settings.openMs()))
                .permittedNumberOfCallsInHalfOpenState(settings.halfOpenCalls())
                // A trial call that never reports back must not keep the breaker half-open for ever.
                .maxWaitDurationInHalfOpenState(Duration.ofMillis(Math.max(60_000, settings.openMs() * 4)))
                .build();
    }

    /** Before a call: throws when the system's breaker does not let calls through. */
    public void permit(String system, Exchange exchange) throws RemoteSystemUnavailableException {
        if (!settings.enabled()) {
            return;
        }
        CircuitBreaker breaker = breaker(system);
        if (!breaker.tryAcquirePermission()) {
            metrics.shortCircuited(system);
            throw unavailable(system, breaker, null);
        }
        exchange.setProperty(STARTED + system, System.nanoTime());
    }

    /** After a call that answered 2xx/3xx. */
    public void succeeded(String system, Exchange exchange) {
        if (settings.enabled()) {
            breaker(system).onSuccess(elapsed(system, exchange), TimeUnit.NANOSECONDS);
        }
    }

    /** After a call that failed (in a doCatch): tells the breaker whether it was an outage, then rethrows. */
    public void failed(String system, Exchange exchange) throws Exception {
        Exception e = exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Exception.class);
        if (e == null) {
            e = exchange.getException();
        }
        HttpOperationFailedException http = HttpAnswers.httpFailure(e);
        if (metrics != null && http != null && (http.getStatusCode() == 429 || http.getStatusCode() == 503)) {
            metrics.throttled(system, http.getStatusCode());
        }
        if (settings.enabled() && exchange.getProperty(STARTED + system) != null) {
            CircuitBreaker breaker = breaker(system);
            long elapsed = elapsed(system, exchange);
            if (http != null && http.getStatusCode() >= 500 || http == null && isIo(e)) {
                breaker.onError(elapsed, TimeUnit.NANOSECONDS, e);
                if (breaker.getState() != CircuitBreaker.State.CLOSED) {
                    // The system is down (this call opened the breaker, or a trial call failed): the
                    // change waits for it like the calls held back, instead of using up its retries.
                    throw unavailable(system, breaker, e);
                }
            } else if (http != null && http.getStatusCode() == 429) {
                breaker.releasePermission(); // throttled: neither up nor down, Retry-After decides
            } else {
                breaker.onSuccess(elapsed, TimeUnit.NANOSECONDS); // the remote answered: it is up
            }
        }
        // Called from a doCatch only: there is always an exception to pass on (never carry on as if answered).
        throw e != null ? e : new IllegalStateException(system + " call failed without an exception to report");
    }

    private RemoteSystemUnavailableException unavailable(String system, CircuitBreaker breaker, Exception cause) {
        CircuitBreaker.State state = breaker.getState();
        // Open: try again about when it half-opens. Half-open: trial calls are under way, look again soon.
        long retryIn = state == CircuitBreaker.State.OPEN ? Math.max(100, settings.openMs() / 2)
                : Math.max(100, Math.min(1000, settings.openMs() / 4));
        return new RemoteSystemUnavailableException(system, state, retryIn, cause);
    }

    /** The state of each breaker, for health details and JMX. */
    public Map<String, String> states() {
        Map<String, String> states = new java.util.TreeMap<>();
        breakers.forEach((system, b) -> states.put(system, b.getState() + " (failure rate "
                + Math.round(b.getMetrics().getFailureRate()) + "%)"));
        return states;
    }

    public String state(String system) {
        CircuitBreaker b = breakers.get(system);
        return b == null ? "CLOSED" : b.getState().name();
    }

    private CircuitBreaker breaker(String system) {
        return breakers.computeIfAbsent(system, s -> {
            CircuitBreaker b = CircuitBreaker.of(s, config);
            b.getEventPublisher().onStateTransition(t -> {
                CircuitBreaker.State to = t.getStateTransition().getToState();
                if (to == CircuitBreaker.State.OPEN) {
                    LOG.warn("{} looks down ({}% of the last calls failed): calls paused for {} ms", s,
                            Math.round(b.getMetrics().getFailureRate()), settings.openMs());
                } else if (to == CircuitBreaker.State.CLOSED) {
                    LOG.warn("{} is back: calls resumed", s);
                } else {
                    LOG.info("{} circuit breaker {}", s, t.getStateTransition());
                }
                metrics.circuitTransition(s, to.name());
            });
            return b;
        });
    }

    private static long elapsed(String system, Exchange exchange) {
        Long started = exchange.getProperty(STARTED + system, Long.class);
        exchange.removeProperty(STARTED + system);
        return started == null ? 0 : System.nanoTime() - started;
    }

    private static boolean isIo(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof IOException) {
                return true;
            }
        }
        return false;
    }
}
