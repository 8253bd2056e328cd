package dev.cosell.connector.sandbox;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A real-tenant rehearsal ({@code java -jar src/sandbox/target/cosell-sandbox.jar --rehearsal}): the
 * emulators as a new tenant has them — Dataverse without the co-sell columns, nobody signed in, no
 * webhook registered, two referrals waiting in Partner Center — and a configuration file for them.
 * The README's quick start is then followed step by step with the product's own commands (doctor,
 * sign-in at the emulator's /devicelogin page, provision, register, run, reconcile).
 */
public final class Rehearsal implements AutoCloseable {

    private final Sandbox sandbox;
    private final Path config;
    private final List<String> referrals;

    private Rehearsal(Sandbox sandbox, Path config, List<String> referrals) {
        this.sandbox = sandbox;
        this.config = config;
        this.referrals = referrals;
    }

    /** Starts the emulators and writes {@code <store.data-dir>/rehearsal/application.properties}. */
    public static Rehearsal start(Path baseConfig, Map<String, String> overrides) throws IOException {
        Path dir = Path.of(overrides.getOrDefault("store.data-dir", "data")).resolve("rehearsal");
        SandboxDemo.wipe(dir);
        Files.createDirectories(dir);
        Map<String, String> props = SandboxDemo.loadSandboxProperties(baseConfig);
        overrides.forEach((k, v) -> {
            if (k.startsWith("sandbox.")) {
                props.put(k, v);
            }
        });
        Sandbox sandbox = Sandbox.start(new Sandbox.Options(SandboxDemo.intProp(props, "sandbox.entra.port"),
                SandboxDemo.intProp(props, "sandbox.partnercenter.port"), SandboxDemo.intProp(props, "sandbox.dataverse.port"),
                props.get("sandbox.tenant-id"), props.get("sandbox.client-id"), props.get("sandbox.client-secret"),
                props.get("sandbox.user"), SandboxDemo.intProp(props, "sandbox.token-lifetime-seconds"), "empty"));
        try {
            Map<String, String> connector = new LinkedHashMap<>(sandbox.connectorProperties(dir, SandboxDemo.port("0")));
            connector.put("auth.partnercenter.refresh-token", ""); // nobody signed in: that is step "sign-in"
            connector.put("store.url", "jdbc:h2:file:" + dir.toAbsolutePath().resolve("cosell")
                    + ";MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH");
            connector.put("camel.management.port", String.valueOf(SandboxDemo.port("0")));
            overrides.forEach((k, v) -> {
                if (!k.startsWith("sandbox.")) {
                    connector.put(k, v);
                }
            });
            // The shipped file first, the rehearsal's values after it (a later key wins).
            StringBuilder file = new StringBuilder(Files.readString(baseConfig));
            file.append("\n## --- Real-tenant rehearsal: the sandbox's values (generated; the secrets are the sandbox's) ---\n");
            connector.forEach((k, v) -> file.append(k).append(" = ").append(v.replace("\\", "\\\\")).append('\n'));
            Path config = dir.resolve("application.properties");
            Files.writeString(config, file);
            // It holds the sandbox's client secret and store key: readable by this user only, like the store.
            Files.setPosixFilePermissions(config, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
            List<String> referrals = new java.util.ArrayList<>();
            for (JsonNode r : SandboxDemo.resource("sandbox/sample-referrals.json")) {
                if (referrals.size() < 2) {
                    referrals.add(sandbox.partnerCenter().createAsMicrosoft(sandbox.tenant(), (ObjectNode) r).path("id").asText());
                }
            }
            return new Rehearsal(sandbox, config, referrals);
        } catch (IOException | RuntimeException e) {
            sandbox.close();
            throw e;
        }
    }

    public Sandbox sandbox() {
        return sandbox;
    }

    public Path config() {
        return config;
    }

    /** The referrals waiting in Partner Center (created before any webhook was registered). */
    public List<String> referrals() {
        return referrals;
    }

    /** What the user is told to do, with this rehearsal's paths and URLs. */
    public String instructions() {
        String run = "java -jar src/connector/target/cosell-connector.jar --config " + config;
        return String.join("\n",
                "== Real-tenant rehearsal ====================================================",
                "Emulators: Entra ID " + sandbox.entra().baseUrl() + ", Partner Center " + sandbox.partnerCenter().baseUrl()
                        + ", Dataverse " + sandbox.dataverse().environmentUrl(),
                "As a new tenant: Dataverse has no co-sell columns, nobody is signed in, no webhook is registered,",
                referrals.size() + " referrals wait in Partner Center. Configuration: " + config,
                "Follow the README quick start with it, from the project root:",
                "  1. " + run + " doctor                 (fails: columns, key, sign-in, webhook)",
                "  2. " + run + " sign-in                (open " + sandbox.entra().baseUrl()
                        + "/devicelogin, enter the code; the page stands for Microsoft's sign-in)",
                "  3. " + run + " provision --dry-run    then without --dry-run",
                "  4. " + run + " doctor                 (all ok but the webhook)",
                "  5. " + run + " --register-webhook",
                "  6. " + run + "                        (runs; in another terminal:)",
                "     " + run + " --reconcile            (the waiting referrals become opportunities)",
                "Ctrl+C stops the emulators.");
    }

    @Override
    public void close() {
        sandbox.close();
    }
}
