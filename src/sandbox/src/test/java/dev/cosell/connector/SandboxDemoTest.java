package dev.cosell.connector;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import dev.cosell.connector.sandbox.SandboxDemo;
import org.junit.jupiter.api.Test;

/**
 * The README's first command as a user runs it (its own JVM, its main): it finishes with exit code 0,
 * the terminal gets the story in at most 60 lines and the log file's path, the log goes to that file;
 * with its webhook port taken it stops at once, exit code 4, naming the port.
 */
class SandboxDemoTest {

    record Run(int exit, List<String> lines) {
    }

    static Run demo(Path dataDir, String... sets) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), SandboxDemo.class.getName(), "--set",
                "store.data-dir=" + dataDir));
        for (String s : sets) {
            cmd.add("--set");
            cmd.add(s);
        }
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the demo ended");
        return new Run(p.exitValue(), out.lines().toList());
    }

    @Test
    void theDemoTellsItsStoryInAtMostSixtyLinesAndLogsToAFile() throws Exception {
        Path dataDir = Files.createTempDirectory("cosell-demo");
        Run run = demo(dataDir);
        assertEquals(0, run.exit(), String.join("\n", run.lines()));
        assertTrue(run.lines().size() <= 60, run.lines().size() + " lines:\n" + String.join("\n", run.lines()));
        Path log = dataDir.resolve("sandbox-demo.log").toAbsolutePath();
        assertTrue(run.lines().get(0).endsWith("log: " + log), run.lines().get(0));
        assertTrue(Files.readString(log).contains("Apache Camel 4.18.0 (cosell-connector) started"), "the log went to the file");
        assertTrue(run.lines().stream().noneMatch(l -> l.matches("^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} .*")), "no log line on the terminal");
    }

    @Test
    void aTakenPortStopsTheDemoNamingIt() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("0.0.0.0"))) {
            Run run = demo(Files.createTempDirectory("cosell-demo"), "sandbox.connector-port=" + taken.getLocalPort());
            assertEquals(4, run.exit(), String.join("\n", run.lines()));
            assertTrue(run.lines().stream().anyMatch(l -> l.contains(":" + taken.getLocalPort() + " (camel.server.port)")),
                    String.join("\n", run.lines()));
        }
    }
}
