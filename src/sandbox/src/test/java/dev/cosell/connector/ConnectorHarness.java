package dev.cosell.connector;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import dev.cosell.connector.sandbox.Sandbox;

/**
 * Test helper: the sandbox plus a connector started from the real {@code application.properties} and
 * {@code routes/}, pointed at the sandbox by properties only, with a private in-memory H2 store
 * (or the store a test asks for).
 */
public final class ConnectorHarness implements AutoCloseable {

    public final Sandbox sandbox;
    public final int connectorPort;
    public final Path workDir;
    public final int managementPort;
    private final Map<String, String> properties;
    private ConnectorRuntime runtime;

    public ConnectorHarness() {
        this("provisioned");
    }

    /** With the Dataverse emulator's tables starting {@code provisioned} or {@code empty}. */
    public ConnectorHarness(String dataverseSchema) {
        // Entra ID's own shapes: a tenant and an application (client) id are GUIDs.
        this.sandbox = Sandbox.start(new Sandbox.Options(0, 0, 0, UUID.randomUUID().toString(),
                "5a1c0b7e-0000-4000-8000-00000000c0a1", "connector-secret", "referrals.admin@contoso.example", 3599,
                dataverseSchema));
        this.connectorPort = freePort();
        try {
            this.workDir = Files.createTempDirectory("cosell-test");
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        this.properties = new LinkedHashMap<>(sandbox.connectorProperties(workDir, connectorPort));
        properties.put("store.url", "jdbc:h2:mem:" + UUID.randomUUID()
                + ";DB_CLOSE_DELAY=-1;MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH");
        properties.put("camel.main.jmx-enabled", "true");
        this.managementPort = freePort();
        properties.put("camel.management.port", String.valueOf(managementPort));
    }

    /** Sets a property for the next {@link #start()}. */
    public ConnectorHarness with(String key, String value) {
        properties.put(key, value);
        return this;
    }

    public ConnectorRuntime start() throws Exception {
        return start(Path.of("application.properties"));
    }

    /** Starts the connector with another configuration file (the harness's properties still override it). */
    public ConnectorRuntime start(Path config) throws Exception {
        runtime = ConnectorRuntime.start(config, properties);
        return runtime;
    }

    public ConnectorRuntime runtime() {
        return runtime;
    }

    /** The first column of the first row of a query on the running connector's store, as a number. */
    public long count(String sql) throws java.sql.SQLException {
        String v = text(sql);
        return v == null ? 0 : Long.parseLong(v);
    }

    /** The first column of the first row of a query on the running connector's store (null without a row). */
    public String text(String sql) throws java.sql.SQLException {
        javax.sql.DataSource ds = runtime.context().getRegistry().lookupByNameAndType("dataSource", javax.sql.DataSource.class);
        try (var c = ds.getConnection(); var st = c.createStatement(); var rs = st.executeQuery(sql)) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    public void stopConnector() {
        if (runtime != null) {
            runtime.close();
            runtime = null;
        }
    }

    /** The connector properties this harness would start with (for child JVMs). */
    public Map<String, String> properties() {
        return new LinkedHashMap<>(properties);
    }

    public String tenant() {
        return sandbox.tenant();
    }

    public String callbackUrl() {
        return properties.get("partnercenter.webhook.callback-url");
    }

    /** Waits until the connector's start-up registration reached the Partner Center emulator. */
    public void awaitWebhookRegistration() {
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(60))
                .until(() -> sandbox.partnerCenter().webhooks().registration(tenant()) != null);
    }

    /** Microsoft creates n co-sell referrals ("prefix i", a documented customer size); their ids. */
    public List<String> microsoftCreates(int n, String prefix) {
        List<String> ids = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            ids.add(sandbox.partnerCenter().createAsMicrosoft(tenant(),
                    PartnerCenterToDynamicsTest.referral(prefix + " " + i, "10to50employees")).path("id").asText());
        }
        return ids;
    }

    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Stops everything, then holds both sides to the published contract: every request the connector
     * sent to the Partner Center emulator fitted it (no body refused for the contract, a UUID
     * MS-CorrelationId on each), and so did every body the emulator served.
     */
    @Override
    public void close() {
        stopConnector();
        List<String> violations = sandbox.partnerCenter().contractViolations();
        sandbox.close();
        if (!violations.isEmpty()) {
            throw new AssertionError("Partner Center contract broken " + violations.size() + " times, first: "
                    + violations.subList(0, Math.min(5, violations.size())));
        }
    }
}
