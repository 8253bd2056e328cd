package dev.cosell.connector.store;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.UUID;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * The databases tests run the store against. H2 always; PostgreSQL at {@code COSELL_TEST_PG_URL}
 * (default {@code jdbc:postgresql://127.0.0.1:5432/test}, user {@code COSELL_TEST_PG_USER} or
 * postgres). When {@code COSELL_REQUIRE_POSTGRES=true} (set by .ci/run) an unreachable PostgreSQL
 * fails the test; otherwise the test is skipped and says why.
 */
public final class StoreTarget {

    public static final String REQUIRE_ENV = "COSELL_REQUIRE_POSTGRES";

    private StoreTarget() {
    }

    public static ConnectorStore.Settings h2(java.nio.file.Path dir) {
        return new ConnectorStore.Settings("jdbc:h2:file:" + dir.toAbsolutePath().resolve("cosell")
                + ";MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH", "sa", "", 4);
    }

    /** A fresh schema on the test PostgreSQL server, or a skip/failure when it is unreachable. */
    public static ConnectorStore.Settings postgres() {
        String url = env("COSELL_TEST_PG_URL", "jdbc:postgresql://127.0.0.1:5432/test");
        String user = env("COSELL_TEST_PG_USER", "postgres");
        String password = env("COSELL_TEST_PG_PASSWORD", "");
        String schema = "cosell_test_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
        try (Connection c = DriverManager.getConnection(url, user, password); Statement s = c.createStatement()) {
            s.execute("create schema " + schema);
        } catch (Exception e) {
            String reason = "PostgreSQL not reachable at " + url + " as " + user + " (" + e.getMessage() + ")";
            if (Boolean.parseBoolean(System.getenv(REQUIRE_ENV))) {
                Assertions.fail(reason + " and " + REQUIRE_ENV + "=true");
            }
            System.out.println("SKIPPED: " + reason + "; set " + REQUIRE_ENV + "=true to make this a failure");
            Assumptions.abort(reason);
        }
        return new ConnectorStore.Settings(url + (url.contains("?") ? "&" : "?") + "currentSchema=" + schema, user,
                password, 4);
    }

    /** Drops a schema made by {@link #postgres()}. */
    public static void dropPostgres(ConnectorStore.Settings s) {
        String schema = s.url().substring(s.url().indexOf("currentSchema=") + "currentSchema=".length());
        try (Connection c = DriverManager.getConnection(s.url(), s.user(), s.password());
                Statement st = c.createStatement()) {
            st.execute("drop schema " + schema + " cascade");
        } catch (Exception e) {
            System.out.println("could not drop test schema " + schema + ": " + e.getMessage());
        }
    }

    private static String env(String name, String def) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? def : v;
    }
}
