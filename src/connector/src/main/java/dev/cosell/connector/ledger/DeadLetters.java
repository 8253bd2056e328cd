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

    private static String describe(Exception e) {
        var http = HttpAnswers.httpFailure(e);
        if (http != null) {
            return "HTTP " + http.getStatusCode() + " from " + http.getUri() + ": " + http.getResponseBody();
        }
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t && (t.getMessage() == null || t instanceof org.apache.camel.CamelExecutionException)) {
            t = t.getCause();
        }
        return t.getClass().getSimpleName() + ": " + t.getMessage();
    }
}
