package db.migration;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Statement;
import java.util.Locale;

import org.flywaydb.core.api.migration.BaseJavaMigration;
import org.flywaydb.core.api.migration.Context;

/**
 * Quartz's JDBC job store tables (QRTZ_*), for scheduled routes that fire on one node at a time
 * (sync.cluster.enabled). The DDL is Quartz's own, read from the Quartz jar for this database
 * (tables_postgres.sql or tables_h2.sql), so it always matches the Quartz version in use.
 */
public class V4__Quartz_job_store extends BaseJavaMigration {

    @Override
    public void migrate(Context context) throws Exception {
        String product = context.getConnection().getMetaData().getDatabaseProductName().toLowerCase(Locale.ROOT);
        String script = product.contains("postgres") ? "tables_postgres.sql" : product.contains("h2") ? "tables_h2.sql" : null;
        if (script == null) {
            throw new IllegalStateException("no Quartz job store script for " + product);
        }
        try (Statement s = context.getConnection().createStatement()) {
            for (String statement : read("org/quartz/impl/jdbcjobstore/" + script).split(";")) {
                String sql = withoutComments(statement).trim();
                String upper = sql.toUpperCase(Locale.ROOT);
                // Fresh schema: Quartz's leading DROPs and trailing COMMIT are not needed.
                if (sql.isEmpty() || upper.startsWith("DROP ") || upper.equals("COMMIT")) {
                    continue;
                }
                s.execute(sql);
            }
        }
    }

    private static String read(String resource) throws IOException {
        try (InputStream in = V4__Quartz_job_store.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("Quartz script " + resource + " not on the classpath");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static String withoutComments(String sql) {
        StringBuilder out = new StringBuilder();
        for (String line : sql.split("\n")) {
            if (!line.trim().startsWith("--")) {
                out.append(line).append('\n');
            }
        }
        return out.toString();
    }
}
