package dev.cosell.connector;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;

import dev.cosell.connector.store.SecretBox;
import org.apache.camel.CamelContext;
import org.apache.camel.impl.DefaultCamelContext;

/**
 * The whole configuration checked at once, before anything starts: every missing, malformed or
 * placeholder value, each with its property and the environment variable that overrides it. The
 * connector runs it at start-up (and refuses to start on a problem); {@code cosell-connector doctor}
 * prints it first.
 */
public final class ConfigCheck {

    /** A value that is wrong, and how to put it right. */
    public record Problem(String property, String message) {
        @Override
        public String toString() {
            return property + " (" + Settings.envName(property) + "): " + message;
        }
    }

    /** Thrown at start-up: the configuration has problems; the message lists them all. */
    public static final class InvalidConfigurationException extends IllegalArgumentException {
        private final transient List<Problem> problems;

        public InvalidConfigurationException(List<Problem> problems) {
            super(describe(problems));
            this.problems = List.copyOf(problems);
        }

        public List<Problem> problems() {
            return problems;
        }
    }

    public static String describe(List<Problem> problems) {
        StringBuilder b = new StringBuilder("the configuration has " + problems.size()
                + (problems.size() == 1 ? " problem:" : " problems:"));
        problems.forEach(p -> b.append("\n  - ").append(p));
        return b.toString();
    }

    /** The values application.properties ships with: they stand for the partner's own and must be replaced. */
    static final String ZERO_GUID = "00000000-0000-0000-0000-000000000000";
    static final Set<String> PLACEHOLDER_HOSTS = Set.of("contoso.crm.dynamics.com", "connector.example.com");

    private static final Pattern GUID = Pattern.compile("[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}");
    private static final Pattern DOMAIN = Pattern.compile("[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+");

    private static final List<String> WHOLE_NUMBERS = List.of("camel.server.port", "camel.management.port", "store.pool-size",
            "partnercenter.webhook.max-body-bytes", "partnercenter.webhook.inbox-sweep-ms",
            "partnercenter.webhook.inbox-requeue-after-ms", "partnercenter.webhook.inbox-retention-days",
            "dataverse.currency-refresh-seconds", "sync.concurrency", "sync.concurrency.dataverse.initial",
            "sync.concurrency.dataverse.max", "sync.concurrency.partnercenter.initial", "sync.concurrency.partnercenter.max",
            "sync.concurrency.increase-after", "sync.retry.max-redeliveries",
            "sync.retry.initial-delay-ms", "sync.retry.max-delay-ms", "sync.poll-interval-ms",
            "sync.circuit-breaker.failure-rate-percent", "sync.circuit-breaker.window-calls",
            "sync.circuit-breaker.minimum-calls", "sync.circuit-breaker.open-ms", "sync.circuit-breaker.half-open-calls",
            "sync.cluster.checkin-interval-ms", "sync.health.dead-letter-threshold", "sync.health.max-poll-age-seconds",
            "sync.audit-max-length", "console.session-timeout-minutes", "sync.dataverse.batch-size",
            "sync.reconciliation.pages-in-flight");
    private static final List<String> BOOLEANS = List.of("auth.instance-discovery", "partnercenter.webhook.overwrite",
            "partnercenter.webhook.register-on-startup", "sync.cosell-only", "sync.checkmark", "sync.circuit-breaker.enabled",
            "sync.cluster.enabled", "dataverse.webhook.enabled", "sync.reconciliation.on-startup",
            "console.enabled", "console.secure-cookie");

    /** The value (null when missing or blank). */
    private final Function<String, String> values;
    /** Whether the key is missing altogether (blank is a value: an empty setting may be a choice). */
    private final java.util.function.Predicate<String> absent;
    private final List<Problem> problems = new ArrayList<>();

    private ConfigCheck(Function<String, String> values, java.util.function.Predicate<String> absent) {
        this.values = values;
        this.absent = absent;
    }

    /** Checks the properties as the running context resolves them (file, environment, overrides). */
    public static List<Problem> of(CamelContext context) {
        return of(resolver(context));
    }

    /** Checks a configuration file with its overrides, as the connector would read it, without starting it. */
    public static List<Problem> of(Path configFile, Map<String, String> overrides) {
        return of(resolver(configFile, overrides));
    }

