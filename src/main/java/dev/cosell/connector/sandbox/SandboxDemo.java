package dev.cosell.connector.sandbox;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.ConnectorRuntime;
import dev.cosell.connector.Settings;
import dev.cosell.connector.sandbox.partnercenter.WebhookDispatcher;

/**
 * {@code --sandbox}: starts the three emulators, seeds them with a few realistic referrals and
 * opportunities, starts the unchanged connector against them over HTTPS, and prints what happened.
 * Everything the connector does goes over the wire: the printed counts are the emulators' own.
 */
public final class SandboxDemo {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final PrintStream OUT = System.out;

    private SandboxDemo() {
    }

    /** Runs the demo; returns the process exit code (0 when every step did what it should). */
    public static int run(Path config, Map<String, String> overrides, boolean stay) throws Exception {
        Path workDir = Path.of(overrides.getOrDefault("store.data-dir", "data")).resolve("sandbox");
        wipe(workDir);
        Map<String, String> props = loadSandboxProperties(config);
        overrides.forEach((k, v) -> {
            if (k.startsWith("sandbox.")) {
                props.put(k, v);
            }
        });
        Sandbox.Options options = new Sandbox.Options(intProp(props, "sandbox.entra.port"),
                intProp(props, "sandbox.partnercenter.port"), intProp(props, "sandbox.dataverse.port"),
                props.get("sandbox.tenant-id"), props.get("sandbox.client-id"), props.get("sandbox.client-secret"),
                props.get("sandbox.user"), intProp(props, "sandbox.token-lifetime-seconds"));
        int connectorPort = Integer.parseInt(props.getOrDefault("sandbox.connector-port", "18080"));
        long t0 = System.nanoTime();
        try (Sandbox sandbox = Sandbox.start(options)) {
            banner("Sandbox up");
            line("Entra ID       %s (tenant %s)", sandbox.entra().baseUrl(), sandbox.tenant());
            line("Partner Center %s", sandbox.partnerCenter().baseUrl());
            line("Dataverse      %s", sandbox.dataverse().environmentUrl());

            seed(sandbox);

            Map<String, String> connector = new LinkedHashMap<>(sandbox.connectorProperties(workDir, connectorPort));
            connector.put("store.url", "jdbc:h2:file:" + workDir.toAbsolutePath().resolve("cosell")
                    + ";MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH");
            connector.putAll(overrides);
            banner("Connector");
            long started = System.nanoTime();
            try (ConnectorRuntime runtime = ConnectorRuntime.start(config, connector)) {
                line("started in %d ms, %d routes from routes/", ms(started), runtime.context().getRoutes().size());
                runtime.context().getRoutes().stream().map(r -> r.getRouteId()).sorted()
                        .forEach(id -> line("  route %s", id));

                boolean ok = webhookRegistration(sandbox, runtime);

                banner("Calls the emulators counted");
                printCalls("Entra ID", sandbox.entra());
                printCalls("Partner Center", sandbox.partnerCenter());
                printCalls("Dataverse", sandbox.dataverse());
                line("total %d ms", ms(t0));
                if (stay) {
                    line("--stay: the connector and the emulators keep running; Ctrl+C stops them.");
                    runtime.awaitShutdown();
                }
                return ok ? 0 : 1;
            }
        }
    }

    private static void seed(Sandbox sandbox) {
        banner("Seeded");
        JsonNode referrals = resource("sandbox/sample-referrals.json");
        for (JsonNode r : referrals) {
            // Created as Microsoft before the connector registered its webhook: no event reaches it.
            ObjectNode created = sandbox.partnerCenter().createAsMicrosoft(sandbox.tenant(), (ObjectNode) r);
            line("referral    %s  %-52s %s/%s", created.path("id").asText(), created.path("name").asText(),
                    created.path("status").asText(), created.path("substatus").asText());
        }
        JsonNode dv = resource("sandbox/sample-dataverse.json");
        for (String set : List.of("accounts", "opportunities")) {
            List<ObjectNode> rows = new ArrayList<>();
            dv.path(set).forEach(n -> rows.add((ObjectNode) n));
            sandbox.dataverse().api().seed(set, rows);
            rows.forEach(n -> line("%-11s %s  %s", set.substring(0, set.length() - 1), n.path(set.equals("accounts")
                    ? "accountid" : "opportunityid").asText(), n.path("name").asText()));
        }
    }

    private static boolean webhookRegistration(Sandbox sandbox, ConnectorRuntime runtime) {
        banner("Flow: Partner Center Webhook Registration");
        // The start-up route registers on its own; wait for it, then a second run must change nothing.
        WebhookDispatcher.Registration r = null;
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (r == null && System.nanoTime() < deadline) {
            r = sandbox.partnerCenter().webhooks().registration(sandbox.tenant());
            if (r == null) {
                java.util.concurrent.locks.LockSupport.parkNanos(20_000_000L);
            }
        }
        if (r == null) {
            line("FAILED: the start-up registration did not reach the Partner Center emulator (see the log above)");
            return false;
        }
        String second = runtime.registerWebhook();
        line("registered  %s for %s (subscriber %s)", r.webhookUrl(), r.webhookEvents(), r.subscriberId());
        line("run again   -> %s (idempotent)", second);
        return "unchanged".equals(second);
    }

    // ------------------------------------------------------------------------------------------ helpers

    private static Map<String, String> loadSandboxProperties(Path config) throws IOException {
        java.util.Properties p = new java.util.Properties();
        try (InputStream in = Files.newInputStream(config)) {
            p.load(in);
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (String k : p.stringPropertyNames()) {
            if (k.startsWith("sandbox.")) {
                // Environment variables override the file, as for every other property.
                out.put(k, System.getenv().getOrDefault(Settings.envName(k), p.getProperty(k).trim()));
            }
        }
        return out;
    }

    private static int intProp(Map<String, String> props, String key) {
        return Integer.parseInt(props.getOrDefault(key, "0"));
    }

    private static JsonNode resource(String name) {
        try (InputStream in = SandboxDemo.class.getClassLoader().getResourceAsStream(name)) {
            return JSON.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void printCalls(String name, Emulator emulator) {
        line("%s", name);
        emulator.calls().counts().forEach((template, count) -> line("  %5d  %s", count, template));
    }

    private static void wipe(Path dir) throws IOException {
        if (Files.isDirectory(dir)) {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        Files.createDirectories(dir);
    }

    private static long ms(long startNanos) {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }

    private static void banner(String title) {
        OUT.println();
        OUT.println("== " + title + " " + "=".repeat(Math.max(0, 70 - title.length())));
    }

    private static void line(String format, Object... args) {
        OUT.println(String.format(format, args));
    }
}
