package dev.cosell.connector.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;

import javax.sql.DataSource;

import dev.cosell.connector.auth.TokenCacheStore;

/**
 * Keeps msal4j's serialized token cache in the state store (table {@code auth_token_cache}), encrypted
 * ({@link SecretBox}): the refresh token it holds is a credential. A cache the key cannot open (another
 * key) counts as empty: the connector signs in again from its configured refresh token.
 */
public final class JdbcTokenCacheStore implements TokenCacheStore {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(JdbcTokenCacheStore.class);

    private final DataSource dataSource;
    private final SecretBox box;

    public JdbcTokenCacheStore(DataSource dataSource, SecretBox box) {
        this.dataSource = dataSource;
        this.box = box;
    }

    @Override
    public String load(String key) {
        try (Connection c = dataSource.getConnection();
                PreparedStatement ps = c.prepareStatement("select content from auth_token_cache where cache_key = ?")) {
            ps.setString(1, key);
            try (ResultSet rs = ps.executeQuery()) {
                String stored = rs.next() ? rs.getString(1) : null;
                try {
                    return box.open(stored);
                } catch (IllegalStateException e) {
                    LOG.warn("The stored token cache cannot be opened with store.secret-key ({}): starting from the configured"
                            + " refresh token", e.getMessage());
                    return null;
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read the token cache from the store", e);
        }
    }

    /**
     * Update, else insert; when another thread or node inserted first (unique violation), update again.
     * Written through to the file (a rotated refresh token must survive a crash).
     */
    @Override
    public void save(String key, String plainCache) {
        store(key, box.seal(plainCache));
        ConnectorStore.writeThroughOf(dataSource);
    }

    private void store(String key, String serializedCache) {
        try (Connection c = dataSource.getConnection()) {
            if (update(c, key, serializedCache)) {
                return;
            }
            try (PreparedStatement in = c.prepareStatement(
                    "insert into auth_token_cache (cache_key, content, updated_at) values (?, ?, ?)")) {
                in.setString(1, key);
                in.setString(2, serializedCache);
                in.setTimestamp(3, Timestamp.from(Instant.now()));
                in.executeUpdate();
            } catch (SQLException e) {
                if (!UNIQUE_VIOLATION.equals(e.getSQLState()) || !update(c, key, serializedCache)) {
                    throw e;
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot save the token cache to the store", e);
        }
    }

    private static final String UNIQUE_VIOLATION = "23505";

    private static boolean update(Connection c, String key, String serializedCache) throws SQLException {
        try (PreparedStatement up = c.prepareStatement(
                "update auth_token_cache set content = ?, updated_at = ? where cache_key = ?")) {
            up.setString(1, serializedCache);
            up.setTimestamp(2, Timestamp.from(Instant.now()));
            up.setString(3, key);
            return up.executeUpdate() > 0;
        }
    }
}
