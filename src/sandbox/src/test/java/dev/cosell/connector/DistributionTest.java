package dev.cosell.connector;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The distribution as a partner installs it: unpacked anywhere, bin/cosell-connector runs from any
 * folder with the configuration and routes it carries; operator commands given while it runs are
 * sent to the running connector instead of starting a second one, and run alone once it stopped.
 */
class DistributionTest {

    static final Path ARCHIVE = Path.of("src/connector/target/cosell-connector-dist.tar.gz");

    @TempDir
    Path dir;

    @Test
    void theUnpackedDistributionRunsAndOperatorCommandsReachTheRunningConnector() throws Exception {
        assertTrue(Files.isRegularFile(ARCHIVE), "built by the connector module's package phase: " + ARCHIVE.toAbsolutePath());
        run(dir, List.of("tar", "xzf", ARCHIVE.toAbsolutePath().toString(), "-C", dir.toString()));
        Path home = Files.list(dir).filter(p -> p.getFileName().toString().startsWith("cosell-connector-")).findFirst().orElseThrow();
        Path bin = home.resolve("bin/cosell-connector");
        for (String part : List.of("config/application.properties", "routes/beans.camel.yaml", "routes/mappings/enums.json",
                "cosell-connector.jar", "systemd/cosell-connector.service", "README.md")) {
            assertTrue(Files.exists(home.resolve(part)), part);
        }
        Path elsewhere = Files.createDirectories(dir.resolve("somewhere-else"));
        Result version = run(elsewhere, List.of(bin.toString(), "--version"));
        assertEquals(0, version.code());
        assertTrue(version.output().startsWith("cosell-connector 0."), version.output());

        try (ConnectorHarness harness = new ConnectorHarness()) {
            Map<String, String> props = harness.properties();
            // An embedded store file, as a real installation has (the harness's in-memory one is per process).
            props.put("store.url", "jdbc:h2:file:" + dir.resolve("data/cosell")
                    + ";MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH");
            Process connector = start(elsewhere, bin, props, List.of());
            try {
                HttpClient http = HttpClient.newHttpClient();
                Awaitility.await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(500)).until(() -> {
                    assertTrue(connector.isAlive(), "the connector stopped: " + tail(dir.resolve("connector.log")));
                    try {
                        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + harness.managementPort
                                + "/observe/health")).build(), HttpResponse.BodyHandlers.discarding()).statusCode() > 0;
                    } catch (java.io.IOException e) {
                        return false;
                    }
                });
                // Its start-up registration is done (the command below must find it, not race it).
                harness.awaitWebhookRegistration();
                String pid = "pid " + connector.pid() + ")";
                Result register = command(elsewhere, bin, props, "--register-webhook");
                assertEquals(0, register.code(), register.output());
                assertTrue(register.output().contains("Sent to the running connector (" + pid), register.output());
                assertTrue(register.output().contains("Webhook registration: unchanged"), register.output());
                assertFalse(register.output().contains("Apache Camel"), "no second connector started:\n" + register.output());

                Result plan = command(elsewhere, bin, props, "--reconcile", "--dry-run");
                assertTrue(plan.output().contains("Sent to the running connector (" + pid), plan.output());
                assertTrue(plan.output().contains("Dry run: nothing was written."), plan.output());

                Result replay = command(elsewhere, bin, props, "--replay-dead-letter", "all");
                assertTrue(replay.output().contains("Sent to the running connector (" + pid), replay.output());
                assertTrue(replay.output().contains("Dead letters replayed: 0"), replay.output());
            } finally {
                connector.destroy();
                assertTrue(connector.waitFor(60, TimeUnit.SECONDS));
            }
            // None runs now: the command runs in a connector of its own, on the same store.
            Result alone = command(elsewhere, bin, props, "--replay-dead-letter", "all");
            assertEquals(0, alone.code(), alone.output());
            assertTrue(alone.output().contains("No connector runs on this store"), alone.output());
            assertTrue(alone.output().contains("Dead letters replayed: 0"), alone.output());
        }
    }

    record Result(int code, String output) {
    }

    private Result command(Path cwd, Path bin, Map<String, String> props, String... args) throws Exception {
        Process p = start(cwd, bin, props, List.of(args));
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the command ended");
        return new Result(p.exitValue(), Files.readString(dir.resolve("command.log")));
    }

    private Process start(Path cwd, Path bin, Map<String, String> props, List<String> args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(bin.toString()));
        cmd.addAll(args);
        props.forEach((k, v) -> {
            cmd.add("--set");
            cmd.add(k + "=" + v);
        });
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile()).redirectErrorStream(true)
                .redirectOutput(dir.resolve(args.isEmpty() ? "connector.log" : "command.log").toFile());
        pb.environment().put("JAVA", Path.of(System.getProperty("java.home"), "bin", "java").toString());
        pb.environment().put("JAVA_OPTS", "-Xmx256m");
        return pb.start();
    }

    private static Result run(Path cwd, List<String> cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).directory(cwd.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return new Result(p.exitValue(), out);
    }

    private static String tail(Path log) throws java.io.IOException {
        List<String> lines = Files.exists(log) ? Files.readAllLines(log) : List.of();
        return String.join(File.separator.equals("/") ? "\n" : "\r\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    }
}
