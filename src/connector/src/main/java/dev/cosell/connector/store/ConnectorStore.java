package dev.cosell.connector.store;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.Set;

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
public final class ConnectorStore implements Service, DataSource {

    private static final Logger LOG = LoggerFactory.getLogger(ConnectorStore.class);

    /** The {@code store.*} properties. */
    public record Settings(String url, String user, String password, int poolSize) {
        @Override
        public String toString() {
            return "Settings[url=" + url + ", user=" + user + ", poolSize=" + poolSize + "]";
        }
    }

    private final Settings settings;
    /** An embedded H2 file (its commits reach the file in the background unless written through). */
    private final boolean embedded;
    private HikariDataSource dataSource;
    private MigrateResult migration;

    private ConnectorStore(Settings settings) {
        this.settings = settings;
        this.embedded = h2File(settings.url()) != null;
    }

    /**
     * The store as routes/beans.camel.yaml declares it: its pool opens (and the schema migrates) when the
     * connector starts it or first asks for a connection. Camel reads the beans of the route files twice
     * at start-up (a pre-parse, then the load): both readings get the same store, so there is one pool
     * per database in a JVM, closed once with the connector.
     */
    public static ConnectorStore configured(String url, String user, String password, String secretKey, int poolSize) {
        return IN_USE.computeIfAbsent(settingsOf(url, user, password, secretKey, poolSize), ConnectorStore::new);
    }

    private static final java.util.Map<Settings, ConnectorStore> IN_USE = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * The store as configured (store.*, routes/beans.camel.yaml): blank values count as unset, and an
     * embedded H2 file without a configured password gets one derived from store.secret-key (none is
     * stored).
     */
    public static ConnectorStore open(String url, String user, String password, String secretKey, int poolSize) {
        return open(settingsOf(url, user, password, secretKey, poolSize));
    }

    private static Settings settingsOf(String url, String user, String password, String secretKey, int poolSize) {
        if (secretKey == null || secretKey.isBlank()) {
            throw new IllegalArgumentException("Property store.secret-key must be set (application.properties or "
                    + dev.cosell.connector.Settings.envName("store.secret-key") + ")");
        }
        user = blankToNull(user);
        password = blankToNull(password);
        if (password == null && h2File(url) != null) {
            password = new SecretBox(secretKey).derivePassword("cosell-h2-store");
        }
        return new Settings(url, user, password, poolSize);
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s.trim();
    }

    /**
     * Opens the pool and brings the schema to the latest version. An embedded H2 file database lives in
     * a directory only this user may read (0700, its files 0600) and has a password; one created before
     * it had one gets it now.
     */
    public static ConnectorStore open(Settings configured) {
        ConnectorStore store = new ConnectorStore(configured);
        store.pool();
        return store;
    }

    /** The pool, opened (with the schema migrated) the first time it is needed. */
    private synchronized HikariDataSource pool() {
        if (dataSource == null) {
            Object[] opened = openPool(settings);
            dataSource = (HikariDataSource) opened[0];
            migration = (MigrateResult) opened[1];
        }
        return dataSource;
    }

    /** The embedded H2 database file a URL names, or null when it names another database. */
    static Path h2File(String url) {
        String prefix = "jdbc:h2:file:";
        return url.startsWith(prefix) ? Path.of(url.substring(prefix.length()).split(";")[0]) : null;
    }

