package dev.cosell.connector.sandbox.dataverse;

import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cosell.connector.sandbox.Emulator;
import dev.cosell.connector.sandbox.RequestGate;
import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

/**
 * Dataverse's service protection API limits as Microsoft documents them ("Service protection API limits"),
 * for the one user the connector is: over a sliding window (300 s) at most {@code requests} requests
 * (6,000), {@code executionMs} of combined execution time (20 minutes) and, at any moment,
 * {@code concurrent} requests in flight (52). Past a limit the request is answered 429 with
 * {@code Retry-After} (seconds) and the documented error code: -2147015902 (0x80072322) number of
 * requests, -2147015903 (0x80072321) combined execution time, -2147015898 (0x80072326) concurrent requests.
 * A {@code $batch} is one request against the request limit; each operation inside adds
 * {@code batchOperationMs} of service time, which counts for execution time. Every request is counted
 * against the request limit, also one answered 429 (a client that keeps sending makes its own wait longer).
 * Every answer carries {@code x-ms-dop-hint} (the degree of parallelism Dataverse recommends) when
 * {@code dopHint} > 0.
 *
 * <p>Off by default. Execution time is measured from admission to the end of the answer, so it includes
 * the emulator's latency (service time) and the batch operations' time. Admin API:
 * {@code GET/PUT /_admin/service-protection} (limits and counts), {@code DELETE /_admin/service-protection/window}
 * (empties the windows, as five quiet minutes would).
 */
public final class ServiceProtection implements RequestGate {

    public static final String REQUESTS_EXCEEDED = "0x80072322"; // -2147015902
    public static final String EXECUTION_TIME_EXCEEDED = "0x80072321"; // -2147015903
    public static final String CONCURRENCY_EXCEEDED = "0x80072326"; // -2147015898

