package dev.cosell.connector.console;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * API calls and 429 answers per remote system and hour, for the console's charts: the counters
 * {@code cosell_api_calls_total{system}} and {@code cosell_api_throttled_total{system,status="429"}}
 * sampled (each sample adds what they grew by to the current hour). In memory: since this node started,
 * the last 24 hours at most.
 */
final class ApiActivity {

    static final List<String> SYSTEMS = List.of("partnercenter", "dataverse");

    private final MeterRegistry registry;
    private final Map<String, Double> last = new ConcurrentHashMap<>();
    /** hour → "calls|system" / "429|system" → count */
    private final Map<Instant, Map<String, Double>> hours = new ConcurrentHashMap<>();

    ApiActivity(MeterRegistry registry) {
        this.registry = registry;
    }

    synchronized void sample() {
        if (registry == null) {
            return;
        }
        Instant hour = Instant.now().truncatedTo(ChronoUnit.HOURS);
        Map<String, Double> bucket = hours.computeIfAbsent(hour, h -> new ConcurrentHashMap<>());
        for (String system : SYSTEMS) {
            add(bucket, "calls|" + system, total("cosell.api.calls", system, null));
            add(bucket, "429|" + system, total("cosell.api.throttled", system, "429"));
        }
        hours.keySet().removeIf(h -> h.isBefore(hour.minus(24, ChronoUnit.HOURS)));
    }

    private void add(Map<String, Double> bucket, String key, double now) {
        double before = last.getOrDefault(key, 0.0);
        last.put(key, now);
        bucket.merge(key, Math.max(0, now - before), Double::sum);
    }

    private double total(String name, String system, String status) {
        var search = registry.find(name).tag("system", system);
        if (status != null) {
            search = search.tag("status", status);
        }
        return search.counters().stream().mapToDouble(Counter::count).sum();
    }

    /** The last 24 hours, oldest first: hour label → series key → count. */
    synchronized Map<String, Map<String, Long>> lastDay() {
        sample();
        Instant now = Instant.now().truncatedTo(ChronoUnit.HOURS);
        Map<String, Map<String, Long>> out = new LinkedHashMap<>();
        for (int i = 23; i >= 0; i--) {
            Instant h = now.minus(i, ChronoUnit.HOURS);
            Map<String, Double> bucket = hours.getOrDefault(h, Map.of());
            Map<String, Long> row = new LinkedHashMap<>();
            for (String system : SYSTEMS) {
                row.put("calls|" + system, Math.round(bucket.getOrDefault("calls|" + system, 0.0)));
                row.put("429|" + system, Math.round(bucket.getOrDefault("429|" + system, 0.0)));
            }
            out.put(h.toString().substring(11, 16), row);
        }
        return out;
    }
}
