package dev.cosell.connector;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/** A connector whose webhook port is taken stops at once, exit code 4, naming the port and its property. */
class ServerPortsTest {

    @Test
    void aTakenWebhookPortStopsTheConnectorWithThePortNamed() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            int port = taken.getLocalPort();
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-cp", System.getProperty("java.class.path"), CosellConnector.class.getName()));
            for (String p : new String[] { RouteTests.STORE, RouteTests.SECRET_KEY, RouteTests.TENANT, RouteTests.CLIENT,
                    RouteTests.SECRET, RouteTests.REFRESH_TOKEN, RouteTests.DATAVERSE, RouteTests.CALLBACK, RouteTests.NO_REGISTRATION,
                    RouteTests.NO_MANAGEMENT,
                    RouteTests.NO_POLL, "camel.server.host=127.0.0.1", "camel.server.port=" + port }) {
                cmd.add("--set");
                cmd.add(p);
            }
            Process connector = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String output = new String(connector.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(connector.waitFor(60, TimeUnit.SECONDS), "it stopped");
            assertEquals(4, connector.exitValue(), output);
            assertTrue(output.contains("cannot listen on 127.0.0.1:" + port + " (camel.server.port)"), output);
            assertTrue(!output.contains("\tat "), "no stack trace: " + output);
        }
    }
}
