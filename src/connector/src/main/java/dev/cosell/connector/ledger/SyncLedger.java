package dev.cosell.connector.ledger;

import dev.cosell.connector.mapping.ReferralPatch;
import dev.cosell.connector.metrics.SyncMetrics;
import dev.cosell.connector.store.ConnectorStore;

import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import javax.sql.DataSource;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

/**
 * The sync ledger ({@code sync_link}) and audit trail ({@code sync_audit}). The routes keep the
 * record they work on in exchange properties ({@code referral}, {@code referralId},
 * {@code opportunityId}, {@code opportunityEtag}, {@code projectionHash}) and call these methods.
 */
public final class SyncLedger {

    private static final ObjectMapper CANONICAL = new ObjectMapper().configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true);
    private static final String UNIQUE_VIOLATION = "23505";

    private final DataSource dataSource;
    private final ReferralPatch referralPatch;
    private final SyncMetrics metrics;

    public SyncLedger(DataSource dataSource, ReferralPatch referralPatch, SyncMetrics metrics) {
        this.dataSource = dataSource;
        this.referralPatch = referralPatch;
        this.metrics = metrics;
    }

    /** The link of a referral, as a map of column → value, or null when the referral is not linked. */
    public Map<String, Object> find(String referralId) {
        return one("select * from sync_link where referral_id = ?", referralId);
    }

    /**
     * The referral as Partner Center last answered it (stored with the link), or null: an opportunity
     * change is merged into it and PUT with its eTag without reading it first. A stale copy only costs
     * a 412, after which the flow reads the referral.
     */
    @SuppressWarnings("unchecked")
    public Map<String, Object> lastReferral(Map<String, Object> link) {
        Object body = link == null ? null : link.get("referral_body");
        if (body == null) {
            return null;
        }
        try {
            String json = body instanceof java.sql.Clob clob ? clob.getSubString(1, (int) clob.length()) : body.toString();
            return CANONICAL.readValue(json, Map.class);
        } catch (Exception e) {
            return null; // unreadable: the flow reads the referral
        }
    }

    /**
     * Before POSTing a referral for an opportunity: records this attempt (a marker row) and returns when an
     * earlier attempt began (an ISO instant) if its marker was there already, i.e. a POST may have been sent
     * without its link reaching the ledger; then the flow looks in Partner Center first. Null for a first attempt.
     */
    public String earlierCreateAttempt(String opportunityId) {
        if (firstCreateAttempt(opportunityId)) {
            return null;
        }
        try (Connection c = dataSource.getConnection();
                PreparedStatement ps = c.prepareStatement("select attempted_at from referral_create_attempt where opportunity_id = ?")) {
            ps.setString(1, opportunityId);
            try (ResultSet rs = ps.executeQuery()) {
                Timestamp at = rs.next() ? rs.getTimestamp(1) : null;
                return (at == null ? Instant.now() : at.toInstant()).toString();
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read the referral creation attempt", e);
        }
    }

    private boolean firstCreateAttempt(String opportunityId) {
        try (Connection c = dataSource.getConnection();
                PreparedStatement ps = c.prepareStatement(
                        "insert into referral_create_attempt (opportunity_id, attempted_at) values (?, ?)")) {
            ps.setString(1, opportunityId);
            ps.setTimestamp(2, Timestamp.from(Instant.now()));
            ps.executeUpdate();
        } catch (SQLException e) {
            if (e.getSQLState() != null && e.getSQLState().startsWith("23")) {
                return false; // integrity constraint violation: the marker of an earlier attempt
            }
            throw new IllegalStateException("cannot record the referral creation attempt", e);
        }
        // In the file before the referral is posted: after a crash the marker says "look it up first".
        ConnectorStore.writeThroughOf(dataSource);
        return true;
    }

    /** The referral is linked: the creation marker is no longer needed. */
    public void createAttemptDone(String opportunityId) {
        try (Connection c = dataSource.getConnection();
                PreparedStatement ps = c.prepareStatement("delete from referral_create_attempt where opportunity_id = ?")) {
            ps.setString(1, opportunityId);
            ps.executeUpdate();
        } catch (SQLException e) {
            throw new IllegalStateException("cannot clear the referral creation attempt", e);
        }
    }

    /** Thrown while the connector's own write of a referral is being recorded (retried shortly). */
    public static final class WriteInProgressException extends Exception {
        public WriteInProgressException(String message) {
            super(message);
        }
    }

    /** How long a write marker counts: a writer that died leaves one behind, which then stops mattering. */
    static final long WRITE_MARKER_MS = 30_000;

    /** Just before PUTting the referral of this link: its webhook may come back before we record the answer. */
    public void writing(String referralId) {
        execute("update sync_link set writing_since = ? where referral_id = ?", Timestamp.from(Instant.now()), referralId);
    }

    /** The write ended without an answer to record (refused, or 412 and read again). */
    public void writeDone(String referralId) {
        execute("update sync_link set writing_since = null where referral_id = ?", null, referralId);
    }

    /** True while the link's referral is being written by us (marker younger than 30 s). */
    public boolean writeInProgress(Map<String, Object> link) {
        Object since = link == null ? null : link.get("writing_since");
        Instant at = since instanceof Timestamp t ? t.toInstant()
                : since instanceof OffsetDateTime o ? o.toInstant()
                : since instanceof java.time.temporal.TemporalAccessor ta ? Instant.from(ta) : null;
        return at != null && at.isAfter(Instant.now().minusMillis(WRITE_MARKER_MS));
    }

    private void execute(String sql, Timestamp at, String referralId) {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            int i = 1;
            if (at != null) {
                ps.setTimestamp(i++, at);
            }
            ps.setString(i, referralId);
            ps.executeUpdate();
        } catch (SQLException e) {
            throw new IllegalStateException("cannot mark the referral write", e);
        }
    }

    /** A "referral-created" event for a referral the ledger links already. */
    public boolean createdAndLinked(String eventName, String referralId) {
        return "referral-created".equals(eventName) && find(referralId) != null;
    }

    public Map<String, Object> findByOpportunity(String opportunityId) {
        return one("select * from sync_link where opportunity_id = ?", opportunityId);
    }

    /** A link known only by its opportunity (found in Dataverse, not yet in the ledger): nothing written by us yet. */
    public Map<String, Object> asLink(String opportunityId) {
        Map<String, Object> link = new LinkedHashMap<>();
        link.put("opportunity_id", opportunityId);
        link.put("opportunity_hash", null);
        return link;
    }

    /** SHA-256 of the canonical JSON (keys sorted) of a mapped projection. */
    public String hash(Object projection) {
        try {
            byte[] json = CANONICAL.writeValueAsBytes(CANONICAL.readTree(CANONICAL.writeValueAsBytes(projection)));
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(json));
        } catch (Exception e) {
            throw new IllegalStateException("cannot hash a projection", e);
        }
    }

    /**
     * Writes what each side now holds, after a flow wrote to the other side ({@code origin}: partnercenter
     * when the Partner Center → Dynamics 365 direction wrote the opportunity, dynamics when the other
     * direction wrote the referral). The inputs, as routes/sync-ledger.camel.yaml passes them:
     * {@code referral} as Partner Center returned it, {@code opportunityEtag} the Dataverse version after
     * our write, {@code projectionHash} and {@code projection} (referral → opportunity: what the
     * opportunity now holds of the referral), {@code crmProjectionHash} and {@code crmProjection}
     * (opportunity → referral). Absent (null) values leave the stored ones as they are.
     */
    public void record(String origin, Map<String, Object> referral, String referralId, String opportunityId,
            String opportunityEtag, String projectionHash, Map<?, ?> projection, String crmProjectionHash,
            Map<?, ?> crmProjection) {
        String direction = switch (origin) {
            case "partnercenter" -> "partnercenter-to-dynamics";
            case "dynamics" -> "dynamics-to-partnercenter";
            default -> throw new IllegalArgumentException("origin must be partnercenter or dynamics, not " + origin);
        };
        if (referralId == null && referral != null) {
            referralId = String.valueOf(referral.get("id"));
        }
        Object[] values = values(referral, referralId, opportunityId, opportunityEtag, projectionHash, crmProjectionHash,
                crmProjection, projectionHash == null ? null : projection, direction);
        try (Connection c = dataSource.getConnection()) {
            upsert(c, values, origin);
        } catch (SQLException e) {
            throw new IllegalStateException("cannot write the sync ledger for referral " + referralId, e);
        }
    }

    private static final String UPDATE = "update sync_link set opportunity_id = coalesce(?, opportunity_id), engagement_id = coalesce(?, engagement_id),"
            + " state = ?, referral_etag = coalesce(?, referral_etag), referral_updated_at = coalesce(?, referral_updated_at),"
            + " opportunity_version = coalesce(?, opportunity_version), opportunity_hash = coalesce(?, opportunity_hash),"
            + " referral_hash = coalesce(?, referral_hash), referral_projection = coalesce(?, referral_projection),"
            + " referral_body = coalesce(?, referral_body), opportunity_projection = coalesce(?, opportunity_projection),"
            + " opportunity_written = coalesce(?, opportunity_written), writing_since = null, last_direction = ?, updated_at = ?"
            + " where referral_id = ?";
    private static final String INSERT = "insert into sync_link (opportunity_id, engagement_id, state, referral_etag, referral_updated_at,"
            + " opportunity_version, opportunity_hash, referral_hash, referral_projection, referral_body, opportunity_projection,"
            + " opportunity_written, last_direction, updated_at, referral_id, origin, created_at)"
            + " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

    /** The UPDATE's parameters (the INSERT's are these plus origin and created_at). */
    private Object[] values(Map<String, Object> referral, String referralId, String opportunityId, String opportunityEtag,
            String projectionHash, String crmProjectionHash, Map<?, ?> crmProjection, Map<?, ?> written, String direction) {
        String state = referral != null && "Closed".equalsIgnoreCase(String.valueOf(referral.get("status"))) ? "closed" : "linked";
        String projection;
        String body;
        String crmSide;
        String writtenJson;
        try {
            projection = referral == null || referralPatch == null ? null
                    : CANONICAL.writeValueAsString(referralPatch.sharedFields(referral));
            body = referral == null ? null : CANONICAL.writeValueAsString(referral);
            crmSide = crmProjection == null ? null : CANONICAL.writeValueAsString(crmProjection);
            writtenJson = written == null ? null : CANONICAL.writeValueAsString(written);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        return new Object[] { opportunityId, referral == null ? null : referral.get("engagementId"), state,
                referral == null ? null : referral.get("eTag"), referral == null ? null : timestamp(referral.get("updatedDateTime")),
                versionOf(opportunityEtag), projectionHash, crmProjectionHash, projection, body, crmSide, writtenJson, direction,
                Timestamp.from(Instant.now()), referralId };
    }

    private static Object[] withOrigin(Object[] values, String origin) {
        Object[] withOrigin = java.util.Arrays.copyOf(values, values.length + 2);
        withOrigin[values.length] = origin;
        withOrigin[values.length + 1] = values[values.length - 2]; // created_at = updated_at
        return withOrigin;
    }

    private static void upsert(Connection c, Object[] values, String origin) throws SQLException {
        if (execute(c, UPDATE, values) > 0) {
            return;
        }
        try {
            execute(c, INSERT, withOrigin(values, origin));
        } catch (SQLException e) {
            if (!UNIQUE_VIOLATION.equals(e.getSQLState())) {
                throw e;
            }
            execute(c, UPDATE, values); // another thread linked it first
        }
    }

    /** The links of those of the referrals that have one, by referral id (one query for a page). */
    public Map<String, Map<String, Object>> linksAmong(java.util.Collection<String> referralIds) {
        return linksWhere("referral_id", referralIds);
    }

    /**
     * The links of a Dataverse page's opportunities (body: {"value": [rows]}) that have one, by
     * opportunity id: one query for the page instead of one per row.
     */
    public Map<String, Map<String, Object>> linksOfPage(Map<String, Object> page) {
        java.util.Set<String> ids = new java.util.LinkedHashSet<>();
        if (page != null && page.get("value") instanceof List<?> rows) {
            for (Object r : rows) {
                if (r instanceof Map<?, ?> row && row.get("opportunityid") instanceof String id) {
                    ids.add(id);
                }
            }
        }
        return linksWhere("opportunity_id", ids);
    }

    private Map<String, Map<String, Object>> linksWhere(String column, java.util.Collection<String> ids) {
        Map<String, Map<String, Object>> links = new java.util.HashMap<>();
        List<String> all = new java.util.ArrayList<>(ids);
        // (bounded IN lists: a Dataverse page holds up to 5,000 rows)
        for (int from = 0; from < all.size(); from += 500) {
            List<String> chunk = all.subList(from, Math.min(all.size(), from + 500));
            String sql = "select * from sync_link where " + column + " in ("
                    + String.join(", ", java.util.Collections.nCopies(chunk.size(), "?")) + ")";
            try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
                int i = 1;
                for (String id : chunk) {
                    ps.setString(i++, id);
                }
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        Map<String, Object> row = row(rs);
                        links.put(String.valueOf(row.get(column)), row);
                    }
                }
            } catch (SQLException e) {
                throw new IllegalStateException("cannot read the sync ledger", e);
            }
        }
        return links;
    }

    /** An opportunity the backfill created from a referral, with what the ledger keeps of both sides. */
    public record Created(Map<String, Object> referral, String opportunityId, String opportunityEtag,
            Map<String, Object> projection, String projectionHash, Map<String, Object> crmProjection, String crmProjectionHash) {

        String referralId() {
            return String.valueOf(referral.get("id"));
        }
    }

    /**
     * The links of a backfill page's new opportunities and their audit lines, in one transaction of
     * two JDBC batches. Should a referral have been linked meanwhile (its webhook, on another thread),
     * the page is written row by row instead, as update-or-insert.
     */
    public void recordCreated(String flow, List<Created> created) {
        if (created.isEmpty()) {
            return;
        }
        String direction = "partnercenter-to-dynamics";
        List<Object[]> rows = new ArrayList<>(created.size());
        for (Created k : created) {
            rows.add(values(k.referral(), k.referralId(), k.opportunityId(), k.opportunityEtag(), k.projectionHash(),
                    k.crmProjectionHash(), k.crmProjection(), k.projection(), direction));
        }
        Timestamp now = Timestamp.from(Instant.now());
        try (Connection c = dataSource.getConnection()) {
            boolean autoCommit = c.getAutoCommit();
            c.setAutoCommit(false);
            try {
                try (PreparedStatement ps = c.prepareStatement(INSERT)) {
                    for (Object[] row : rows) {
                        bind(ps, withOrigin(row, "partnercenter"));
                        ps.addBatch();
                    }
                    ps.executeBatch();
                } catch (SQLException e) {
                    c.rollback();
                    if (!isUniqueViolation(e)) {
                        throw e;
                    }
                    // Row by row, each in its own transaction (PostgreSQL aborts a transaction at its first error).
                    c.setAutoCommit(true);
                    for (Object[] row : rows) {
                        upsert(c, row, "partnercenter");
                    }
                    c.setAutoCommit(false);
                }
                try (PreparedStatement ps = c.prepareStatement(AUDIT)) {
                    for (Created k : created) {
                        bind(ps, new Object[] { now, flow, k.referralId(), k.opportunityId(), "created",
                                "opportunity created from referral (backfill, one $batch per page)", org.slf4j.MDC.get("correlationId") });
                        ps.addBatch();
                    }
                    ps.executeBatch();
                }
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            } finally {
                c.setAutoCommit(autoCommit);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot write the sync ledger for a backfill page", e);
        }
        if (metrics != null) {
            created.forEach(k -> metrics.decision(flow, "created"));
        }
    }

    private static boolean isUniqueViolation(SQLException e) {
        for (SQLException x = e; x != null; x = x.getNextException()) {
            if (UNIQUE_VIOLATION.equals(x.getSQLState())) {
                return true;
            }
        }
        return e.getCause() instanceof SQLException s && UNIQUE_VIOLATION.equals(s.getSQLState());
    }

    private static final String AUDIT = "insert into sync_audit (at, flow, referral_id, opportunity_id, action, detail, correlation_id)"
            + " values (?, ?, ?, ?, ?, ?, ?)";

    /**
     * One line in the audit trail (every sync decision is one), counted per flow and decision. It carries
     * the decision's correlation id, the one in the log lines and in the MS-CorrelationId of its Partner
     * Center requests (from the log context: camel.mdc.customProperties).
     */
    public void audit(String flow, String referralId, String opportunityId, String action, String detail) {
        if (metrics != null) {
            metrics.decision(flow, action);
        }
        try (Connection c = dataSource.getConnection()) {
            execute(c, AUDIT, new Object[] { Timestamp.from(Instant.now()), flow, referralId, opportunityId, action,
                            detail == null ? null : detail.substring(0, Math.min(2000, detail.length())),
                            org.slf4j.MDC.get("correlationId") });
        } catch (SQLException e) {
            throw new IllegalStateException("cannot write the audit trail", e);
        }
    }

    /**
     * An operator's action in the audit trail (the console's sync now, replay, discard, run): who did it
     * ({@code actor}), on what, and the correlation id of what it started (null when none).
     */
    public void auditBy(String actor, String referralId, String opportunityId, String action, String detail,
            String correlationId) {
        try (Connection c = dataSource.getConnection()) {
            execute(c, "insert into sync_audit (at, flow, referral_id, opportunity_id, action, detail, correlation_id, actor)"
                    + " values (?, 'console', ?, ?, ?, ?, ?, ?)", new Object[] { Timestamp.from(Instant.now()), referralId,
                            opportunityId, action, detail == null ? null : detail.substring(0, Math.min(2000, detail.length())),
                            correlationId, actor });
        } catch (SQLException e) {
            throw new IllegalStateException("cannot write the audit trail", e);
        }
    }

    /** {@code W/"12345"} → 12345 (Dataverse's versionnumber). */
    static Long versionOf(String etag) {
        if (etag == null) {
            return null;
        }
        String digits = etag.replaceAll("[^0-9]", "");
        return digits.isEmpty() ? null : Long.valueOf(digits);
    }

    private static Timestamp timestamp(Object iso) {
        if (iso == null) {
            return null;
        }
        try {
            return Timestamp.from(OffsetDateTime.parse(iso.toString()).toInstant());
        } catch (Exception e) {
            return null;
        }
    }

    private Map<String, Object> one(String sql, String key) {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, key);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? row(rs) : null;
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read the sync ledger", e);
        }
    }

    private static Map<String, Object> row(ResultSet rs) throws SQLException {
        Map<String, Object> row = new LinkedHashMap<>();
        for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
            row.put(rs.getMetaData().getColumnLabel(i).toLowerCase(), rs.getObject(i));
        }
        return row;
    }

    private static int execute(Connection c, String sql, Object[] values) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            bind(ps, values);
            return ps.executeUpdate();
        }
    }

    private static void bind(PreparedStatement ps, Object[] values) throws SQLException {
        for (int i = 0; i < values.length; i++) {
            ps.setObject(i + 1, values[i]);
        }
    }
}
