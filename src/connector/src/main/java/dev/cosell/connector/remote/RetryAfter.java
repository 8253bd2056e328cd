package dev.cosell.connector.remote;

import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Map;

import org.apache.camel.Exchange;
import org.apache.camel.Processor;
import org.apache.camel.http.base.HttpOperationFailedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Used as {@code onExceptionOccurredRef} of the retry policy: when the remote answered 429 or 503 with
 * {@code Retry-After} (seconds or an HTTP date), the next redelivery waits that long (capped), instead
 * of the policy's own exponential delay. Sets {@code CamelRedeliveryDelay}, which overrides the policy.
 * A call held back by an open circuit breaker is tried again when the breaker may let it through.
 */
public final class RetryAfter implements Processor {

    private static final Logger LOG = LoggerFactory.getLogger(RetryAfter.class);

    private final long maxDelayMs;
    public RetryAfter(long maxDelayMs) {
        this.maxDelayMs = maxDelayMs;
    }

    @Override
    public void process(Exchange exchange) {
        Exception e = exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Exception.class);
        if (e instanceof RemoteCircuitBreakers.RemoteSystemUnavailableException open) {
            exchange.getIn().setHeader(Exchange.REDELIVERY_DELAY, Math.min(open.getRetryInMs(), maxDelayMs));
            return;
        }
        HttpOperationFailedException http = HttpAnswers.httpFailure(e);
        if (http == null) {
            return;
        }
        Long ms = delayMs(http.getResponseHeaders());
        if (ms != null) {
            long capped = Math.min(ms, maxDelayMs);
            exchange.getIn().setHeader(Exchange.REDELIVERY_DELAY, capped);
            LOG.warn("{} answered {}: retrying after {} ms (Retry-After)", http.getUri(), http.getStatusCode(), capped);
        }
    }

    /** Milliseconds a Retry-After header (seconds or an HTTP date) asks for, or null. */
    public static Long delayMs(Map<String, String> headers) {
        if (headers == null) {
            return null;
        }
        String value = null;
        for (var h : headers.entrySet()) {
            if (h.getKey().equalsIgnoreCase("Retry-After")) {
                value = h.getValue();
            }
        }
        if (value == null || value.isBlank()) {
            return null;
        }
        try {
            return Math.max(0, Long.parseLong(value.trim()) * 1000);
        } catch (NumberFormatException notSeconds) {
            try {
                Instant at = ZonedDateTime.parse(value.trim(), DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
                return Math.max(0, Duration.between(Instant.now(), at).toMillis());
            } catch (Exception notADate) {
                return null;
            }
        }
    }
}