    /**
     * How the connector resolves a property from this file and these overrides (environment variables
     * override both, as at run time), without starting anything.
     */
    public static Function<String, java.util.Optional<String>> resolver(Path configFile, Map<String, String> overrides) {
        // Never started, so nothing to stop: it only lends its properties component.
        DefaultCamelContext context = new DefaultCamelContext();
        var properties = context.getPropertiesComponent();
        properties.setLocation("file:" + configFile.toAbsolutePath());
        java.util.Properties o = new java.util.Properties();
        o.putAll(overrides);
        properties.setOverrideProperties(o);
        return resolver(context);
    }

    private static Function<String, java.util.Optional<String>> resolver(CamelContext context) {
        var properties = context.getPropertiesComponent();
        return key -> {
            try {
                return properties.resolveProperty(key);
            } catch (RuntimeException e) {
                return java.util.Optional.empty(); // an unresolvable placeholder inside the value: reported as missing
            }
        };
    }

    private static List<Problem> of(Function<String, java.util.Optional<String>> resolve) {
        return new ConfigCheck(key -> resolve.apply(key).map(String::trim).filter(v -> !v.isEmpty()).orElse(null),
                key -> resolve.apply(key).isEmpty()).run();
    }

    private List<Problem> run() {
        for (String key : List.of("auth.tenant-id", "auth.authority", "auth.client-id", "auth.partnercenter.mode",
                "partnercenter.url", "partnercenter.webhooks-url", "partnercenter.webhook.callback-url", "dataverse.url",
                "dataverse.api-path", "store.url", "store.secret-key", "sync.mappings-dir")) {
            if (get(key) == null) {
                problem(key, "must be set");
            }
        }
        identifier("auth.tenant-id", "your Entra ID tenant: its id (GUID) or its domain", true);
        identifier("auth.client-id", "the application (client) id of the connector's app registration", false);
        if (get("auth.client-secret") == null && get("auth.certificate-path") == null) {
            problem("auth.client-secret", "set a client secret, or a certificate in auth.certificate-path");
        }
        String certificate = get("auth.certificate-path");
        if (certificate != null && !Files.isReadable(Path.of(certificate))) {
            problem("auth.certificate-path", "no readable file at " + certificate);
        }
        String mode = get("auth.partnercenter.mode");
        if (mode != null && !Set.of("delegated", "application").contains(mode.toLowerCase())) {
            problem("auth.partnercenter.mode", "must be delegated (App+User, what the referral API needs) or application, not '"
                    + mode + "'");
        }
        url("partnercenter.url", false);
        url("partnercenter.webhooks-url", false);
        url("dataverse.url", false);
        url("partnercenter.webhook.callback-url", true);
        url("auth.authority", false);
        String key = get("store.secret-key");
        if (key != null) {
            try {
                new SecretBox(key);
            } catch (IllegalArgumentException e) {
                problem("store.secret-key", "must be base64 of 32 random bytes (openssl rand -base64 32)");
            }
        }
        String mappings = get("sync.mappings-dir");
        if (mappings != null && !Files.isDirectory(Path.of(mappings))) {
            problem("sync.mappings-dir", "no folder at " + Path.of(mappings).toAbsolutePath());
        }
        for (String n : WHOLE_NUMBERS) {
            String v = get(n);
            if (v != null && !v.matches("\\d+")) {
                problem(n, "must be a whole number, not '" + v + "'");
            }
        }
        for (String n : List.of("sync.concurrency", "sync.concurrency.dataverse.initial", "sync.concurrency.partnercenter.initial",
                "sync.reconciliation.pages-in-flight")) {
            String v = get(n);
            if (v != null && v.matches("\\d{1,9}") && Integer.parseInt(v) < 1) {
                problem(n, "must be 1 or more, not " + v);
            }
        }
        for (String system : List.of("dataverse", "partnercenter")) {
            String initial = get("sync.concurrency." + system + ".initial");
            String max = get("sync.concurrency." + system + ".max");
            if (initial != null && max != null && initial.matches("\\d{1,9}") && max.matches("\\d{1,9}")
                    && Integer.parseInt(max) < Integer.parseInt(initial)) {
                problem("sync.concurrency." + system + ".max", "must be at least sync.concurrency." + system + ".initial ("
                        + initial + "), not " + max);
            }
        }
        String batchSize = get("sync.dataverse.batch-size");
        if (batchSize != null && batchSize.matches("\\d{1,9}") && (Integer.parseInt(batchSize) < 1 || Integer.parseInt(batchSize) > 1000)) {
            problem("sync.dataverse.batch-size", "must be 1 to 1000 (Dataverse's most requests in a $batch), not " + batchSize);
        }
        for (String b : BOOLEANS) {
            String v = get(b);
            if (v != null && !v.equalsIgnoreCase("true") && !v.equalsIgnoreCase("false")) {
                problem(b, "must be true or false, not '" + v + "'");
            }
        }
        String consoleHash = get("console.password-hash");
        if (consoleHash != null && !dev.cosell.connector.console.ConsolePassword.isHash(consoleHash)) {
            problem("console.password-hash", "is not a hash: make one with java -cp cosell-connector.jar"
                    + " dev.cosell.connector.console.ConsolePassword (never the password itself)");
        }
        String consolePath = get("console.path");
        if (consolePath != null && (!consolePath.startsWith("/") || consolePath.equals("/") || consolePath.startsWith("/observe"))) {
            problem("console.path", "must be a path of its own on the management server, such as /console, not '" + consolePath + "'");
        }
        placeholdersOfRoutes();
        return List.copyOf(problems);
    }

