package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import dev.cosell.connector.cli.DoctorCommand;
import dev.cosell.connector.cli.ProvisionCommand;
import dev.cosell.connector.cli.SignInCommand;
import dev.cosell.connector.sandbox.Rehearsal;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's real-tenant quick start, followed step by step against the rehearsal sandbox (a new
 * tenant: no columns, nobody signed in, no webhook, referrals waiting) with the product's own commands:
 * doctor → sign-in (the code entered on the emulator's sign-in page) → provision → doctor → register →
 * run → reconcile, until the waiting referrals are opportunities. Prints how long it took.
 */
class RehearsalTest {

    @TempDir
    Path data;

    @Test
    void theQuickStartTakesANewTenantFromNothingToSyncedReferrals() throws Exception {
        long t0 = System.nanoTime();
        try (Rehearsal r = Rehearsal.start(Path.of("application.properties"), Map.of("store.data-dir", data.toString()))) {
            r.sandbox().entra().setDeviceCodeTiming(60, 1);
            CommandLine cli = new CommandLine(r.config(), Map.of(), Map.of());

            // 1. doctor: the configuration is fine; what a new tenant lacks fails, each with its fix.
            String first = capture(out -> DoctorCommand.run(cli, out));
            assertTrue(first.contains("  ok    configuration"), first);
            assertTrue(first.contains("  FAIL  token for Partner Center (referrals)"), first);
            assertTrue(first.contains("fix: sign the Partner Center user in again: cosell-connector sign-in"), first);
            assertTrue(first.contains("  FAIL  opportunity columns"), first);
            assertTrue(first.contains("fix: create the missing columns: cosell-connector provision"), first);

            // 2. sign-in: the code is entered on the emulator's sign-in page, as a user would.
            ByteArrayOutputStream signInOut = new ByteArrayOutputStream();
            CompletableFuture<Integer> signIn = CompletableFuture.supplyAsync(() -> {
                try {
                    return SignInCommand.run(cli, new PrintStream(signInOut, true, StandardCharsets.UTF_8));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            Matcher code = Pattern.compile("^ +enter +(\\S+)$", Pattern.MULTILINE).matcher("");
            await().atMost(Duration.ofSeconds(30)).until(() -> code.reset(signInOut.toString(StandardCharsets.UTF_8)).find());
            HttpClient http = HttpClient.newBuilder().sslContext(r.sandbox().pki().clientSslContext()).build();
            HttpResponse<String> page = http.send(HttpRequest.newBuilder(URI.create(r.sandbox().entra().baseUrl() + "/devicelogin"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .POST(HttpRequest.BodyPublishers.ofString("user_code=" + URLEncoder.encode(code.group(1), StandardCharsets.UTF_8)
                            + "&upn=referrals.admin%40contoso-sandbox.example")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, page.statusCode(), page.body());
            assertEquals(SignInCommand.SIGNED_IN, signIn.get(), signInOut.toString(StandardCharsets.UTF_8));

            // 3. provision: the dry run writes nothing, the run creates what is missing.
            java.util.function.LongSupplier dataverseWrites = () -> r.sandbox().dataverse().calls().entries().stream()
                    .filter(e -> !e.method().equals("GET")).count();
            long writesBefore = dataverseWrites.getAsLong();
            String plan = capture(out -> ProvisionCommand.run(r.config(), Map.of(), true, false, out));
            assertEquals(writesBefore, dataverseWrites.getAsLong(), "the dry run sends no write (no column made):\n" + plan);
            assertTrue(plan.contains("cosell_referralid"), "the plan names the missing columns:\n" + plan);
            assertTrue(r.sandbox().dataverse().api().rows("opportunities").isEmpty());
            assertEquals(0, ProvisionCommand.run(r.config(), Map.of(), false, false, new PrintStream(new ByteArrayOutputStream())),
                    plan);

            // 4. doctor again: only the webhook registration is left.
            String second = capture(out -> DoctorCommand.run(cli, out));
            assertEquals(1, second.lines().filter(l -> l.startsWith("  FAIL")).count(), second);
            assertTrue(second.contains("  FAIL  webhook registration"), second);

            // 5. register; 6. run; 7. reconcile: the referrals that waited become opportunities.
            try (ConnectorRuntime once = ConnectorRuntime.start(r.config(), Map.of("partnercenter.webhook.register-on-startup", "false",
                    "camel.server.enabled", "false", "camel.management.enabled", "false"))) {
                assertEquals("created", once.registerWebhook());
            }
            try (ConnectorRuntime running = ConnectorRuntime.start(r.config(), Map.of())) {
                running.reconcile(false);
                await().atMost(Duration.ofSeconds(60)).until(() -> r.referrals().stream().allMatch(id -> r.sandbox().dataverse()
                        .api().rows("opportunities").stream().anyMatch(o -> id.equals(o.path("cosell_referralid").asText()))));
            }
            System.out.printf("Rehearsal: the quick start from a new tenant to %d synced referrals took %d ms%n",
                    r.referrals().size(), (System.nanoTime() - t0) / 1_000_000);
        }
    }

    interface Command {
        int run(PrintStream out) throws Exception;
    }

    private static String capture(Command command) throws Exception {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        command.run(new PrintStream(buffer, true, StandardCharsets.UTF_8));
        return buffer.toString(StandardCharsets.UTF_8);
    }
}
