package dev.cosell.connector;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringWriter;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.List;

import javax.management.MBeanServer;
import javax.management.ObjectName;
import javax.sql.DataSource;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.Appender;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.WriterAppender;
import org.apache.logging.log4j.core.config.Configuration;
import org.apache.logging.log4j.core.layout.PatternLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a file reader, a log reader or a load balancer sees: the default H2 file store holds no secret in
 * clear and only its user may read it; no configured secret appears in a log line; open dead letters do
 * not take the connector out of rotation.
 */
class SecretsAtRestTest {

    static final String WEBHOOK_KEY = "dataverse-push-key-d7f3a1";

    @Test
    void theH2StoreHoldsNoSecretInClearAndOnlyItsUserReadsItAndNoSecretIsLogged(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("data");
        String url = "jdbc:h2:file:" + data.resolve("cosell") + ";MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH";
        StringWriter log = new StringWriter();
        Appender capture = capture(log);
        try (ConnectorHarness harness = new ConnectorHarness().with("store.url", url).with("store.password", "")
                .with("dataverse.webhook.enabled", "true").with("dataverse.webhook.key", WEBHOOK_KEY)) {
            harness.start();
            // A Partner Center call: msal4j keeps the rotated refresh token in the store's token cache.
            harness.awaitWebhookRegistration();
            DataSource ds = harness.runtime().context().getRegistry().lookupByNameAndType("dataSource", DataSource.class);
            String cache;
            try (var c = ds.getConnection(); var st = c.createStatement();
                    var rs = st.executeQuery("select content from auth_token_cache")) {
                assertTrue(rs.next(), "a token cache is stored");
                cache = rs.getString(1);
            }
            String refreshToken = harness.properties().get("auth.partnercenter.refresh-token");
            assertTrue(cache.startsWith("v1:"), "sealed (AES-256-GCM), not msal4j's JSON");
            assertFalse(cache.contains("refresh_token") || cache.contains("secret") || cache.contains(refreshToken));

            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(data)));
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(data.resolve("cosell.mv.db"))));
            SQLException noPassword = assertThrows(SQLException.class, () -> DriverManager.getConnection(url, "sa", "").close());
            assertEquals("28000", noPassword.getSQLState(), "the H2 file has a password (derived from store.secret-key)");

            harness.stopConnector();
            release(capture);
            String logged = log.toString();
            assertTrue(logged.contains("State store"), "the capture saw the connector's log");
            // (the sandbox trust store's password is the word "sandbox", which every sandbox log line may say:
            // its property is checked as masked instead)
            for (String secret : List.of(harness.properties().get("auth.client-secret"), refreshToken,
                    harness.properties().get("store.secret-key"), WEBHOOK_KEY)) {
                assertFalse(logged.contains(secret), "a secret in the log: " + secret.substring(0, 4) + "…");
            }
            assertFalse(logged.contains("tls.truststore-password = sandbox"), "masked in the property summary");
        } finally {
            release(capture);
        }
    }

    @Test
    void openDeadLettersAreAnAlertNotAReasonToLeaveTheRotation() throws Exception {
        try (ConnectorHarness harness = new ConnectorHarness().with("sync.health.dead-letter-threshold", "3")) {
            ConnectorRuntime runtime = harness.start();
            DataSource ds = runtime.context().getRegistry().lookupByNameAndType("dataSource", DataSource.class);
            try (var c = ds.getConnection(); var st = c.createStatement()) {
                for (int i = 0; i < 5; i++) {
                    st.executeUpdate("insert into dead_letter (at, flow, message_key, endpoint, body, error, attempts, state)"
                            + " values (CURRENT_TIMESTAMP, 'test', 'k" + i + "', 'seda:x', '{}', 'boom', 1, 'open')");
                }
            }
            var registry = org.apache.camel.health.HealthCheckHelper.getHealthCheckRegistry(runtime.context());
            var result = registry.getCheck("store").orElseThrow().call();
            assertEquals(org.apache.camel.health.HealthCheck.State.UP, result.getState(), result.getMessage().orElse(""));
            assertEquals(5, result.getDetails().get("openDeadLetters"));
            assertEquals(true, result.getDetails().get("deadLettersAlert"));
            MBeanServer jmx = ManagementFactory.getPlatformMBeanServer();
            ObjectName health = new ObjectName("org.apache.camel:context=" + runtime.context().getManagementName()
                    + ",type=health,name=DefaultHealthCheck");
            assertTrue(jmx.invoke(health, "invoke", new Object[] { "store" }, new String[] { String.class.getName() })
                    .toString().contains("UP"));
        }
    }

    static Appender capture(StringWriter out) {
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        Configuration config = ctx.getConfiguration();
        Appender appender = WriterAppender.newBuilder().setName("secrets-capture").setTarget(out)
                .setLayout(PatternLayout.newBuilder().withPattern("%m%n").build()).build();
        appender.start();
        config.getRootLogger().addAppender(appender, null, null);
        ctx.updateLoggers();
        return appender;
    }

    static void release(Appender appender) {
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        ctx.getConfiguration().getRootLogger().removeAppender(appender.getName());
        ctx.updateLoggers();
    }
}
