package dev.cosell.connector.ledger;

import dev.cosell.connector.remote.HttpAnswers;

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

import org.apache.camel.CamelContext;
import org.apache.camel.spi.IdempotentRepository;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Dead letters ({@code dead_letter}): what a flow could not apply, with the original message, the
 * error, the attempts and the endpoint to replay it to. Replay re-sends the original message there;
 * the flows are idempotent, so replaying twice applies once.
 */
public final class DeadLetters implements org.apache.camel.CamelContextAware {

    private static final Logger LOG = LoggerFactory.getLogger(DeadLetters.class);

    private final DataSource dataSource;
    private CamelContext context;

    public DeadLetters(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    @Override
    public void setCamelContext(CamelContext context) {
        this.context = context;
    }

    @Override
    public CamelContext getCamelContext() {
        return context;
    }

    /**
     * Records a failed message (the dead letter channel delivers the original one): the flow, the key
     * it is known by, the endpoint a replay sends it to, the error and the attempts made. Frees the
     * idempotency key in {@code idempotentRepository} so a replay is not taken for a duplicate.
     * Returns the dead letter's id.
     */
    public long record(String flow, String key, String endpoint, String idempotentRepository, Exception error,
            Integer redeliveries, String body) {
        flow = flow == null ? "unknown" : flow;
        endpoint = endpoint == null ? "unknown" : endpoint;
        String message = error == null ? "unknown error" : describe(error);
        long id;
        try (Connection c = dataSource.getConnection();
                PreparedStatement ps = c.prepareStatement("insert into dead_letter (at, flow, message_key, endpoint, body, error,"
                        + " attempts, state) values (?, ?, ?, ?, ?, ?, ?, 'open')", Statement.RETURN_GENERATED_KEYS)) {
            ps.setTimestamp(1, Timestamp.from(Instant.now()));
            ps.setString(2, flow);
            ps.setString(3, key);
            ps.setString(4, endpoint);
            ps.setString(5, body);
            ps.setString(6, message.substring(0, Math.min(4000, message.length())));
            ps.setInt(7, 1 + (redeliveries == null ? 0 : redeliveries));
            ps.executeUpdate();
            try (ResultSet rs = ps.getGeneratedKeys()) {
                rs.next();
                id = rs.getLong(1);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot write a dead letter", e);
        }
        if (idempotentRepository != null && key != null) {
            IdempotentRepository repo = context.getRegistry().lookupByNameAndType(idempotentRepository, IdempotentRepository.class);
            if (repo != null) {
                repo.remove(key);
            }
        }
        LOG.error("Dead letter {} in {} for {}: {}. Replay: cosell-connector --replay-dead-letter {}", id, flow, key, message, id);
        return id;
    }

    /** Replays one dead letter (or all open ones when id is null); returns how many were re-sent. */
    public int replay(Long id) {
        List<Object[]> rows = new ArrayList<>();
        String sql = "select id, endpoint, body from dead_letter where state = 'open'" + (id == null ? " order by id" : " and id = ?");
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            if (id != null) {
                ps.setLong(1, id);
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows.add(new Object[] { rs.getLong(1), rs.getString(2), rs.getString(3) });
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read dead letters", e);
        }
        try (var template = context.createProducerTemplate()) {
            for (Object[] r : rows) {
                // Sent first, then marked: a failed send leaves the letter open (the flows are idempotent,
                // so a letter sent but not marked is harmless to replay again).
                template.sendBody((String) r[1], r[2]);
                markReplayed((Long) r[0]);
                LOG.info("Dead letter {} replayed to {}", r[0], r[1]);
            }
        } catch (Exception e) {
            throw new IllegalStateException("replay failed: " + e.getMessage(), e);
        }
        return rows.size();
    }

    /** A dead letter as the console lists it. */
    public record Letter(long id, Instant at, String flow, String key, String endpoint, String body, String error, int attempts,
            String state, Instant replayedAt, String discardedReason, String handledBy, String replayOutcome) {
    }

    /** The dead letters, newest first: open ones only, or all. */
    public List<Letter> list(boolean openOnly, int limit) {
        String sql = "select * from dead_letter" + (openOnly ? " where state = 'open'" : "") + " order by id desc";
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setMaxRows(limit);
            List<Letter> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(letter(rs));
                }
            }
            return out;
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read dead letters", e);
        }
    }

    /** One dead letter, or null. */
    public Letter get(long id) {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement("select * from dead_letter where id = ?")) {
            ps.setLong(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? letter(rs) : null;
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read dead letters", e);
        }
    }

    private static Letter letter(ResultSet rs) throws SQLException {
        Timestamp replayed = rs.getTimestamp("replayed_at");
        return new Letter(rs.getLong("id"), rs.getTimestamp("at").toInstant(), rs.getString("flow"), rs.getString("message_key"),
                rs.getString("endpoint"), rs.getString("body"), rs.getString("error"), rs.getInt("attempts"), rs.getString("state"),
                replayed == null ? null : replayed.toInstant(), rs.getString("discarded_reason"), rs.getString("handled_by"),
                rs.getString("replay_outcome"));
    }

    /** Discards an open dead letter (it will not be replayed), with the reason and who; false when not open. */
    public boolean discard(long id, String reason, String by) {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
                "update dead_letter set state = 'discarded', discarded_reason = ?, handled_by = ? where id = ? and state = 'open'")) {
            ps.setString(1, reason.substring(0, Math.min(1000, reason.length())));
            ps.setString(2, by);
            ps.setLong(3, id);
            boolean done = ps.executeUpdate() == 1;
            if (done) {
                LOG.info("Dead letter {} discarded by {}: {}", id, by, reason);
            }
            return done;
        } catch (SQLException e) {
            throw new IllegalStateException("cannot update a dead letter", e);
        }
    }

    /** Replays one open dead letter for an operator (named in {@code handled_by}); false when it is not open. */
    public boolean replay(long id, String by) {
        Letter letter = get(id);
        if (letter == null || !"open".equals(letter.state())) {
            return false;
        }
        if (replay(id) == 1) {
            note(id, by, "re-sent to " + letter.endpoint() + "; waiting for its outcome");
            return true;
        }
        return false;
    }

    /**
     * What a replay led to, watched for up to {@code timeoutMs} (the flows run on their own threads): a new dead
     * letter for the same message (failed again, with its error), or audit lines of the records the message
     * names since the replay (applied). Kept in {@code replay_outcome}; returned.
     */
    public String awaitOutcome(long id, Instant since, long timeoutMs) {
        Letter letter = get(id);
        if (letter == null) {
            return "no dead letter " + id;
        }
        List<String> ids = recordIds(letter);
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        String outcome = null;
        do {
            outcome = failedAgain(letter, since);
            if (outcome == null) {
                outcome = applied(ids, since);
            }
            if (outcome == null) {
                java.util.concurrent.locks.LockSupport.parkNanos(200_000_000L);
            }
        } while (outcome == null && System.nanoTime() < deadline);
        if (outcome == null) {
            outcome = "re-sent; no outcome within " + timeoutMs / 1000 + " s (nothing to change, or still retrying: see the record)";
        }
        note(id, letter.handledBy(), outcome);
        return outcome;
    }

    private static final java.util.regex.Pattern GUID = java.util.regex.Pattern.compile(
            "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");

    /** The referral and opportunity ids a dead letter's key and message name. */
    private static List<String> recordIds(Letter letter) {
        java.util.LinkedHashSet<String> ids = new java.util.LinkedHashSet<>();
        String text = (letter.key() == null ? "" : letter.key()) + " "
                + (letter.body() == null ? "" : letter.body().substring(0, Math.min(20_000, letter.body().length())));
        var m = GUID.matcher(text);
        while (m.find() && ids.size() < 20) {
            ids.add(m.group().toLowerCase());
        }
        return List.copyOf(ids);
    }

    private String failedAgain(Letter letter, Instant since) {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
                "select id, error from dead_letter where id > ? and message_key = ? and at >= ? order by id")) {
            ps.setLong(1, letter.id());
            ps.setString(2, letter.key());
            ps.setTimestamp(3, Timestamp.from(since));
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? "failed again: dead letter " + rs.getLong(1) + ": " + rs.getString(2) : null;
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read dead letters", e);
        }
    }

    private String applied(List<String> ids, Instant since) {
        if (ids.isEmpty()) {
            return null;
        }
        String in = String.join(",", java.util.Collections.nCopies(ids.size(), "?"));
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
                "select action, detail, referral_id, opportunity_id from sync_audit where at >= ? and flow <> 'console'"
                        + " and action <> 'failed' and (lower(referral_id) in (" + in + ") or lower(opportunity_id) in (" + in + "))"
                        + " order by id")) {
            ps.setTimestamp(1, Timestamp.from(since));
            for (int i = 0; i < ids.size(); i++) {
                ps.setString(2 + i, ids.get(i));
                ps.setString(2 + ids.size() + i, ids.get(i));
            }
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                return "applied: " + rs.getString(1) + (rs.getString(2) == null ? "" : " (" + rs.getString(2) + ")")
                        + (rs.getString(4) == null ? "" : "; opportunity " + rs.getString(4));
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read the audit trail", e);
        }
    }

    private void note(long id, String by, String outcome) {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
                "update dead_letter set handled_by = coalesce(?, handled_by), replay_outcome = ? where id = ?")) {
            ps.setString(1, by);
            ps.setString(2, outcome.substring(0, Math.min(2000, outcome.length())));
            ps.setLong(3, id);
            ps.executeUpdate();
        } catch (SQLException e) {
            throw new IllegalStateException("cannot update a dead letter", e);
        }
    }

    public int openCount() {
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("select count(*) from dead_letter where state = 'open'")) {
            rs.next();
            return rs.getInt(1);
        } catch (SQLException e) {
            throw new IllegalStateException("cannot count dead letters", e);
        }
    }

    private void markReplayed(long id) {
        try (Connection c = dataSource.getConnection();
                PreparedStatement ps = c.prepareStatement("update dead_letter set state = 'replayed', replayed_at = ? where id = ?")) {
            ps.setTimestamp(1, Timestamp.from(Instant.now()));
            ps.setLong(2, id);
            ps.executeUpdate();
        } catch (SQLException e) {
            throw new IllegalStateException("cannot update a dead letter", e);
        }
    }

    /**
     * What went wrong, in one line: an HTTP failure's status, address and answer; else the first exception
     * that says something (never Camel's "Exception occurred during execution" wrapper) and its root cause.
     */
    public static String describe(Exception e) {
        var http = HttpAnswers.httpFailure(e);
        if (http != null) {
            return "HTTP " + http.getStatusCode() + " from " + http.getUri() + ": " + http.getResponseBody();
        }
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t && (t.getMessage() == null || t instanceof org.apache.camel.CamelExecutionException)) {
            t = t.getCause();
        }
        String said = t.getClass().getSimpleName() + ": " + t.getMessage();
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        // A library's own wrapper (Spring's "bad SQL grammar []") says less than the driver below it.
        String text = root == t ? said : said + " <- " + root.getClass().getSimpleName() + ": " + root.getMessage();
        return text.replaceAll("\\s+", " "); // one line (a driver's message may hold the statement on the next)
    }
}
