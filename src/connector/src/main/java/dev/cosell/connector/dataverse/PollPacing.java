package dev.cosell.connector.dataverse;

import java.time.Instant;

import dev.cosell.connector.remote.HttpAnswers;
import dev.cosell.connector.remote.RemoteConcurrency;
import dev.cosell.connector.remote.RetryAfter;
import org.apache.camel.http.base.HttpOperationFailedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lets Dataverse set the pace of the poll: after an answer with {@code Retry-After} (429 service
 * protection, 503), no poll is sent before that time has passed, whatever the poll interval says.
 * Dataverse's service protection page: keep sending and the wait grows.
 */
public final class PollPacing {

    private static final Logger LOG = LoggerFactory.getLogger(PollPacing.class);

    private final long maxDelayMs;
    private final RemoteConcurrency concurrency;
    private volatile Instant notBefore = Instant.EPOCH;

    public PollPacing(long maxDelayMs) {
        this(maxDelayMs, null);
    }

    /** With the remote limiter: a Retry-After that any Dataverse call received holds the poll back too. */
    public PollPacing(long maxDelayMs, RemoteConcurrency concurrency) {
        this.maxDelayMs = maxDelayMs;
        this.concurrency = concurrency;
    }

    /** False while Dataverse asked us to wait (an answer to the poll, or to any call, had Retry-After). */
    public boolean mayPoll() {
        return !Instant.now().isBefore(notBefore) && (concurrency == null || !concurrency.held("dataverse"));
    }

    /** After a failed poll: the Retry-After of its answer (capped), if it had one, holds the next polls back. */
    public void failed(Exception e) {
        HttpOperationFailedException http = HttpAnswers.httpFailure(e);
        Long ms = http == null ? null : RetryAfter.delayMs(http.getResponseHeaders());
        if (ms != null && ms > 0) {
            long wait = Math.min(ms, maxDelayMs);
            notBefore = Instant.now().plusMillis(wait);
            LOG.warn("Dataverse answered {} to the poll: next poll in {} ms (Retry-After)", http.getStatusCode(), wait);
        }
    }
}
