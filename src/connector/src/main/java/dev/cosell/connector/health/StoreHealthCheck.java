package dev.cosell.connector.health;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Map;

import javax.sql.DataSource;

import org.apache.camel.health.HealthCheckResultBuilder;
import org.apache.camel.impl.health.AbstractHealthCheck;

/**
 * The state store answers: without it no event can be accepted (the inbox row comes before the 200),
 * so this decides readiness. Open dead letters are a detail and an alert ({@code deadLettersAlert} over
 * sync.health.dead-letter-threshold), never DOWN: a load balancer must not take the webhook endpoint out
 * of rotation because some records wait for a fix.
 */
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
            builder.detail("openDeadLetters", open).detail("deadLetterThreshold", deadLetterThreshold)
                    .detail("deadLettersAlert", open >= deadLetterThreshold);
            builder.up();
        } catch (Exception e) {
            builder.down().message("state store unreachable: " + e.getMessage());
        }
    }
}
