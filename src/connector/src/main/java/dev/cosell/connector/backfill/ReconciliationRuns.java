package dev.cosell.connector.backfill;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import javax.sql.DataSource;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The history of backfill / reconciliation runs ({@code reconciliation_run}): when, dry or real, who
 * started it, how far it got. Written by {@link Reconciliation}; read by the console's backfill page.
 * A failure to write it is logged, never a reason to stop a run.
 */
public final class ReconciliationRuns {

    private static final Logger LOG = LoggerFactory.getLogger(ReconciliationRuns.class);

    /** One run, newest first in {@link #last(int)}. */
    public record Run(long id, Instant startedAt, Instant finishedAt, boolean dryRun, String state, long processed,
            Integer planned, String startedBy) {
    }

    private final DataSource dataSource;

    public ReconciliationRuns(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    /** A run started: its id (-1 when it could not be recorded). */
    public long started(Instant at, boolean dryRun, String startedBy) {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
                "insert into reconciliation_run (started_at, dry_run, state, processed, started_by) values (?, ?, 'running', 0, ?)",
                Statement.RETURN_GENERATED_KEYS)) {
            ps.setTimestamp(1, Timestamp.from(at));
            ps.setBoolean(2, dryRun);
            ps.setString(3, startedBy.substring(0, Math.min(100, startedBy.length())));
            ps.executeUpdate();
            try (ResultSet rs = ps.getGeneratedKeys()) {
                return rs.next() ? rs.getLong(1) : -1;
            }
        } catch (SQLException e) {
            LOG.warn("Cannot record the start of a reconciliation run: {}", e.getMessage());
            return -1;
        }
    }

    /** A run ended: finished (complete) or interrupted. */
    public void ended(long id, Instant at, String state, long processed, Integer planned) {
        if (id < 0) {
            return;
        }
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
                "update reconciliation_run set finished_at = ?, state = ?, processed = ?, planned = ? where id = ?")) {
            ps.setTimestamp(1, Timestamp.from(at));
            ps.setString(2, state);
            ps.setLong(3, processed);
            ps.setObject(4, planned);
            ps.setLong(5, id);
            ps.executeUpdate();
        } catch (SQLException e) {
            LOG.warn("Cannot record the end of reconciliation run {}: {}", id, e.getMessage());
        }
    }

    /** The last runs, newest first. */
    public List<Run> last(int limit) {
        List<Run> out = new ArrayList<>();
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
                "select id, started_at, finished_at, dry_run, state, processed, planned, started_by from reconciliation_run"
                        + " order by id desc")) {
            ps.setMaxRows(limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    Timestamp finished = rs.getTimestamp(3);
                    out.add(new Run(rs.getLong(1), rs.getTimestamp(2).toInstant(), finished == null ? null : finished.toInstant(),
                            rs.getBoolean(4), rs.getString(5), rs.getLong(6), (Integer) rs.getObject(7, Integer.class),
                            rs.getString(8)));
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read the reconciliation runs", e);
        }
        return out;
    }
}
