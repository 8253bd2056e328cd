package dev.cosell.connector;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.camel.CamelContext;
import org.apache.camel.ProducerTemplate;
import org.apache.camel.main.Main;

/**
 * One running connector: Camel Main with the routes from {@code routes/} (file system), the
 * properties from {@code application.properties} beside it, environment variables, and overrides
 * (command line, sandbox, tests) on top.
 */
public final class ConnectorRuntime implements AutoCloseable {

    private final Main main;
    private final ProducerTemplate template;

    private ConnectorRuntime(Main main) throws Exception {
        this.main = main;
        this.template = main.getCamelContext().createProducerTemplate();
    }

    /** Starts the connector and returns once every route is started. */
    public static ConnectorRuntime start(Path configFile, Map<String, String> overrides) throws Exception {
        Main main = new Main();
        if (!Files.isRegularFile(configFile)) {
            throw new IllegalArgumentException("Configuration file not found: " + configFile.toAbsolutePath());
        }
        // The top-level file first; Camel Main would otherwise read only the classpath.
        main.setPropertyPlaceholderLocations("file:" + configFile.toAbsolutePath());
        main.configure().addConfiguration(new ConnectorConfiguration());
        new LinkedHashMap<>(overrides).forEach(main::addOverrideProperty);
        // Before the servers start: a taken port stops the start, naming it (Vert.x would only log it).
        main.addMainListener(new org.apache.camel.main.MainListenerSupport() {
            // The whole configuration first: every problem listed at once, before any bean or route is made.
            @Override
            public void beforeConfigure(org.apache.camel.main.BaseMainSupport m) {
                var problems = ConfigCheck.of(m.getCamelContext());
                if (!problems.isEmpty()) {
                    throw new ConfigCheck.InvalidConfigurationException(problems);
                }
            }

            @Override
            public void afterConfigure(org.apache.camel.main.BaseMainSupport m) {
                ServerPorts.checkFree(m.getCamelContext());
            }
        });
        try {
            main.start();
        } catch (RuntimeException e) {
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof ServerPorts.PortInUseException inUse) {
                    main.stop();
                    throw inUse;
                }
                if (t instanceof ConfigCheck.InvalidConfigurationException invalid) {
                    main.stop();
                    throw invalid;
                }
            }
            throw e;
        }
        return new ConnectorRuntime(main);
    }

    public CamelContext context() {
        return main.getCamelContext();
    }

    public ProducerTemplate template() {
        return template;
    }

    /** Runs the Partner Center Webhook Registration flow; returns created, unchanged, overwritten or conflict. */
    public String registerWebhook() {
        return template.requestBody("direct:partner-center-webhook-registration", null, String.class);
    }

    /** Runs a backfill / reconciliation to the end (resuming a checkpoint); a dry run only plans. */
    public dev.cosell.connector.backfill.Reconciliation reconcile(boolean dryRun) {
        template.send("direct:reconcile", exchange -> {
            exchange.setProperty("dryRun", dryRun);
            exchange.setProperty("startedBy", "command line");
        });
        return main.getCamelContext().getRegistry().lookupByNameAndType("reconciliation",
                dev.cosell.connector.backfill.Reconciliation.class);
    }

    /** Replays one dead letter, or all open ones (id null); returns how many were re-sent. */
    public int replayDeadLetters(Long id) {
        return main.getCamelContext().getRegistry().lookupByNameAndType("deadLetters",
                dev.cosell.connector.ledger.DeadLetters.class).replay(id);
    }

    /** Waits until no exchange is in flight (or the timeout passes). */
    public void awaitIdle(java.time.Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        var context = main.getCamelContext();
        java.util.function.BooleanSupplier queued = () -> context.getEndpoints().stream()
                .anyMatch(e -> e instanceof org.apache.camel.component.seda.SedaEndpoint q && q.getCurrentQueueSize() > 0);
        while ((context.getInflightRepository().size() > 0 || queued.getAsBoolean()) && System.nanoTime() < deadline) {
            java.util.concurrent.locks.LockSupport.parkNanos(50_000_000L);
        }
    }

    /** Blocks until the JVM is asked to stop (SIGTERM, Ctrl+C), then stops the connector gracefully. */
    public void awaitShutdown() throws InterruptedException {
        java.util.concurrent.CountDownLatch stopped = new java.util.concurrent.CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            close();
            stopped.countDown();
        }, "cosell-connector-shutdown"));
        stopped.await();
    }

    @Override
    public void close() {
        try {
            template.close();
        } catch (Exception ignored) {
            // closing anyway
        }
        main.stop();
    }
}
