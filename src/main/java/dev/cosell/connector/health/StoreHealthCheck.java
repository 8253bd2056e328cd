package dev.cosell.connector.health;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Map;

import javax.sql.DataSource;

import org.apache.camel.health.HealthCheckResultBuilder;
import org.apache.camel.impl.health.AbstractHealthCheck;

/** The state store answers, and open dead letters stay under the threshold (sync.health.dead-letter-threshold). */
public final class StoreHealthCheck extends AbstractHealthCheck {

    private final DataSource dataSource;
    private final int deadLetterThreshold;

    public StoreHealthCheck(DataSource dataSource, int deadLetterThreshold) {
        super("cosell", "store");
        this.dataSource = dataSource;
        this.deadLetterThreshold = deadLetterThreshold;
    }

    @Override
    protected void doCall(HealthCheckResultBuilder builder, Map<String, Object> options) {
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("select count(*) from dead_letter where state = 'open'")) {
            rs.next();
            int open = rs.getInt(1);
            builder.detail("openDeadLetters", open).detail("deadLetterThreshold", deadLetterThreshold);
            if (open >= deadLetterThreshold) {
                builder.down().message(open + " open dead letters (threshold " + deadLetterThreshold
                        + "): see docs/operations.md, replay with --replay-dead-letter");
            } else {
                builder.up();
            }
        } catch (Exception e) {
            builder.down().message("state store unreachable: " + e.getMessage());
        }
    }
}
