package dev.cosell.connector.store;

import javax.sql.DataSource;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import org.apache.camel.Service;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.output.MigrateResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The connector's state store: one JDBC database behind a HikariCP pool, its schema owned by Flyway
 * ({@code src/main/resources/db/migration}). Embedded H2 file database by default (in PostgreSQL
 * mode, so the same SQL runs on both); PostgreSQL when {@code store.url} points at one.
 */
public final class ConnectorStore implements Service {

    private static final Logger LOG = LoggerFactory.getLogger(ConnectorStore.class);

    /** The {@code store.*} properties. */
    public record Settings(String url, String user, String password, int poolSize) {
        @Override
        public String toString() {
            return "Settings[url=" + url + ", user=" + user + ", poolSize=" + poolSize + "]";
        }
    }

    private final HikariDataSource dataSource;
    private final MigrateResult migration;

    private ConnectorStore(HikariDataSource dataSource, MigrateResult migration) {
        this.dataSource = dataSource;
        this.migration = migration;
    }

    /** Opens the pool and brings the schema to the latest version. */
    public static ConnectorStore open(Settings s) {
        HikariConfig config = new HikariConfig();
        config.setPoolName("cosell-store");
        config.setJdbcUrl(s.url());
        config.setUsername(s.user());
        config.setPassword(s.password());
        config.setMaximumPoolSize(Math.max(2, s.poolSize()));
        config.setMinimumIdle(1);
        config.setConnectionTimeout(10_000);
        HikariDataSource ds = new HikariDataSource(config);
        try {
            MigrateResult result = Flyway.configure().dataSource(ds).locations("classpath:db/migration")
                    .load().migrate();
            LOG.info("State store {} at schema version {} ({} migrations applied now)", redact(s.url()),
                    result.targetSchemaVersion != null ? result.targetSchemaVersion : result.initialSchemaVersion,
                    result.migrationsExecuted);
            return new ConnectorStore(ds, result);
        } catch (RuntimeException e) {
            ds.close();
            throw e;
        }
    }

    public DataSource dataSource() {
        return dataSource;
    }

    public MigrateResult migration() {
        return migration;
    }

    /** The JDBC URL without credentials that may be embedded in it. */
    static String redact(String url) {
        return url == null ? null : url.replaceAll("(?i)(password|pwd)=[^;&]*", "$1=***");
    }

    @Override
    public void start() {
        // opened by open(); nothing more to start
    }

    @Override
    public void stop() {
        dataSource.close();
    }

    @Override
    public void close() {
        stop();
    }
}
