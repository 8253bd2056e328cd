package dev.cosell.connector.webhook;

import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;

/**
 * The times the webhook inbox's upkeep works with (routes/partner-center-to-dynamics-365.camel.yaml): which
 * accepted events to queue again, which handled ones to forget.
 * <p>
 * An event is written to {@code webhook_inbox} before it is answered 200, and marked {@code queued_at}
 * when handed to the processing queue. One that was never queued (the queue was full) or was queued
 * before this process started (a crash or stop) is queued again by the sweep; so is one queued longer
 * ago than {@code partnercenter.webhook.inbox-requeue-after-ms} and still not done (its worker is gone).
 * A row is claimed by an update before it is queued, so two nodes never both take it.
 */
public final class WebhookInbox {

    private final Instant started = Instant.now();
    private final Duration requeueAfter;
    private final Duration retention;

    public WebhookInbox(long requeueAfterMs, int retentionDays) {
        this.requeueAfter = Duration.ofMillis(requeueAfterMs);
        this.retention = Duration.ofDays(retentionDays);
    }

    /** The time an event is marked queued (this JVM's clock, the one the cut-offs below use). */
    public Timestamp now() {
        return Timestamp.from(Instant.now());
    }

    /** Events queued before this moment and not done are queued again. */
    public Timestamp requeueBefore() {
        Instant stale = Instant.now().minus(requeueAfter);
        return Timestamp.from(stale.isAfter(started) ? stale : started);
    }

    /** Events handled (done, duplicate) before this moment are deleted (partnercenter.webhook.inbox-retention-days). */
    public Timestamp forgetBefore() {
        return Timestamp.from(Instant.now().minus(retention));
    }
}