    private static Object[] openPool(Settings s) {
        Path file = h2File(s.url());
        if (file != null) {
            privateDirectory(file.toAbsolutePath().getParent());
            if (s.password() != null && !s.password().isEmpty()) {
                setPasswordOfOldDatabase(s);
            }
        }
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
            if (file != null) {
                privateFiles(file.toAbsolutePath().getParent());
                checkWriteThrough(ds, s.user());
            }
            return new Object[] { ds, result };
        } catch (RuntimeException e) {
            ds.close();
            throw e;
        }
    }

    /**
     * After a commit whose loss in a crash would lose or duplicate a record (an event answered 200, a
     * referral about to be created in Partner Center, the token cache): on the embedded H2 file, the
     * commit is written to the file now ({@code CHECKPOINT}), so it survives a crash of the process;
     * H2 writes every other commit within its write delay ({@code WRITE_DELAY}, 500 ms by default),
     * in commit order, so a crash loses at most the last half second of those — each of which the
     * connector repeats idempotently (the inbox event is processed again). A no-op on PostgreSQL, where
     * every commit is durable when it returns.
     */
    public void writeThrough() {
        if (!embedded) {
            return;
        }
        try (Connection c = pool().getConnection(); java.sql.Statement st = c.createStatement()) {
            st.execute("CHECKPOINT");
        } catch (SQLException e) {
            throw new IllegalStateException("cannot write the store's last commit to its file", e);
        }
    }

    /** At start-up, not at the first webhook: CHECKPOINT needs the H2 database's admin (its creator, sa). */
    private static void checkWriteThrough(DataSource ds, String user) {
        try (Connection c = ds.getConnection(); java.sql.Statement st = c.createStatement()) {
            st.execute("CHECKPOINT");
        } catch (SQLException e) {
            throw new IllegalStateException("store.user " + user + " cannot write the embedded store through to its file"
                    + " (CHECKPOINT needs the H2 database's admin, the user that created it): " + e.getMessage(), e);
        }
    }

    /** {@link #writeThrough()} when the DataSource is the connector's store (a plain one in tests: nothing). */
    public static void writeThroughOf(DataSource dataSource) {
        if (dataSource instanceof ConnectorStore store) {
            store.writeThrough();
        }
    }

    public DataSource dataSource() {
        return pool();
    }

    // The store is the connector's DataSource (bean "dataSource"): the migrated pool.
    @Override
    public java.sql.Connection getConnection() throws java.sql.SQLException {
        return pool().getConnection();
    }

    @Override
    public java.sql.Connection getConnection(String username, String password) throws java.sql.SQLException {
        return pool().getConnection(username, password);
    }

    @Override
    public java.io.PrintWriter getLogWriter() throws java.sql.SQLException {
        return pool().getLogWriter();
    }

    @Override
    public void setLogWriter(java.io.PrintWriter out) throws java.sql.SQLException {
        pool().setLogWriter(out);
    }

    @Override
    public void setLoginTimeout(int seconds) throws java.sql.SQLException {
        pool().setLoginTimeout(seconds);
    }

    @Override
    public int getLoginTimeout() throws java.sql.SQLException {
        return pool().getLoginTimeout();
    }

    @Override
    public java.util.logging.Logger getParentLogger() throws java.sql.SQLFeatureNotSupportedException {
        return pool().getParentLogger();
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws java.sql.SQLException {
        return iface.isInstance(this) ? iface.cast(this) : pool().unwrap(iface);
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) throws java.sql.SQLException {
        return iface.isInstance(this) || pool().isWrapperFor(iface);
    }

    public MigrateResult migration() {
        pool();
        return migration;
    }

    private static final Set<PosixFilePermission> OWNER_DIR = PosixFilePermissions.fromString("rwx------");
    private static final Set<PosixFilePermission> OWNER_FILE = PosixFilePermissions.fromString("rw-------");

    /** Creates the data directory readable by this user only, or makes it so. */
    static void privateDirectory(Path dir) {
        try {
            Files.createDirectories(dir);
            if (Files.getFileStore(dir).supportsFileAttributeView("posix")) {
                Files.setPosixFilePermissions(dir, OWNER_DIR);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the store's directory " + dir, e);
        }
    }

    /** The database files readable and writable by this user only. */
    static void privateFiles(Path dir) {
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                if (Files.isRegularFile(f) && Files.getFileStore(f).supportsFileAttributeView("posix")) {
                    Files.setPosixFilePermissions(f, OWNER_FILE);
                }
            }
        } catch (IOException e) {
            LOG.warn("Cannot restrict the store's files in {}: {}", dir, e.getMessage());
        }
    }

    /** An H2 file created without a password (before the connector gave it one) gets the configured one. */
    private static void setPasswordOfOldDatabase(Settings s) {
        try (Connection c = DriverManager.getConnection(s.url(), s.user(), s.password())) {
            return; // the password works already (or the database is new and now has it)
        } catch (SQLException wrong) {
            if (!"28000".equals(wrong.getSQLState())) {
                return; // not a password problem: the pool reports it
            }
        }
        try (Connection c = DriverManager.getConnection(s.url(), s.user(), "");
                PreparedStatement ps = c.prepareStatement("alter user \"" + s.user().toUpperCase(java.util.Locale.ROOT)
                        + "\" set password ?")) {
            ps.setString(1, s.password());
            ps.executeUpdate();
            LOG.info("State store: the H2 database had no password; it has one now");
        } catch (SQLException e) {
            // neither password opens it: the pool says so
        }
    }

    /** The JDBC URL without credentials that may be embedded in it. */
    /**
     * Which store a JDBC URL names, the same in every process on this machine: an H2 file by its absolute
     * path, an in-memory H2 database never the same as another process's, a server database by its URL
     * without options. Tells an operator command which running connector is "this one".
     */
    public static String identity(String url) {
        String u = url.trim();
        if (h2File(u) != null) {
            return "h2:" + h2File(u).toAbsolutePath().normalize();
        }
        if (u.startsWith("jdbc:h2:mem:")) {
            return "h2-mem:" + u.substring("jdbc:h2:mem:".length()).split(";")[0] + "@" + ProcessHandle.current().pid();
        }
        return u.split("[;?]")[0];
    }

    static String redact(String url) {
        return url == null ? null : url.replaceAll("(?i)(password|pwd)=[^;&]*", "$1=***");
    }

    @Override
    public void start() {
        pool();
    }

    @Override
    public synchronized void stop() {
        IN_USE.remove(settings, this);
        if (dataSource != null) {
            dataSource.close();
            dataSource = null;
        }
    }

    @Override
    public void close() {
        stop();
    }
}
