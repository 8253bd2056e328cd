package dev.cosell.connector.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Set;
import java.util.TreeSet;

import org.apache.camel.processor.idempotent.jdbc.JdbcMessageIdRepository;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The same Flyway migrations on H2 (default store) and PostgreSQL (production store). */
class ConnectorStoreTest {

    static final SecretBox BOX = new SecretBox(SecretBox.newKey());

    @Test
    void migratesH2AndKeepsStateAcrossReopen(@TempDir Path dir) throws Exception {
        ConnectorStore.Settings settings = StoreTarget.h2(dir);
        try (ConnectorStore store = ConnectorStore.open(settings)) {
            assertSchema(store);
            exercise(store);
        }
        try (ConnectorStore reopened = ConnectorStore.open(settings)) {
            assertEquals(0, reopened.migration().migrationsExecuted, "already at the latest version");
            assertFalse(idempotentRepository(reopened).add("event-1"), "the key survived the restart");
            assertEquals("cache-v2", new JdbcTokenCacheStore(reopened.dataSource(), BOX).load("app"));
        }
    }

    /**
     * The inbox promise on the embedded store: a commit written through is in the file when a process
     * dies without closing it (Runtime.halt, as kill -9); H2 writes other commits only later.
     */
    @Test
    void anInboxRowWrittenThroughSurvivesAKilledProcess(@TempDir Path dir) throws Exception {
        ConnectorStore.Settings settings = StoreTarget.h2(dir);
        ConnectorStore.open(settings).close(); // migrated
        String javaCommand = ProcessHandle.current().info().command().orElse("java");
        Process writer = new ProcessBuilder(javaCommand, "-cp", System.getProperty("java.class.path"),
                KilledWriter.class.getName(), settings.url(), settings.user(),
                settings.password() == null ? "" : settings.password())
                .redirectErrorStream(true).start();
        String output = new String(writer.getInputStream().readAllBytes());
        assertTrue(writer.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "the writer ended");
        assertEquals(KilledWriter.HALTED, writer.exitValue(), output);
        assertTrue(output.contains("written through"), output);
        try (ConnectorStore reopened = ConnectorStore.open(settings); Connection c = reopened.dataSource().getConnection();
                ResultSet rs = c.createStatement().executeQuery("select state from webhook_inbox where id = 'accepted-1'")) {
            assertTrue(rs.next(), "the event answered 200 is in the inbox after the kill");
            assertEquals("received", rs.getString(1));
        }
    }

    /** A user that could not write the store through is refused at start-up, not 503 at every webhook. */
    @Test
    void anEmbeddedStoreUserThatCannotWriteThroughIsRefusedAtStartUp(@TempDir Path dir) throws Exception {
        ConnectorStore.Settings admin = StoreTarget.h2(dir);
        try (ConnectorStore store = ConnectorStore.open(admin); Connection c = store.dataSource().getConnection()) {
            c.createStatement().execute("create user clerk password 'clerk-pw'");
            c.createStatement().execute("grant select, insert, update, delete on schema public to clerk");
        }
        var clerk = new ConnectorStore.Settings(admin.url(), "clerk", "clerk-pw", 2);
        var refused = assertThrows(IllegalStateException.class, () -> ConnectorStore.open(clerk));
        assertTrue(refused.getMessage().contains("CHECKPOINT needs the H2 database's admin"), refused.getMessage());
    }

    /** Commits one inbox row, writes it through, then dies at once: no close, no shutdown hook. */
    public static final class KilledWriter {
        static final int HALTED = 137;

        public static void main(String[] args) throws Exception {
            ConnectorStore store = ConnectorStore.open(new ConnectorStore.Settings(args[0], args[1], args[2], 2));
            try (Connection c = store.dataSource().getConnection()) {
                c.createStatement().executeUpdate("insert into webhook_inbox (id, event_key, event_name, resource_id, body, state,"
                        + " received_at) values ('accepted-1', 'k', 'referral-created', 'r-1', '{}', 'received', CURRENT_TIMESTAMP)");
            }
            store.writeThrough();
            System.out.println("written through");
            System.out.flush();
            Runtime.getRuntime().halt(HALTED);
        }
    }

    @Test
    void migratesPostgres() throws Exception {
        ConnectorStore.Settings settings = StoreTarget.postgres();
        try (ConnectorStore store = ConnectorStore.open(settings)) {
            assertSchema(store);
            exercise(store);
        } finally {
            StoreTarget.dropPostgres(settings);
        }
    }

    private static void assertSchema(ConnectorStore store) throws SQLException {
        Set<String> tables = new TreeSet<>();
        try (Connection c = store.dataSource().getConnection();
                ResultSet rs = c.getMetaData().getTables(null, null, "%", new String[] { "TABLE" })) {
            while (rs.next()) {
                tables.add(rs.getString("TABLE_NAME").toLowerCase());
            }
        }
        assertTrue(tables.containsAll(Set.of("sync_link", "sync_audit", "camel_messageprocessed", "auth_token_cache")),
                tables.toString());
    }

    private static void exercise(ConnectorStore store) throws Exception {
        JdbcMessageIdRepository repo = idempotentRepository(store);
        assertTrue(repo.add("event-1"));
        assertFalse(repo.add("event-1"), "a key is accepted once");
        assertTrue(repo.contains("event-1"));

        JdbcTokenCacheStore cache = new JdbcTokenCacheStore(store.dataSource(), BOX);
        assertNull(cache.load("app"));
        cache.save("app", "cache-v1");
        cache.save("app", "cache-v2");
        assertEquals("cache-v2", cache.load("app"));

        try (Connection c = store.dataSource().getConnection()) {
            c.createStatement().execute("insert into sync_link (referral_id, opportunity_id, origin, state, created_at,"
                    + " updated_at) values ('r1', 'o1', 'partnercenter', 'linked', current_timestamp, current_timestamp)");
            SQLException dup = assertThrows(SQLException.class, () -> c.createStatement().execute(
                    "insert into sync_link (referral_id, opportunity_id, origin, state, created_at, updated_at)"
                            + " values ('r2', 'o1', 'dynamics', 'linked', current_timestamp, current_timestamp)"));
            assertTrue(dup.getMessage().toLowerCase().contains("sync_link_opportunity_unique")
                    || dup.getSQLState().startsWith("23"), "one opportunity links to one referral: " + dup.getMessage());
        }
    }

    private static JdbcMessageIdRepository idempotentRepository(ConnectorStore store) throws Exception {
        JdbcMessageIdRepository repo = new JdbcMessageIdRepository(store.dataSource(), "store-test");
        repo.setCreateTableIfNotExists(false);
        repo.start();
        return repo;
    }
}
