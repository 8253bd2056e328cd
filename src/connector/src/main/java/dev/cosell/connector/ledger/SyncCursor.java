package dev.cosell.connector.ledger;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;

import javax.sql.DataSource;

/** Named positions of the change detection ({@code sync_cursor}): a delta link's query, a watermark. */
public final class SyncCursor {

    private final DataSource dataSource;

    public SyncCursor(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    public String get(String name) {
        try (Connection c = dataSource.getConnection();
                PreparedStatement ps = c.prepareStatement("select cursor_value from sync_cursor where name = ?")) {
            ps.setString(1, name);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read cursor " + name, e);
        }
    }

    /** Stores a position; null clears it (the next poll starts from the current state). */
    public void put(String name, String value) {
        try (Connection c = dataSource.getConnection()) {
            try (PreparedStatement up = c.prepareStatement("update sync_cursor set cursor_value = ?, updated_at = ? where name = ?")) {
                up.setString(1, value);
                up.setTimestamp(2, Timestamp.from(Instant.now()));
                up.setString(3, name);
                if (up.executeUpdate() > 0) {
                    return;
                }
            }
            try (PreparedStatement in = c.prepareStatement("insert into sync_cursor (name, cursor_value, updated_at) values (?, ?, ?)")) {
                in.setString(1, name);
                in.setString(2, value);
                in.setTimestamp(3, Timestamp.from(Instant.now()));
                in.executeUpdate();
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot store cursor " + name, e);
        }
    }

    /**
     * The watermark query (fallback without change tracking): flagged opportunities modified at or
     * after the watermark, oldest first. {@code ge}, not {@code gt}: rows sharing the watermark's
     * second are read again and dropped by the (id, version) idempotent consumer.
     */
    public String watermarkQuery(String columns, String watermark) {
        String filter = "cosell_syncwithpartnercenter eq true" + (watermark == null ? "" : " and modifiedon ge " + watermark);
        return "$select=" + columns + "&$orderby=" + enc("modifiedon asc") + "&$filter=" + enc(filter);
    }

    /** The newest modifiedon in a Dataverse collection answer, or the current watermark. */
    @SuppressWarnings("unchecked")
    public String latestModifiedOn(java.util.Map<String, Object> collection, String current) {
        String latest = current;
        if (collection != null && collection.get("value") instanceof java.util.List<?> rows) {
            for (Object r : rows) {
                Object m = r instanceof java.util.Map<?, ?> row ? ((java.util.Map<String, Object>) row).get("modifiedon") : null;
                if (m != null && (latest == null || java.time.Instant.parse(m.toString()).isAfter(java.time.Instant.parse(latest)))) {
                    latest = m.toString();
                }
            }
        }
        return latest;
    }

    private static String enc(String s) {
        return java.net.URLEncoder.encode(s, java.nio.charset.StandardCharsets.UTF_8).replace("+", "%20");
    }

    /** The query part of an {@code @odata.deltaLink} / {@code @odata.nextLink} (what follows '?'), or null. */
    public String queryOf(String link) {
        if (link == null) {
            return null;
        }
        int q = link.indexOf('?');
        return q < 0 ? null : link.substring(q + 1);
    }
}
