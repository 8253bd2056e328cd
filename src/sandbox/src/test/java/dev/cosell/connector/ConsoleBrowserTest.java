package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.console.ConsolePassword;
import dev.cosell.connector.sandbox.partnercenter.SampleReferrals;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The operator console in a real browser: {@code src/sandbox/src/test/browser/console.test.mjs} (Playwright,
 * the npm package playwright-core) drives Debian's Chromium headless against the sandbox and the connector:
 * sign in (a wrong password refused), the overview, a synced record and "sync now", a dead letter made,
 * replayed and its opportunity in the Dataverse emulator, a mapping preview (with a mapping error first), a
 * dry-run backfill to 100 %. It takes a screenshot of each page (into {@code -Dcosell.console.screenshots},
 * default {@code src/sandbox/target/console-screenshots}).
 *
 * <p>Needs {@code /usr/bin/chromium} (or {@code COSELL_CHROMIUM}), {@code node} and {@code npm ci} in the
 * browser folder. Without them the test is skipped and says what is missing, unless
 * {@code COSELL_REQUIRE_BROWSER=true} (set by .ci/run, which installs them), which makes it fail instead.
 */
class ConsoleBrowserTest {

    static final String REQUIRE_ENV = "COSELL_REQUIRE_BROWSER";
    static final Path BROWSER_DIR = Path.of("src/sandbox/src/test/browser");
    static final String USER = "operator";
    static final String PASSWORD = "browser-test-password";
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void anOperatorWorksThroughEveryPageInChromium() throws Exception {
        String chromium = System.getenv().getOrDefault("COSELL_CHROMIUM", "/usr/bin/chromium");
        List<String> missing = new ArrayList<>();
        if (!Files.isExecutable(Path.of(chromium))) {
            missing.add(chromium + " (apt-get install chromium)");
        }
        if (!onPath("node")) {
            missing.add("node");
        }
        if (!Files.isDirectory(BROWSER_DIR.resolve("node_modules/playwright-core"))) {
            missing.add(BROWSER_DIR + "/node_modules (npm ci there)");
        }
        if (!missing.isEmpty()) {
            String why = "console browser test needs " + String.join(", ", missing);
            if (Boolean.parseBoolean(System.getenv(REQUIRE_ENV))) {
                throw new AssertionError(why + " (" + REQUIRE_ENV + "=true)");
            }
            System.out.println("SKIPPED: " + why);
            Assumptions.abort(why);
        }

        Path shots = Path.of(System.getProperty("cosell.console.screenshots", "src/sandbox/target/console-screenshots"))
                .toAbsolutePath();
        Files.createDirectories(shots);
        try (ConnectorHarness harness = new ConnectorHarness()) {
            harness.with("console.user", USER).with("console.password-hash", ConsolePassword.hash(PASSWORD))
                    .with("dataverse.currency-refresh-seconds", "0").with("sync.retry.initial-delay-ms", "50")
                    .with("sync.retry.max-redeliveries", "2");
            var pc = harness.sandbox.partnerCenter();
            var dv = harness.sandbox.dataverse().api();
            pc.webhooks().setFirstRetryDelayMs(50);
            seedDataverse(dv);
            harness.start();
            harness.awaitWebhookRegistration();
            // The demo's referrals, each one synced to an opportunity before the browser starts.
            for (JsonNode r : resource("sandbox/sample-referrals.json")) {
                String id = pc.createAsMicrosoft(harness.tenant(), (ObjectNode) r).path("id").asText();
                await().atMost(Duration.ofSeconds(20)).until(() -> dv.rows("opportunities").stream()
                        .anyMatch(o -> id.equals(o.path("cosell_referralid").asText())));
            }
            // What the browser test posts to make a dead letter: a referral in a currency Dataverse has no row for.
            ObjectNode francs = SampleReferrals.coSell("Franc Customer AG", "Franc Customer AG - Azure landing zone", "51to250employees");
            ((ObjectNode) francs.path("details")).put("currency", "CHF");
            Path work = harness.workDir;
            Files.writeString(work.resolve("chf-referral.json"), JSON.writeValueAsString(francs));
            Path ca = work.resolve("sandbox-ca.pem");
            Files.writeString(ca, "-----BEGIN CERTIFICATE-----\n"
                    + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
                            .encodeToString(harness.sandbox.pki().caCertificate().getEncoded())
                    + "\n-----END CERTIFICATE-----\n");

            Settings settings = new Settings(harness.runtime().context());
            ProcessBuilder node = new ProcessBuilder("node", "console.test.mjs").directory(BROWSER_DIR.toFile())
                    .redirectErrorStream(true);
            Map<String, String> env = node.environment();
            env.put("CONSOLE_URL", dev.cosell.connector.console.OperatorConsole.url(settings));
            env.put("CONSOLE_USER", USER);
            env.put("CONSOLE_PASSWORD", PASSWORD);
            env.put("CHROMIUM", chromium);
            env.put("SCREENSHOTS", shots.toString());
            env.put("PC_ADMIN", pc.baseUrl() + "/_admin/tenants/" + harness.tenant());
            env.put("DV_ADMIN", harness.sandbox.dataverse().baseUrl() + "/_admin");
            env.put("CHF_REFERRAL", work.resolve("chf-referral.json").toString());
            env.put("NODE_EXTRA_CA_CERTS", ca.toString());
            long t0 = System.nanoTime();
            Process p = node.start();
            StringBuilder out = new StringBuilder();
            Thread reader = new Thread(() -> {
                try (InputStream in = p.getInputStream()) {
                    var lines = new java.io.BufferedReader(new java.io.InputStreamReader(in, StandardCharsets.UTF_8));
                    for (String line; (line = lines.readLine()) != null;) {
                        System.out.println("[browser] " + line);
                        out.append(line).append('\n');
                    }
                } catch (java.io.IOException ignored) {
                    // process ended
                }
            });
            reader.start();
            boolean ended = p.waitFor(150, TimeUnit.SECONDS);
            if (!ended) {
                p.destroyForcibly();
            }
            reader.join(5000);
            System.out.printf("Console browser test: %d s%n", (System.nanoTime() - t0) / 1_000_000_000L);
            assertTrue(ended, "the browser test did not end within 150 s");
            assertEquals(0, p.exitValue(), "the browser test failed:\n" + out);
            // What the browser saw is what the emulator holds: the replayed referral's opportunity, in francs.
            String francsId = pc.referrals().all(harness.tenant()).stream()
                    .filter(r -> "Franc Customer AG".equals(r.path("customerProfile").path("name").asText()))
                    .findFirst().orElseThrow().path("id").asText();
            assertTrue(dv.rows("opportunities").stream().anyMatch(o -> francsId.equals(o.path("cosell_referralid").asText())));
        }
    }

    private static void seedDataverse(dev.cosell.connector.sandbox.dataverse.DataverseApi dv) throws Exception {
        JsonNode seed = resource("sandbox/sample-dataverse.json");
        for (String set : List.of("accounts", "opportunities")) {
            List<ObjectNode> rows = new ArrayList<>();
            seed.path(set).forEach(n -> rows.add((ObjectNode) n));
            dv.seed(set, rows);
        }
    }

    private static JsonNode resource(String name) throws Exception {
        try (InputStream in = ConsoleBrowserTest.class.getClassLoader().getResourceAsStream(name)) {
            return JSON.readTree(in);
        }
    }

    private static boolean onPath(String command) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, command))) {
                return true;
            }
        }
        return false;
    }
}
