package dev.cosell.connector;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import dev.cosell.connector.sandbox.SandboxDemo;
import org.junit.jupiter.api.Test;

/** The README's first command, in-process: the demo must finish with exit code 0. */
class SandboxDemoTest {

    @Test
    void demoRunsEndToEnd() throws Exception {
        Path dataDir = Files.createTempDirectory("cosell-demo");
        int code = SandboxDemo.run(Path.of("application.properties"), Map.of("store.data-dir", dataDir.toString(),
                "sandbox.connector-port", String.valueOf(ConnectorHarness.freePort())), false);
        assertEquals(0, code);
    }
}
