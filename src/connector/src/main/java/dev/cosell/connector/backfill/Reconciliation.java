package dev.cosell.connector.backfill;

import dev.cosell.connector.ledger.SyncCursor;

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
 * Progress and plan of a backfill / reconciliation run (routes/reconciliation.camel.yaml): counts, rate and
 * ETA (from the last complete run's count: Partner Center gives no total) in the log and over JMX, and, for a dry run, the list of what would be done.
 */
public final class Reconciliation {

    private static final Logger LOG = LoggerFactory.getLogger("reconciliation");

    private final String referralFilter;
    private final int pageSize;
    private final AtomicLong processed = new AtomicLong();
    private volatile Instant startedAt;
    private volatile Instant finishedAt;
    private volatile Long expected;
    private volatile long resumedFrom;
    private static final String TOTAL = "reconciliation-referrals-last-total";
    private static final String DONE = "reconciliation-referrals-done";
    private volatile boolean running;
    private final List<String> plan = new ArrayList<>();
    private final List<PlanEntry> planEntries = new ArrayList<>();
    private volatile ReconciliationRuns runs;
    private volatile long runId = -1;
    private volatile String startedBy;
    private volatile boolean complete;

    /** One line of a dry run's plan: the referral, what would be done, its customer and status. */
    public record PlanEntry(String referralId, String decision, String customer, String status) {
    }

    /** Where a run stands: counts, rate (referrals a second) and ETA when a total is expected, percent done. */
    public record Progress(boolean running, boolean dryRun, long processed, Long expected, double ratePerSecond,
            Long etaSeconds, Integer percent, Instant startedAt, Instant finishedAt, String startedBy, boolean complete) {
    }

    private final SyncCursor cursor;
    private volatile boolean dryRun;

    private final dev.cosell.connector.decision.SyncDecisions decisions;

    public Reconciliation(String referralFilter, int pageSize, SyncCursor cursor,
            dev.cosell.connector.decision.SyncDecisions decisions) {
        this.decisions = decisions;
        this.referralFilter = referralFilter;
        this.pageSize = pageSize;
        this.cursor = cursor;
    }

    /**
     * The first page's query: the configured filter, in creation order (the list page marks the
     * createdDateTime order "Required"; it is also the order that does not move while the run pages).
     * Partner Center chooses the page size and continues with {@code @odata.nextLink}; {@code $top} is the
     * total to return (OData), never a page size.
     */
    public String firstQuery() {
        String order = "$orderby=" + URLEncoder.encode("createdDateTime asc", StandardCharsets.UTF_8).replace("+", "%20");
        return referralFilter == null || referralFilter.isBlank() ? order
                : "$filter=" + URLEncoder.encode(referralFilter, StandardCharsets.UTF_8).replace("+", "%20") + "&" + order;
    }

    /**
     * @param checkpoint the stored page position, or null for a run from the first page
     * @param dryRun     a dry run stores nothing (no count, no total)
     */
    public synchronized void start(String checkpoint, Boolean dryRun) {
        start(checkpoint, dryRun, null);
    }

    /**
     * As {@link #start(String, Boolean)}, naming who started the run (a console user, schedule, start-up,
     * command line, JMX) for the run history.
     */
    public synchronized void start(String checkpoint, Boolean dryRun, String startedBy) {
        this.startedBy = startedBy == null || startedBy.isBlank() ? "connector" : startedBy;
        boolean resumed = checkpoint != null;
        this.dryRun = Boolean.TRUE.equals(dryRun);
        running = true;
        startedAt = Instant.now();
        finishedAt = null;
        // Partner Center's list gives no total: the ETA uses the last complete run's count, and a
        // resumed run counts on from what it had done before the stop.
        expected = number(cursor.get(TOTAL));
        Long doneBefore = resumed ? number(cursor.get(DONE)) : null;
        long before = doneBefore == null ? 0 : doneBefore;
        processed.set(before);
        resumedFrom = before;
        plan.clear();
        planEntries.clear();
        complete = false;
        runId = runs == null ? -1 : runs.started(startedAt, this.dryRun, this.startedBy);
        pagesRead = 0;
        pagesInOrder = 0;
        doneOutOfOrder.clear();
        failedPages.clear();
        LOG.info("Reconciliation {}: referrals matching [{}], pages of up to {} (Partner Center's){}", resumed
                ? "resumed from its checkpoint (" + before + " done)" : "started", referralFilter, pageSize,
                expected == null ? "" : ", about " + expected + " expected (the last run's count)");
    }

    // Pages are worked on while the next ones are read (several in flight): each gets a number when it
    // is read, and the checkpoint only moves over pages done in order, so a stop never skips a page.
    private static final String CHECKPOINT = "reconciliation-referrals-page";
    private long pagesRead;
    private long pagesInOrder;
    private final java.util.TreeMap<Long, Object[]> doneOutOfOrder = new java.util.TreeMap<>();
    private final java.util.Set<Long> failedPages = new java.util.HashSet<>();

    /**
     * Before reading another page: waits while {@code pagesInFlight} pages are being worked on and one
     * more is read and waiting (or until the connector stops). The bound holds however the pages'
     * routes continue (a parallel split hands a page to another thread and frees the queue's consumer).
     */
    public synchronized void awaitRoom(int pagesInFlight, org.apache.camel.CamelContext context) throws InterruptedException {
        while (pagesRead - (pagesInOrder + doneOutOfOrder.size() + failedPages.size()) > pagesInFlight
                && !context.isStopping()) {
            wait(200);
        }
    }

    /** A page was read: its number, for {@link #pageDone}. */
    public synchronized long pageRead() {
        return ++pagesRead;
    }

    /**
     * A page is done (each of its referrals applied, skipped or dead-lettered). Pages done in order move
     * the checkpoint to the query of the page after them (null after the last one) and the count.
     */
    public synchronized void pageDone(long page, String nextQuery, int count) {
        doneOutOfOrder.put(page, new Object[] { nextQuery, count });
        boolean moved = false;
        while (doneOutOfOrder.containsKey(pagesInOrder + 1)) {
            Object[] done = doneOutOfOrder.remove(++pagesInOrder);
            processed.addAndGet((Integer) done[1]);
            if (!dryRun) {
                cursor.put(CHECKPOINT, (String) done[0]);
            }
            moved = true;
        }
        if (moved) {
            progress();
        }
        notifyAll();
    }

    /** A page could not be worked on: the checkpoint stays before it, and the next run starts there. */
    public synchronized void pageFailed(long page) {
        failedPages.add(page);
        notifyAll();
    }

    /**
     * Waits until every page read is done or failed (or the connector stops); true when all were done,
     * i.e. the run is complete.
     */
    public synchronized boolean awaitPages(org.apache.camel.CamelContext context) throws InterruptedException {
        while (pagesInOrder + doneOutOfOrder.size() + failedPages.size() < pagesRead && !context.isStopping()) {
            wait(200);
        }
        return failedPages.isEmpty() && pagesInOrder == pagesRead;
    }

    /** The run ended without completing (a page failed, or a stop): it resumes at its checkpoint next time. */
    public synchronized void interrupted() {
        running = false;
        finishedAt = Instant.now();
        if (runs != null) {
            runs.ended(runId, finishedAt, "interrupted", processed.get(), dryRun ? plan.size() : null);
        }
        LOG.warn("Reconciliation interrupted after {} referrals ({} page(s) failed); the next run resumes at the checkpoint",
                processed.get(), failedPages.size());
    }

    private void progress() {
        long done = processed.get();
        if (!dryRun) {
            cursor.put(DONE, String.valueOf(done));
        }
        double seconds = Math.max(0.001, Duration.between(startedAt, Instant.now()).toMillis() / 1000.0);
        double rate = (done - resumedFrom) / seconds;
        Long total = expected;
        if (total == null || rate <= 0) {
            LOG.info("Reconciliation: {} referrals done, {} /s", done, String.format("%.1f", rate));
        } else {
            LOG.info("Reconciliation: {} of about {} referrals done, {} /s, ETA {} s", done, total,
                    String.format("%.1f", rate), Math.max(0, Math.round((total - done) / rate)));
        }
    }

    public synchronized void finish() {
        running = false;
        complete = true;
        finishedAt = Instant.now();
        if (!dryRun) {
            cursor.put(TOTAL, String.valueOf(processed.get()));
            cursor.put(DONE, null);
        }
        if (runs != null) {
            runs.ended(runId, finishedAt, "finished", processed.get(), dryRun ? plan.size() : null);
        }
        LOG.info("Reconciliation finished: {} referrals in {} ms; Dataverse opportunities are re-read at the next poll",
                processed.get(), Duration.between(startedAt, finishedAt).toMillis());
    }

    private static Long number(String text) {
        try {
            return text == null ? null : Long.valueOf(text);
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** A dry run's decision for one referral (no write is made): the decision table's, told in words. */
    @SuppressWarnings("unchecked")
    public synchronized String plan(Map<String, Object> referral, Map<String, Object> link, String projectionHash) {
        String id = String.valueOf(referral.get("id"));
        String decision = switch (decisions.forReferral(referral, link)) {
            case OWN_WRITE -> "unchanged (our own write)";
            case FROM_CRM -> "link to opportunity " + referral.get("externalReferenceId");
            case SKIP_NOT_COSELL -> "skip (not co-sell)";
            case SKIP_CLOSED -> "skip (closed, never linked)";
            case CREATE -> "create opportunity";
            case UPDATE -> projectionHash.equals(link.get("opportunity_hash")) ? "unchanged"
                    : "update opportunity " + link.get("opportunity_id");
        };
        Object customer = referral.get("customerProfile") instanceof Map<?, ?> p ? ((Map<String, Object>) p).get("name") : "?";
        String line = id + "  " + decision + "  (" + customer + ", " + referral.get("status") + "/" + referral.get("substatus") + ")";
        plan.add(line);
        planEntries.add(new PlanEntry(id, decision, String.valueOf(customer), referral.get("status") + "/" + referral.get("substatus")));
        return line;
    }

    public synchronized List<String> plan() {
        return List.copyOf(plan);
    }

    /** The last dry run's plan, one entry per referral. */
    public synchronized List<PlanEntry> planEntries() {
        return List.copyOf(planEntries);
    }

    /** Where the current (or last) run stands. A finished run is 100 %; a running one only when a total is expected. */
    public Progress currentProgress() {
        Instant started = startedAt;
        Instant finished = finishedAt;
        long done = processed.get();
        Long total = expected;
        double seconds = started == null ? 0 : Math.max(0.001,
                Duration.between(started, finished == null ? Instant.now() : finished).toMillis() / 1000.0);
        double rate = started == null ? 0 : (done - resumedFrom) / seconds;
        Long eta = running && total != null && rate > 0 ? Math.max(0, Math.round((total - done) / rate)) : null;
        Integer percent = !running && complete ? Integer.valueOf(100)
                : running && total != null && total > 0 ? Integer.valueOf((int) Math.min(99, done * 100 / total)) : null;
        return new Progress(running, dryRun, done, total, rate, eta, percent, started, finished, startedBy, complete);
    }

    /** Where runs are recorded (the console's "last runs"); optional. */
    public void setRuns(ReconciliationRuns runs) {
        this.runs = runs;
    }

    /** Referrals done, counting those done before a resume. */
    public long processed() {
        return processed.get();
    }

    /** Referrals done by this run since it started or resumed. */
    public long processedThisRun() {
        return processed.get() - resumedFrom;
    }

    public boolean running() {
        return running;
    }

    public String status() {
        return (running ? "running" : finishedAt == null ? "never run" : (complete ? "finished " : "interrupted ") + finishedAt) + ", " + processed.get()
                + " referrals" + (running && expected != null ? " of about " + expected : "");
    }
}
