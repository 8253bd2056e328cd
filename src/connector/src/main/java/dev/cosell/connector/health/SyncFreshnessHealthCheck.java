package dev.cosell.connector.health;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.camel.health.HealthCheckResultBuilder;
import org.apache.camel.impl.health.AbstractHealthCheck;

/**
 * Age of the last successful Dataverse poll (the routes call {@link #pollSucceeded()}): DOWN when it
 * is older than the allowed age, i.e. the CRM side has not been synced for a while.
 */
public final class SyncFreshnessHealthCheck extends AbstractHealthCheck {

    private final Duration maxAge;
    private final Instant started = Instant.now();
    private final AtomicReference<Instant> lastPoll = new AtomicReference<>();

    public SyncFreshnessHealthCheck(long maxAgeSeconds) {
        super("cosell", "last-sync");
        this.maxAge = Duration.ofSeconds(maxAgeSeconds);
    }

    public void pollSucceeded() {
        lastPoll.set(Instant.now());
    }

    @Override
    public boolean isLiveness() {
        return false;
    }

    @Override
    protected void doCall(HealthCheckResultBuilder builder, Map<String, Object> options) {
        Instant last = lastPoll.get();
        Instant reference = last == null ? started : last;
        Duration age = Duration.between(reference, Instant.now());
        builder.detail("lastSuccessfulPoll", last == null ? "never" : last.toString()).detail("ageSeconds", age.toSeconds());
        if (age.compareTo(maxAge) > 0) {
            builder.down().message("no successful Dataverse poll for " + age.toSeconds() + " s (allowed " + maxAge.toSeconds() + " s)");
        } else {
            builder.up();
        }
    }
}
