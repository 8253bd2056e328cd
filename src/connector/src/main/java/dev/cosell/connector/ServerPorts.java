package dev.cosell.connector;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;

import org.apache.camel.CamelContext;
import org.apache.camel.spi.PropertiesComponent;

/**
 * Checks, before Camel starts its servers, that the webhook and management ports can be bound. Vert.x
 * only logs a failed bind and the connector would run on without them — registering a webhook it can
 * never receive. A port that is taken stops the start with its property named.
 */
public final class ServerPorts {

    /** A server port that cannot be bound. */
    public static final class PortInUseException extends IllegalStateException {
        PortInUseException(String message) {
            super(message);
        }
    }

    private ServerPorts() {
    }

    static void checkFree(CamelContext context) {
        PropertiesComponent p = context.getPropertiesComponent();
        check(p, "camel.server");
        check(p, "camel.management");
    }

    private static void check(PropertiesComponent p, String prefix) {
        if (!Boolean.parseBoolean(p.resolveProperty(prefix + ".enabled").orElse("false"))) {
            return;
        }
        int port = Integer.parseInt(p.resolveProperty(prefix + ".port").orElse("8080").trim());
        String host = p.resolveProperty(prefix + ".host").orElse("0.0.0.0").trim();
        if (port == 0) {
            return; // any free port
        }
        String why = whyNotFree(host, port);
        if (why != null) {
            throw new PortInUseException("cannot listen on " + host + ":" + port + " (" + prefix + ".port): " + why
                    + ". Stop what uses it, or set " + prefix + ".port (" + Settings.envName(prefix + ".port") + ")");
        }
    }

    /** Null when host:port can be bound now, else why not. */
    public static String whyNotFree(String host, int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName(host), port));
            return null;
        } catch (IOException e) {
            return e.getMessage();
        }
    }
}
