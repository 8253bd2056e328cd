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

    @Test
    void anEmbeddedStoreWritesEachCommitAtOnceWhateverItsUrlSays(@TempDir Path dir) throws Exception {
        ConnectorStore.Settings settings = StoreTarget.h2(dir); // no WRITE_DELAY in the URL: H2 would wait 500 ms
        try (ConnectorStore store = ConnectorStore.open(settings); var c = store.dataSource().getConnection();
                var rs = c.createStatement().executeQuery(
                        "select setting_value from information_schema.settings where setting_name = 'WRITE_DELAY'")) {
            org.junit.jupiter.api.Assertions.assertTrue(rs.next());
            assertEquals("0", rs.getString(1));
        }
        var delayed = new ConnectorStore.Settings(settings.url() + ";WRITE_DELAY=500", "sa", "", 2);
        var refused = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> ConnectorStore.open(delayed));
        org.junit.jupiter.api.Assertions.assertTrue(refused.getMessage().contains("WRITE_DELAY=0"), refused.getMessage());
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
