package dev.cosell.connector.sandbox;

import java.util.concurrent.ThreadLocalRandom;

/**
 * The time an emulated service takes to answer, as a client on the internet sees it: {@code mean ± jitter}
 * milliseconds, uniformly drawn per request (so the mean is the mean, and no answer is faster than
 * {@code mean - jitter}). Off (0 ms) by default; set from sandbox properties ({@link RealWorld}) or the admin
 * API ({@code PUT /_admin/latency {"meanMs":150,"jitterMs":50}}).
 */
public final class Latency {

    /** One setting; both zero means off. */
    public record Setting(long meanMs, long jitterMs) {
        public Setting {
            if (meanMs < 0 || jitterMs < 0 || jitterMs > meanMs) {
                throw new IllegalArgumentException("latency needs 0 <= jitter <= mean, got " + meanMs + " ± " + jitterMs);
            }
        }
    }

    private volatile Setting setting = new Setting(0, 0);

    public Latency set(long meanMs, long jitterMs) {
        this.setting = new Setting(meanMs, jitterMs);
        return this;
    }

    public Setting setting() {
        return setting;
    }

    public boolean off() {
        return setting.meanMs() == 0;
    }

    /** Milliseconds to hold this request (0 when off). */
    public long sampleMs() {
        Setting s = setting;
        if (s.meanMs() == 0) {
            return 0;
        }
        if (s.jitterMs() == 0) {
            return s.meanMs();
        }
        return s.meanMs() - s.jitterMs() + ThreadLocalRandom.current().nextLong(2 * s.jitterMs() + 1);
    }
}