    private static final Pattern PLACEHOLDER = Pattern.compile("\\{\\{([A-Za-z0-9_.\\-]+)}}");

    /** Every {{property}} the route files use (without a default) must be set: otherwise Camel stops mid-start. */
    private void placeholdersOfRoutes() {
        String pattern = get("camel.main.routes-include-pattern");
        if (pattern == null) {
            return;
        }
        // A list of patterns (file:routes/*.camel.yaml, file:routes/one.camel.yaml, ...): the folders they read.
        java.util.Set<Path> dirs = new java.util.LinkedHashSet<>();
        for (String one : pattern.split(",")) {
            String p = one.trim();
            if (p.startsWith("file:")) {
                Path parent = Path.of(p.substring("file:".length())).getParent();
                dirs.add(parent == null ? Path.of(".") : parent);
            }
        }
        java.util.Set<String> reported = new java.util.HashSet<>();
        for (Path dir : dirs) {
            if (!Files.isDirectory(dir)) {
                problem("camel.main.routes-include-pattern", "no route folder at " + dir.toAbsolutePath());
                continue;
            }
            try (var files = Files.list(dir)) {
                for (Path f : files.filter(x -> x.toString().endsWith(".yaml")).sorted().toList()) {
                    var m = PLACEHOLDER.matcher(Files.readString(f));
                    while (m.find()) {
                        String key = m.group(1);
                        if (absent.test(key) && reported.add(key)) {
                            problem(key, "is used by " + dir.relativize(f) + " but not set");
                        }
                    }
                }
            } catch (java.io.IOException e) {
                problem("camel.main.routes-include-pattern", "cannot read the route files in " + dir + ": " + e.getMessage());
            }
        }
    }

    private void identifier(String key, String what, boolean domainAllowed) {
        String v = get(key);
        if (v == null) {
            return;
        }
        if (v.equals(ZERO_GUID)) {
            problem(key, "is the placeholder " + ZERO_GUID + ": set " + what);
        } else if (!GUID.matcher(v).matches() && !(domainAllowed && DOMAIN.matcher(v).matches())) {
            problem(key, "'" + v + "' is not " + (domainAllowed ? "a GUID or a domain" : "a GUID") + ": set " + what);
        }
    }

    /** An https URL (http only on loopback); the placeholders shipped in application.properties refused. */
    private void url(String key, boolean callback) {
        String v = get(key);
        if (v == null) {
            return;
        }
        URI uri;
        try {
            uri = URI.create(v);
        } catch (IllegalArgumentException e) {
            problem(key, "'" + v + "' is not a URL");
            return;
        }
        String host = uri.getHost();
        if (host == null || uri.getScheme() == null) {
            problem(key, "'" + v + "' is not an absolute URL");
            return;
        }
        if (PLACEHOLDER_HOSTS.contains(host.toLowerCase())) {
            problem(key, "is the placeholder " + host + ": set " + (callback
                    ? "the public HTTPS URL Partner Center posts events to (this connector's webhook)"
                    : "your own " + (key.startsWith("dataverse") ? "environment's URL (https://<org>.crm.dynamics.com)" : "URL")));
            return;
        }
        boolean loopback = host.equals("127.0.0.1") || host.equals("localhost") || host.equals("[::1]");
        if (!"https".equalsIgnoreCase(uri.getScheme()) && !loopback) {
            problem(key, "must be https" + (callback ? " (Partner Center only posts to HTTPS callbacks)" : "") + ", not " + v);
        }
    }

    private String get(String key) {
        return values.apply(key);
    }

    private void problem(String key, String message) {
        problems.add(new Problem(key, message));
    }
}
