package dev.cosell.connector.sandbox;

import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/**
 * Injected faults of one emulator, switchable from tests (Java or admin API) and from sandbox
 * properties. A rule matches by method and path pattern and either answers with a status (429 with
 * Retry-After, 500, 503), delays the request, or drops the connection; {@code times} bounds how often
 * it fires, a rate limit turns it into service protection throttling.
 */
public final class Faults {

    /** What to do with one request. */
    public record Fault(int status, int retryAfterSeconds, long delayMs, boolean drop) {
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static final class Rule {
        public String method;
        /** Regular expression on the request path; null matches every API path. */
        public String path;
        public int status;
        public int retryAfterSeconds;
        public long delayMs;
        public boolean drop;
        /** How many requests the rule applies to; 0 means no limit. */
        public int times;
        /** With a rate: answer {@code status} (429 by default) once more than this many requests came in the window. */
        public int rateLimitRequests;
        public int rateLimitWindowSeconds;

        @JsonIgnore
        private final AtomicInteger fired = new AtomicInteger();
        @JsonIgnore
        private final ArrayDeque<Long> window = new ArrayDeque<>();
        @JsonIgnore
        private Pattern compiled;

        public static Rule status(int status) {
            Rule r = new Rule();
            r.status = status;
            return r;
        }

        public static Rule throttle(int retryAfterSeconds) {
            Rule r = status(429);
            r.retryAfterSeconds = retryAfterSeconds;
            return r;
        }

        public static Rule delay(long millis) {
            Rule r = new Rule();
            r.delayMs = millis;
            return r;
        }

        public static Rule dropConnection() {
            Rule r = new Rule();
            r.drop = true;
            return r;
        }

        public static Rule rateLimit(int requests, int windowSeconds) {
            Rule r = status(429);
            r.rateLimitRequests = requests;
            r.rateLimitWindowSeconds = windowSeconds;
            return r;
        }

        public Rule on(String method, String pathRegex) {
            this.method = method;
            this.path = pathRegex;
            return this;
        }

        public Rule times(int n) {
            this.times = n;
            return this;
        }

        public int fired() {
            return fired.get();
        }

        boolean matches(String m, String p) {
            if (method != null && !method.equalsIgnoreCase(m)) {
                return false;
            }
            if (path != null) {
                if (compiled == null) {
                    compiled = Pattern.compile(path);
                }
                return compiled.matcher(p).find();
            }
            return true;
        }

        /** Returns the fault for this request, or null when the rule lets it through. */
        Fault apply() {
            if (rateLimitRequests > 0) {
                long now = System.currentTimeMillis();
                long windowMs = rateLimitWindowSeconds * 1000L;
                synchronized (window) {
                    while (!window.isEmpty() && window.peekFirst() <= now - windowMs) {
                        window.removeFirst();
                    }
                    if (window.size() < rateLimitRequests) {
                        window.addLast(now);
                        return null;
                    }
                    long wait = window.peekFirst() + windowMs - now;
                    fired.incrementAndGet();
                    return new Fault(status == 0 ? 429 : status, (int) Math.max(1, (wait + 999) / 1000), 0, false);
                }
            }
            if (times > 0 && fired.incrementAndGet() > times) {
                return null;
            }
            if (times == 0) {
                fired.incrementAndGet();
            }
            return new Fault(status, retryAfterSeconds, delayMs, drop);
        }

        boolean exhausted() {
            return times > 0 && rateLimitRequests == 0 && fired.get() >= times;
        }
    }

    private final List<Rule> rules = new CopyOnWriteArrayList<>();

    public Rule add(Rule rule) {
        rules.add(rule);
        return rule;
    }

    public void clear() {
        rules.clear();
    }

    public List<Rule> rules() {
        return List.copyOf(rules);
    }

    Fault next(String method, String path) {
        for (Rule r : rules) {
            if (!r.exhausted() && r.matches(method, path)) {
                Fault f = r.apply();
                if (f != null) {
                    return f;
                }
            }
        }
        return null;
    }
}
