package dev.cosell.connector;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import dev.cosell.connector.cli.DoctorCommand;
import org.junit.jupiter.api.Test;

/**
 * The go-live checks: a broken configuration is listed whole (property and environment variable,
 * no stack trace) by the doctor and refused by the connector at start-up; against the sandbox the
 * doctor's checklist shows what works and says how to fix what does not.
 */
class DoctorTest {

    /** The shipped file with these mistakes on top (and its placeholders left in). */
    static final Map<String, String> BROKEN = Map.of("auth.client-id", "connector-app", "sync.concurrency", "four",
            "partnercenter.url", "http://partner.internal.test", "store.secret-key", "not-base64!",
            "sync.dataverse.batch-size", "1001", "sync.concurrency.partnercenter.max", "2",
            "sync.reconciliation.pages-in-flight", "0");

    @Test
    void aBrokenConfigurationIsListedWholeAndTheDoctorExitsWithItsCode() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int code = DoctorCommand.run(new CommandLine(Path.of("application.properties"), new LinkedHashMap<>(BROKEN), Map.of()),
                new PrintStream(out, true, StandardCharsets.UTF_8));
        String report = out.toString(StandardCharsets.UTF_8);
        assertEquals(CosellConnector.EXIT_CONFIGURATION, code, report);
        for (String expected : List.of("auth.client-id (AUTH_CLIENT_ID): 'connector-app' is not a GUID",
                "sync.concurrency (SYNC_CONCURRENCY): must be a whole number, not 'four'",
                "partnercenter.url (PARTNERCENTER_URL): must be https",
                "store.secret-key (STORE_SECRET_KEY): must be base64 of 32 random bytes",
                "auth.tenant-id (AUTH_TENANT_ID): is the placeholder 00000000-0000-0000-0000-000000000000",
                "dataverse.url (DATAVERSE_URL): is the placeholder contoso.crm.dynamics.com",
                "partnercenter.webhook.callback-url (PARTNERCENTER_WEBHOOK_CALLBACK_URL): is the placeholder connector.example.com",
                "auth.client-secret (AUTH_CLIENT_SECRET): set a client secret",
                "sync.dataverse.batch-size (SYNC_DATAVERSE_BATCH_SIZE): must be 1 to 1000 (Dataverse's most requests in a $batch), not 1001",
                "sync.concurrency.partnercenter.max (SYNC_CONCURRENCY_PARTNERCENTER_MAX): must be at least sync.concurrency.partnercenter.initial (4), not 2",
                "sync.reconciliation.pages-in-flight (SYNC_RECONCILIATION_PAGES_IN_FLIGHT): must be 1 or more, not 0")) {
            assertTrue(report.contains(expected), "missing '" + expected + "' in:\n" + report);
        }
        assertTrue(report.contains("configuration: 11 problems"), report);
    }

    @Test
    void theConnectorRefusesToStartOnTheSameProblemsWithoutAStackTrace() throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx128m",
                "-cp", System.getProperty("java.class.path"), CosellConnector.class.getName(), "--config", "application.properties"));
        BROKEN.forEach((k, v) -> {
            cmd.add("--set");
            cmd.add(k + "=" + v);
        });
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(CosellConnector.EXIT_CONFIGURATION, p.exitValue(), output);
        assertTrue(output.contains("cosell-connector: the configuration has 11 problems:"), output);
        assertTrue(output.contains("sync.concurrency (SYNC_CONCURRENCY): must be a whole number, not 'four'"), output);
        assertFalse(output.contains("\tat ") || output.contains("Exception"), "no stack trace:\n" + output);
    }

    @Test
    void againstTheSandboxTheChecklistSaysWhatWorksAndHowToFixTheRest() throws Exception {
        try (ConnectorHarness harness = new ConnectorHarness()) {
            Map<String, String> props = harness.properties();
            String first = doctor(props);
            for (String ok : List.of("  ok    configuration", "  ok    port " + harness.connectorPort, "  ok    store: schema version",
                    "  ok    token for Partner Center (referrals) (delegated", "  ok    token for Partner Center (webhooks)",
                    "  ok    token for Dataverse (application", "  ok    Partner Center referrals list for the signed-in user",
                    "  ok    Dataverse reachable as the application user: user ", "  ok    opportunity columns", "  ok    alternate key on the referral id (cosell_referralid): Active",
                    "  ok    change tracking on opportunity: on")) {
                assertTrue(first.contains(ok), "missing '" + ok + "' in:\n" + first);
            }
            // Nothing registered yet: a failure, with the command that fixes it.
            assertTrue(first.contains("  FAIL  webhook registration (" + harness.callbackUrl() + "): not registered\n"
                    + "        fix: cosell-connector --register-webhook"), first);

            harness.with("partnercenter.webhook.register-on-startup", "false").start();
            assertEquals("created", harness.runtime().registerWebhook());
            harness.stopConnector();
            assertTrue(doctor(props).contains("  ok    webhook registration (" + harness.callbackUrl() + "): ours"));

            // A wrong client secret: the token checks fail and say which setting to fix.
            // (a store of its own: the first one caches the tokens the right secret got)
            props.put("auth.client-secret", "wrong-secret");
            props.put("store.url", "jdbc:h2:mem:doctor-wrong-secret;DB_CLOSE_DELAY=-1;MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE");
            String wrong = doctor(props);
            assertTrue(wrong.contains("  FAIL  token for Dataverse"), wrong);
            assertTrue(wrong.contains("fix: auth.client-secret is wrong"), wrong);
        }
    }

    private static String doctor(Map<String, String> props) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        DoctorCommand.run(new CommandLine(Path.of("application.properties"), new LinkedHashMap<>(props), Map.of()),
                new PrintStream(out, true, StandardCharsets.UTF_8));
        return out.toString(StandardCharsets.UTF_8);
    }
}
