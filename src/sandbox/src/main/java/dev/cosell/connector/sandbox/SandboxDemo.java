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
 * The sandbox demo ({@code java -jar src/sandbox/target/cosell-sandbox.jar [--stay] [--config FILE]
 * [--set key=value]}): starts the three emulators, seeds them with a few realistic referrals and
 * opportunities, starts the unchanged connector against them over HTTPS, and prints what happened.
 * Everything the connector does goes over the wire: the printed counts are the emulators' own.
 */
public final class SandboxDemo {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final PrintStream OUT = System.out;

    private SandboxDemo() {
    }

    public static void main(String[] args) throws Exception {
        dev.cosell.connector.CommandLine line;
        try {
            line = dev.cosell.connector.CommandLine.parse(args, java.util.Set.of("--stay", "--rehearsal"), java.util.Set.of());
        } catch (dev.cosell.connector.CommandLine.UsageException e) {
            System.err.println(e.getMessage());
            System.err.println("usage: java -jar src/sandbox/target/cosell-sandbox.jar [--stay | --rehearsal] [--config FILE] [--set key=value ...]");
            System.exit(2);
            return;
        }
        // Before anything logs: the emulators' and the connector's lines go to a file, the terminal gets the story.
        Path log = Path.of(line.overrides().getOrDefault("store.data-dir", "data"), "sandbox-demo.log").toAbsolutePath();
        Files.createDirectories(log.getParent());
        System.setProperty("cosell.log.file", log.toString());
        System.setProperty("log4j2.configurationFile", "log4j2-sandbox-demo.properties");
        OUT.println("cosell-connector sandbox demo; log: " + log);
        if (line.has("--rehearsal")) {
            Rehearsal rehearsal = Rehearsal.start(line.config(), line.overrides());
            Runtime.getRuntime().addShutdownHook(new Thread(rehearsal::close, "rehearsal-stop"));
            OUT.println(rehearsal.instructions());
            new java.util.concurrent.CountDownLatch(1).await();
            return;
        }
        try {
            System.exit(run(line.config(), line.overrides(), line.has("--stay")));
        } catch (dev.cosell.connector.ServerPorts.PortInUseException e) {
            System.err.println("sandbox demo: " + e.getMessage());
            System.exit(4);
        }
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
                props.get("sandbox.user"), intProp(props, "sandbox.token-lifetime-seconds"),
                props.getOrDefault("sandbox.dataverse.schema", "provisioned"));
        // Free ports unless configured: two demos on one machine never cross-talk.
        int connectorPort = port(props.getOrDefault("sandbox.connector-port", "0"));
        long t0 = System.nanoTime();
        try (Sandbox sandbox = Sandbox.start(options)) {
            // Dataverse's service protection limit, as configured (sandbox.dataverse.rate-limit-*).
            int limit = intProp(props, "sandbox.dataverse.rate-limit-requests");
            if (limit > 0) {
                sandbox.dataverse().faults().add(Faults.Rule.rateLimit(limit,
                        intProp(props, "sandbox.dataverse.rate-limit-window-seconds")));
            }
            // Latency, Dataverse's service protection, Partner Center's throttling (sandbox.latency.*, ...).
            RealWorld.apply(sandbox, props);
            banner("Sandbox up");
            line("Entra ID       %s (tenant %s)", sandbox.entra().baseUrl(), sandbox.tenant());
            line("Partner Center %s", sandbox.partnerCenter().baseUrl());
            line("Dataverse      %s", sandbox.dataverse().environmentUrl());

            seed(sandbox);

            Map<String, String> connector = new LinkedHashMap<>(sandbox.connectorProperties(workDir, connectorPort));
            connector.put("store.url", "jdbc:h2:file:" + workDir.toAbsolutePath().resolve("cosell")
                    + ";MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH");
            connector.put("camel.management.port", String.valueOf(port(props.getOrDefault("sandbox.management-port", "0"))));
            // The operator console, signed in to with the sandbox's own credentials (sandbox.console-*).
            String consoleUser = props.getOrDefault("sandbox.console-user", "operator");
            String consolePassword = props.getOrDefault("sandbox.console-password", "sandbox-console-only");
            connector.put("console.user", consoleUser);
            connector.put("console.password-hash", dev.cosell.connector.console.ConsolePassword.hash(consolePassword));
            connector.putAll(overrides);
            banner("Connector");
            long started = System.nanoTime();
            try (ConnectorRuntime runtime = ConnectorRuntime.start(config, connector)) {
                line("started in %d ms, %d routes from routes/*.camel.yaml, webhook on port %s (the log has the rest)",
                        ms(started), runtime.context().getRoutes().size(), connector.get("camel.server.port"));

                boolean ok = webhookRegistration(sandbox, runtime);
                ok &= partnerCenterToDynamics(sandbox);
                ok &= dynamicsToPartnerCenter(sandbox, runtime);

                banner("Calls the emulators counted");
                printCalls("Entra ID", sandbox.entra());
                printCalls("Partner Center", sandbox.partnerCenter());
                printCalls("Dataverse", sandbox.dataverse());
                line("total %d ms", ms(t0));
                if (stay) {
                    Settings settings = new Settings(runtime.context());
                    if (dev.cosell.connector.console.OperatorConsole.configured(settings)) {
                        banner("Operator console");
                        line("%s  user %s  password %s", dev.cosell.connector.console.OperatorConsole.url(settings),
                                settings.require("console.user"), consolePassword);
                    }
                    line("--stay: the connector and the emulators keep running; Ctrl+C stops them.");
                    runtime.awaitShutdown();
                }
                return ok ? 0 : 1;
            }
        }
    }

    private static void seed(Sandbox sandbox) {
        banner("Seeded Dataverse");
        JsonNode dv = resource("sandbox/sample-dataverse.json");
        for (String set : List.of("accounts", "opportunities")) {
            List<ObjectNode> rows = new ArrayList<>();
            dv.path(set).forEach(n -> rows.add((ObjectNode) n));
            sandbox.dataverse().api().seed(set, rows);
            rows.forEach(n -> line("%-11s %s  %s", set.equals("accounts") ? "account" : "opportunity", n.path(set.equals("accounts")
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

    /** Microsoft creates co-sell referrals: each must become one opportunity, through the signed webhook. */
    private static boolean partnerCenterToDynamics(Sandbox sandbox) {
        banner("Flow: Partner Center to Dynamics 365 (Microsoft creates co-sell referrals)");
        var pc = sandbox.partnerCenter();
        var dv = sandbox.dataverse().api();
        List<String> ids = new ArrayList<>();
        boolean ok = true;
        for (JsonNode r : resource("sandbox/sample-referrals.json")) {
            long t = System.nanoTime();
            ObjectNode created = pc.createAsMicrosoft(sandbox.tenant(), (ObjectNode) r);
            String id = created.path("id").asText();
            ids.add(id);
            ObjectNode opp = awaitOpportunity(dv, id, o -> true);
            if (opp == null) {
                line("FAILED: no opportunity for referral %s", id);
                ok = false;
                continue;
            }
            ObjectNode account = dv.row("accounts", opp.path("_parentaccountid_value").asText());
            line("referral %s -> opportunity %s in %4d ms", id.substring(0, 8), opp.path("opportunityid").asText()
                    .substring(0, 8), ms(t));
            line("    %-48s %,12.0f %s  account: %s", opp.path("name").asText(), opp.path("estimatedvalue").asDouble(),
                    r.path("details").path("currency").asText(), account == null ? "?" : account.path("name").asText());
        }
        if (ids.isEmpty()) {
            return false;
        }
        String first = ids.get(0);

        banner("Flow: Partner Center Microsoft Co-sell Referral Updates to Dynamics 365");
        String firstOpportunity = awaitOpportunity(dv, first, o -> true).path("opportunityid").asText();
        java.util.function.LongSupplier patchesOfFirst = () -> sandbox.dataverse().calls().entries().stream()
                .filter(e -> e.method().equals("PATCH") && e.uri().contains(firstOpportunity)).count();
        long patches = patchesOfFirst.getAsLong();
        long t = System.nanoTime();
        ObjectNode change = JSON.createObjectNode();
        change.putObject("details").put("dealValue", 150000);
        pc.updateAsMicrosoft(sandbox.tenant(), first, change);
        ObjectNode updated = awaitOpportunity(dv, first, o -> o.path("estimatedvalue").asInt() == 150000);
        long updatedMs = ms(t);
        awaitCount(patchesOfFirst, patches + 1);
        line("Microsoft raised the deal value      -> opportunity updated in %d ms (%d PATCH)", updatedMs,
                patchesOfFirst.getAsLong() - patches);
        ok &= updated != null;

        patches = patchesOfFirst.getAsLong();
        long gets = pc.calls().count("GET /v1.0/engagements/referrals/:id");
        pc.updateAsMicrosoft(sandbox.tenant(), first, JSON.createObjectNode().put("qualification", "Direct"));
        awaitCount(() -> pc.calls().count("GET /v1.0/engagements/referrals/:id"), gets + 1);
        line("Microsoft changed an unmapped field  -> referral read, %d PATCH (nothing to write)",
                patchesOfFirst.getAsLong() - patches);

        var delivery = pc.webhooks().deliveries().stream().filter(d -> d.resourceUri.endsWith(first)).findFirst().orElseThrow();
        gets = pc.calls().count("GET /v1.0/engagements/referrals/:id");
        pc.webhooks().redeliver(delivery);
        pc.webhooks().redeliver(delivery);
        awaitCount(() -> delivery.attempts.size(), 3);
        long opportunities = dv.rows("opportunities").stream().filter(o -> first.equals(o.path("cosell_referralid").asText()))
                .count();
        line("same webhook delivered twice more    -> %d opportunity, %d extra referral reads (duplicates dropped)",
                opportunities, pc.calls().count("GET /v1.0/engagements/referrals/:id") - gets);
        ObjectNode audit = awaitOpportunity(dv, first, o -> true);
        line("audit trail on the opportunity:");
        for (String l : audit.path("cosell_audit").asText().split("\n")) {
            line("    %s", l);
        }
        return ok && opportunities == 1;
    }

    /** A seller works in the CRM: each change must reach the referral, with no echo back. */
    private static boolean dynamicsToPartnerCenter(Sandbox sandbox, ConnectorRuntime runtime) {
        String interval = runtime.context().getPropertiesComponent().resolveProperty("sync.poll-interval-ms").orElse("?");
        banner("Flows: Dynamics 365 -> Partner Center (poll every " + interval + " ms, change tracking)");
        var pc = sandbox.partnerCenter();
        var dv = sandbox.dataverse().api();
        boolean ok = true;

        // The sample opportunity flagged before the connector started is picked up by the first poll.
        String seeded = "0b000000-0000-4000-8000-000000000001";
        ObjectNode first = awaitReferral(sandbox, seeded, r -> true);
        line("seeded flagged opportunity          -> referral %s created (first poll)",
                first == null ? "MISSING" : first.path("id").asText().substring(0, 8));
        ok &= first != null;

        long patches = pc.calls().countMethod("PATCH");
        long posts = pc.calls().count("POST /v1.0/engagements/referrals");
        long t = System.nanoTime();
        String id = java.util.UUID.randomUUID().toString();
        dv.seed("opportunities", List.of((ObjectNode) JSON.createObjectNode().put("opportunityid", id)
                .put("name", "Adventure Works - Fabric analytics").put("estimatedvalue", 65000)
                .put("estimatedclosedate", "2027-08-31").put("description", "Data platform on Microsoft Fabric")
                .put("cosell_syncwithpartnercenter", true).put("cosell_howcanmicrosofthelp", 100000002)
                .put("cosell_products", "Microsoft-Fabric,PowerBI")
                .put("parentaccountid@odata.bind", "/accounts(a1000000-0000-4000-8000-000000000001)")));
        ObjectNode created = awaitReferral(sandbox, id, r -> true);
        line("seller flags a new opportunity      -> referral created in %5d ms", ms(t));
        ok &= created != null;

        t = System.nanoTime();
        dv.seed("opportunities", List.of((ObjectNode) JSON.createObjectNode().put("opportunityid", id)
                .put("estimatedvalue", 72000).put("estimatedclosedate", "2027-09-30")));
        ok &= awaitReferral(sandbox, id, r -> r.path("details").path("dealValue").asInt() == 72000) != null;
        line("seller raises value, moves the date -> referral updated in %5d ms", ms(t));

        t = System.nanoTime();
        dv.seed("opportunities", List.of((ObjectNode) JSON.createObjectNode().put("opportunityid", id)
                .put("statecode", 1).put("statuscode", 3)));
        dv.seed("opportunities", List.of((ObjectNode) JSON.createObjectNode().put("opportunityid", seeded)
                .put("statecode", 2).put("statuscode", 4)));
        ok &= awaitReferral(sandbox, id, r -> "Won".equals(r.path("substatus").asText())) != null;
        ok &= awaitReferral(sandbox, seeded, r -> "Lost".equals(r.path("substatus").asText())) != null;
        line("seller wins one, loses another      -> both referrals closed in %5d ms", ms(t));
        // Let the webhooks of our own writes come back: they must not write anything.
        java.util.concurrent.locks.LockSupport.parkNanos(1_000_000_000L);
        long dvWritesBefore = sandbox.dataverse().calls().countMethod("PATCH");
        java.util.concurrent.locks.LockSupport.parkNanos(500_000_000L);
        line("Partner Center calls for these 4 changes: %d POST, %d PATCH; echo writes back to the CRM: %d",
                pc.calls().count("POST /v1.0/engagements/referrals") - posts, pc.calls().countMethod("PATCH") - patches,
                sandbox.dataverse().calls().countMethod("PATCH") - dvWritesBefore);

        banner("Referrals read back from the Partner Center emulator");
        for (ObjectNode r : pc.referrals().all(sandbox.tenant())) {
            line("%s  %-48s %-7s %-9s %,10.0f %s", r.path("id").asText().substring(0, 8), r.path("name").asText(),
                    r.path("status").asText(), r.path("substatus").asText(), r.path("details").path("dealValue").asDouble(),
                    r.path("externalReferenceId").asText("").isEmpty() ? "from Microsoft" : "from the CRM");
        }
        return ok;
    }

    private static ObjectNode awaitReferral(Sandbox sandbox, String opportunityId,
            java.util.function.Predicate<ObjectNode> condition) {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (System.nanoTime() < deadline) {
            for (ObjectNode r : sandbox.partnerCenter().referrals().all(sandbox.tenant())) {
                if (opportunityId.equals(r.path("externalReferenceId").asText()) && condition.test(r)) {
                    return r;
                }
            }
            java.util.concurrent.locks.LockSupport.parkNanos(5_000_000L);
        }
        return null;
    }

    private static ObjectNode awaitOpportunity(dev.cosell.connector.sandbox.dataverse.DataverseApi dv, String referralId,
            java.util.function.Predicate<ObjectNode> condition) {
        long deadline = System.nanoTime() + 15_000_000_000L;
        while (System.nanoTime() < deadline) {
            for (ObjectNode o : dv.rows("opportunities")) {
                if (referralId.equals(o.path("cosell_referralid").asText()) && condition.test(o)) {
                    return o;
                }
            }
            java.util.concurrent.locks.LockSupport.parkNanos(2_000_000L);
        }
        return null;
    }

    private static void awaitCount(java.util.function.LongSupplier value, long expected) {
        long deadline = System.nanoTime() + 15_000_000_000L;
        while (value.getAsLong() < expected && System.nanoTime() < deadline) {
            java.util.concurrent.locks.LockSupport.parkNanos(2_000_000L);
        }
        // let the event finish after the read we waited for
        java.util.concurrent.locks.LockSupport.parkNanos(200_000_000L);
    }

    // ------------------------------------------------------------------------------------------ helpers

    static Map<String, String> loadSandboxProperties(Path config) throws IOException {
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

    static int intProp(Map<String, String> props, String key) {
        return Integer.parseInt(props.getOrDefault(key, "0"));
    }

    static JsonNode resource(String name) {
        try (InputStream in = SandboxDemo.class.getClassLoader().getResourceAsStream(name)) {
            return JSON.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One line per emulator: its calls by endpoint, e.g. "8 GET …/referrals/:id". */
    private static void printCalls(String name, Emulator emulator) {
        List<String> calls = new ArrayList<>();
        emulator.calls().counts().forEach((template, count) -> calls.add(count + " " + template
                .replace("/api/data/v9.2/", "").replace("/v1.0/engagements/", "").replace("/webhooks/v1/", "webhooks/")));
        line("%-15s%s", name, String.join(", ", calls));
    }

    /** The configured port, or a free one for 0. */
    static int port(String configured) throws IOException {
        int port = Integer.parseInt(configured.trim());
        if (port != 0) {
            return port;
        }
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static void wipe(Path dir) throws IOException {
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
        OUT.println("== " + title + " " + "=".repeat(Math.max(0, 70 - title.length())));
    }

    private static void line(String format, Object... args) {
        OUT.println(String.format(format, args));
    }
}
