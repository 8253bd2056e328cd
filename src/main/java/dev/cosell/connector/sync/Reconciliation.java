package dev.cosell.connector.sync;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Progress and plan of a backfill / reconciliation run (routes/reconciliation.yaml): counts, rate and
 * ETA in the log and over JMX, and, for a dry run, the list of what would be done.
 */
public final class Reconciliation {

    private static final Logger LOG = LoggerFactory.getLogger("reconciliation");

    private final String referralFilter;
    private final int pageSize;
    private final AtomicLong processed = new AtomicLong();
    private volatile Instant startedAt;
    private volatile Instant finishedAt;
    private volatile Long expected;
    private volatile boolean running;
    private final List<String> plan = new ArrayList<>();

    public Reconciliation(String referralFilter, int pageSize) {
        this.referralFilter = referralFilter;
        this.pageSize = pageSize;
    }

    /** The first page's query: the configured filter, the page size. */
    public String firstQuery() {
        String q = "$top=" + pageSize;
        if (referralFilter != null && !referralFilter.isBlank()) {
            q += "&$filter=" + URLEncoder.encode(referralFilter, StandardCharsets.UTF_8).replace("+", "%20");
        }
        return q;
    }

    /** @param checkpoint the stored page position, or null for a run from the first page */
    public synchronized void start(String checkpoint) {
        boolean resumed = checkpoint != null;
        running = true;
        startedAt = Instant.now();
        finishedAt = null;
        processed.set(0);
        plan.clear();
        LOG.info("Reconciliation {}: referrals matching [{}], {} per page", resumed ? "resumed from its checkpoint"
                : "started", referralFilter, pageSize);
    }

    /** Total to expect, when a source tells it (for the ETA). */
    public void expect(Long total) {
        this.expected = total;
    }

    public void page(int count) {
        long done = processed.addAndGet(count);
        double seconds = Math.max(0.001, Duration.between(startedAt, Instant.now()).toMillis() / 1000.0);
        double rate = done / seconds;
        String eta = expected == null || rate == 0 ? "unknown (Partner Center gives no total)"
                : Math.max(0, Math.round((expected - done) / rate)) + " s";
        LOG.info("Reconciliation: {} referrals done, {} /s, ETA {}", done, String.format("%.1f", rate), eta);
    }

    public synchronized void finish() {
        running = false;
        finishedAt = Instant.now();
        LOG.info("Reconciliation finished: {} referrals in {} ms; Dataverse opportunities are re-read at the next poll",
                processed.get(), Duration.between(startedAt, finishedAt).toMillis());
    }

    /** A dry run's decision for one referral (no write is made). */
    @SuppressWarnings("unchecked")
    public synchronized String plan(Map<String, Object> referral, Map<String, Object> link, String projectionHash,
            boolean cosellOnly) {
        String id = String.valueOf(referral.get("id"));
        String decision;
        if (link == null) {
            if (cosellOnly && !"Shared".equals(referral.get("type"))) {
                decision = "skip (not co-sell)";
            } else if ("Closed".equals(referral.get("status"))) {
                decision = "skip (closed, never linked)";
            } else if (referral.get("externalReferenceId") != null && !referral.get("externalReferenceId").toString().isEmpty()) {
                decision = "link to opportunity " + referral.get("externalReferenceId");
            } else {
                decision = "create opportunity";
            }
        } else if (projectionHash.equals(link.get("opportunity_hash"))) {
            decision = "unchanged";
        } else {
            decision = "update opportunity " + link.get("opportunity_id");
        }
        Object customer = referral.get("customerProfile") instanceof Map<?, ?> p ? ((Map<String, Object>) p).get("name") : "?";
        String line = id + "  " + decision + "  (" + customer + ", " + referral.get("status") + "/" + referral.get("substatus") + ")";
        plan.add(line);
        return line;
    }

    public synchronized List<String> plan() {
        return List.copyOf(plan);
    }

    public long processed() {
        return processed.get();
    }

    public boolean running() {
        return running;
    }

    public String status() {
        return (running ? "running" : finishedAt == null ? "never run" : "finished " + finishedAt) + ", " + processed.get()
                + " referrals";
    }
}