    /** The limits; {@link #documented()} gives Microsoft's figures. */
    public record Limits(boolean enabled, int requests, long executionMs, int concurrent, int windowSeconds, int dopHint,
            long batchOperationMs) {

        public static Limits off() {
            return new Limits(false, 6000, 1_200_000, 52, 300, 0, 0);
        }

        public static Limits documented() {
            return new Limits(true, 6000, 1_200_000, 52, 300, 0, 0);
        }

        public Limits withDopHint(int hint) {
            return new Limits(enabled, requests, executionMs, concurrent, windowSeconds, hint, batchOperationMs);
        }

        public Limits withBatchOperationMs(long ms) {
            return new Limits(enabled, requests, executionMs, concurrent, windowSeconds, dopHint, ms);
        }

        public Limits withRequests(int n, int seconds) {
            return new Limits(enabled, n, executionMs, concurrent, seconds, dopHint, batchOperationMs);
        }

        public Limits withConcurrent(int n) {
            return new Limits(enabled, requests, executionMs, n, windowSeconds, dopHint, batchOperationMs);
        }

        public Limits withExecutionMs(long ms) {
            return new Limits(enabled, requests, ms, concurrent, windowSeconds, dopHint, batchOperationMs);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern OPERATION = Pattern.compile("(?m)^(GET|POST|PATCH|PUT|DELETE) ");

    private volatile Limits limits = Limits.off();
    private final ArrayDeque<Long> requestTimes = new ArrayDeque<>();
    /** (end time, execution ms) of the requests in the window. */
    private final ArrayDeque<long[]> executions = new ArrayDeque<>();
    private long executionSum;
    private int inFlight;
    private int peakInFlight;
    private long admitted;
    private final Map<String, Long> rejected = new LinkedHashMap<>(Map.of(REQUESTS_EXCEEDED, 0L,
            EXECUTION_TIME_EXCEEDED, 0L, CONCURRENCY_EXCEEDED, 0L));

    public Limits limits() {
        return limits;
    }

    public ServiceProtection limits(Limits limits) {
        this.limits = limits;
        return this;
    }

    /** Empties the sliding windows (the counts stay). */
    public synchronized void resetWindow() {
        requestTimes.clear();
        executions.clear();
        executionSum = 0;
    }

    /** Requests admitted, and answered 429 per error code, since the start (or {@link #resetCounts}). */
    public synchronized Map<String, Object> counts() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("admitted", admitted);
        c.put("rejected", new LinkedHashMap<>(rejected));
        c.put("rejectedTotal", rejected.values().stream().mapToLong(Long::longValue).sum());
        c.put("inFlight", inFlight);
        c.put("peakInFlight", peakInFlight);
        c.put("requestsInWindow", requestTimes.size());
        c.put("executionMsInWindow", executionSum);
        return c;
    }

    public synchronized long rejectedTotal() {
        return rejected.values().stream().mapToLong(Long::longValue).sum();
    }

    public synchronized long admitted() {
        return admitted;
    }

    public synchronized void resetCounts() {
        admitted = 0;
        peakInFlight = inFlight;
        rejected.replaceAll((k, v) -> 0L);
    }

    @Override
    public Admission admit(RoutingContext ctx) {
        Limits l = limits;
        if (!l.enabled()) {
            return Admission.ADMIT;
        }
        if (l.dopHint() > 0) {
            ctx.response().putHeader("x-ms-dop-hint", String.valueOf(l.dopHint()));
        }
        long now = System.currentTimeMillis();
        long windowMs = l.windowSeconds() * 1000L;
        synchronized (this) {
            while (!requestTimes.isEmpty() && requestTimes.peekFirst() <= now - windowMs) {
                requestTimes.removeFirst();
            }
            while (!executions.isEmpty() && executions.peekFirst()[0] <= now - windowMs) {
                executionSum -= executions.removeFirst()[1];
            }
            boolean overRequests = requestTimes.size() >= l.requests();
            requestTimes.addLast(now); // counted, answered or not
            if (overRequests) {
                // The window frees a place when its oldest counted request slides out.
                long waitMs = requestTimes.peekFirst() + windowMs - now;
                return reject(REQUESTS_EXCEEDED, waitMs, "Number of requests exceeded the limit of " + l.requests()
                        + " over time window of " + l.windowSeconds() + " seconds.");
            }
            if (executionSum >= l.executionMs()) {
                // Enough execution time slides out of the window to go under the limit again.
                long over = executionSum - l.executionMs();
                long waitMs = 1000;
                long freed = 0;
                for (long[] e : executions) {
                    freed += e[1];
                    if (freed > over) {
                        waitMs = e[0] + windowMs - now;
                        break;
                    }
                }
                return reject(EXECUTION_TIME_EXCEEDED, waitMs, "Combined execution time of incoming requests exceeded limit of "
                        + l.executionMs() + " milliseconds over time window of " + l.windowSeconds()
                        + " seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.");
            }
            if (inFlight >= l.concurrent()) {
                return reject(CONCURRENCY_EXCEEDED, 1000, "Number of concurrent requests exceeded the limit of "
                        + l.concurrent() + ".");
            }
            inFlight++;
            peakInFlight = Math.max(peakInFlight, inFlight);
            admitted++;
        }
        ctx.addEndHandler(done -> finished(now));
        return Admission.admit(batchOperations(ctx) * l.batchOperationMs());
    }

    private synchronized void finished(long startedMs) {
        long end = System.currentTimeMillis();
        long ms = Math.max(0, end - startedMs);
        inFlight--;
        executions.addLast(new long[] { end, ms });
        executionSum += ms;
    }

    private Admission reject(String code, long waitMs, String message) {
        rejected.merge(code, 1L, Long::sum);
        long seconds = Math.max(1, (waitMs + 999) / 1000);
        DataverseApi.Response r = DataverseApi.error(429, code, message);
        return Admission.reject(ctx -> {
            var response = ctx.response().setStatusCode(429).putHeader("Retry-After", String.valueOf(seconds));
            r.headers().forEach(response::putHeader);
            response.end(Buffer.buffer(r.body()));
        });
    }

    private static int batchOperations(RoutingContext ctx) {
        if (!ctx.request().path().endsWith("$batch") || ctx.body() == null || ctx.body().buffer() == null) {
            return 0;
        }
        var m = OPERATION.matcher(ctx.body().buffer().toString(java.nio.charset.StandardCharsets.UTF_8));
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }

    /** The admin API under {@code /_admin/service-protection}. */
    void registerAdmin(Router router) {
        String base = Emulator.ADMIN + "/service-protection";
        router.get(base).handler(ctx -> answer(ctx, 200));
        router.put(base).handler(ctx -> {
            try {
                limits(JSON.readValue(ctx.body().asString(), Limits.class));
                answer(ctx, 200);
            } catch (Exception e) {
                ctx.response().setStatusCode(400).end("bad limits: " + e.getMessage());
            }
        });
        router.delete(base + "/window").handler(ctx -> {
            resetWindow();
            ctx.response().setStatusCode(204).end();
        });
        router.delete(base + "/counts").handler(ctx -> {
            resetCounts();
            ctx.response().setStatusCode(204).end();
        });
    }

    private void answer(RoutingContext ctx, int status) {
        try {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("limits", limits);
            body.put("counts", counts());
            ctx.response().setStatusCode(status).putHeader("Content-Type", "application/json")
                    .end(JSON.writeValueAsString(body));
        } catch (Exception e) {
            ctx.response().setStatusCode(500).end();
        }
    }
}
