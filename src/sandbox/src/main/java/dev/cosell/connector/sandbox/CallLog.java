package dev.cosell.connector.sandbox;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * What an emulator was asked: a counter per route template ("GET /v1.0/engagements/referrals/:id")
 * and a bounded log of the latest requests in arrival order (method, URI, status, duration), which
 * tests assert on and the benchmark replays.
 */
public final class CallLog {

    public record Entry(long seq, long startedAtMillis, String template, String method, String uri, int status,
            long micros) {
    }

    private static final int MAX_ENTRIES = 500_000;

    private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();
    private final ArrayDeque<Entry> entries = new ArrayDeque<>();
    private final AtomicLong seq = new AtomicLong();

    void record(String template, String method, String uri, int status, long nanos) {
        counts.computeIfAbsent(template, k -> new LongAdder()).increment();
        Entry e = new Entry(seq.incrementAndGet(), System.currentTimeMillis() - nanos / 1_000_000, template, method,
                uri, status, nanos / 1000);
        synchronized (entries) {
            if (entries.size() == MAX_ENTRIES) {
                entries.removeFirst();
            }
            entries.addLast(e);
        }
    }

    /** Calls per route template, sorted by template. */
    public Map<String, Long> counts() {
        Map<String, Long> out = new TreeMap<>();
        counts.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }

    /** Calls made to one route template, e.g. {@code count("PATCH /api/data/v9.2/{entitySet}({key})")}. */
    public long count(String template) {
        LongAdder a = counts.get(template);
        return a == null ? 0 : a.sum();
    }

    /** All calls made whose template starts with the given method ("POST", "PATCH", ...). */
    public long countMethod(String method) {
        return counts().entrySet().stream().filter(e -> e.getKey().startsWith(method + " "))
                .mapToLong(Map.Entry::getValue).sum();
    }

    public long total() {
        return counts.values().stream().mapToLong(LongAdder::sum).sum();
    }

    public List<Entry> entries() {
        synchronized (entries) {
            return new ArrayList<>(entries);
        }
    }

    /**
     * One whole request and its answer, kept while {@link #capture} is on: what the benchmark's bare
     * replay re-sends. Headers: the request's concurrency/preference headers and the answer's id/eTag
     * headers only.
     */
    public record Captured(long seq, long startedNanos, long endedNanos, String method, String uri,
            Map<String, String> requestHeaders, String requestBody, int status, Map<String, String> responseHeaders,
            String responseBody) {
    }

    private final List<Captured> captured = new ArrayList<>();
    private volatile boolean capturing;

    /** Starts (clearing what was kept) or stops keeping whole requests and answers. */
    public void capture(boolean on) {
        synchronized (captured) {
            if (on) {
                captured.clear();
            }
            capturing = on;
        }
    }

    public boolean capturing() {
        return capturing;
    }

    void keep(Captured c) {
        synchronized (captured) {
            if (capturing) {
                captured.add(c);
            }
        }
    }

    /** What was kept, in the order the requests started. */
    public List<Captured> captured() {
        synchronized (captured) {
            List<Captured> copy = new ArrayList<>(captured);
            copy.sort(java.util.Comparator.comparingLong(Captured::startedNanos));
            return copy;
        }
    }

    public void reset() {
        counts.clear();
        synchronized (entries) {
            entries.clear();
        }
    }
}
