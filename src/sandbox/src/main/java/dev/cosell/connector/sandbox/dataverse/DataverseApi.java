package dev.cosell.connector.sandbox.dataverse;

import java.math.BigDecimal;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cosell.connector.sandbox.ODataFilter;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.dataverse.DataverseSchema.Column;
import dev.cosell.connector.sandbox.dataverse.DataverseSchema.Entity;

/**
 * The Dataverse Web API ({@code /api/data/v9.2/}) as a function from request to response, so that
 * single HTTP calls and the parts of a {@code $batch} run through the same code. State is in memory:
 * one row map per table, alternate-key indexes, a row version counter shared by all tables (as
 * Dataverse's {@code versionnumber}) and tombstones for change tracking.
 * <p>
 * Writes take a single write lock; a {@code $batch} change set holds it for its whole length and
 * keeps an undo log, so a failing request rolls the change set back atomically.
 */
public final class DataverseApi {

    public static final String PREFIX = "/api/data/v9.2/";

    /** A request relative to {@link #PREFIX}; header names lower case. */
    public record Request(String method, String path, Map<String, String> query, String rawQuery,
            Map<String, String> headers, byte[] body) {

        String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }

    public record Response(int status, Map<String, String> headers, byte[] body) {

        public String bodyText() {
            return body == null ? "" : new String(body, StandardCharsets.UTF_8);
        }
    }

    /** An error answered with Dataverse's OData error body. */
    static final class ApiError extends RuntimeException {
        final int status;
        final String code;

        ApiError(int status, String code, String message) {
            super(message);
            this.status = status;
            this.code = code;
        }
    }

    static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final Pattern KEYED = Pattern.compile("^([A-Za-z_]+)\\((.*)\\)$");
    private static final Pattern GUID = Pattern.compile("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
    private static final Pattern BIND = Pattern.compile("^(?:.*/)?([A-Za-z_]+)\\(([^)]*)\\)$");
    private static final DateTimeFormatter DATETIME = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss'Z'")
            .withZone(ZoneOffset.UTC);
    private static final int DEFAULT_PAGE_SIZE = 5000;
    static final int MAX_BATCH_REQUESTS = 1000;

    private final DataverseSchema schema;
    private final Supplier<String> baseUrl;
    final Map<String, Table> tables = new LinkedHashMap<>();
    private final AtomicLong versions = new AtomicLong(1_000_000);
    final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final DataverseMetadata metadata = new DataverseMetadata(this);
    private final ThreadLocal<Deque<Runnable>> undo = new ThreadLocal<>();
    private final String organizationId = UUID.randomUUID().toString();
    private final String businessUnitId = UUID.randomUUID().toString();

    /** One table: rows by id (ordered by id, as Dataverse pages by primary key), key indexes, tombstones. */
    final class Table {
        final Entity def;
        final ConcurrentSkipListMap<String, ObjectNode> rows = new ConcurrentSkipListMap<>();
        final Map<String, Map<String, String>> keyIndex = new HashMap<>();
        final ConcurrentSkipListMap<Long, String> tombstones = new ConcurrentSkipListMap<>();
        volatile boolean changeTracking;
        /** Delta tokens older than this version have expired (tombstones before it are gone). */
        volatile long horizon;

        Table(Entity def) {
            this.def = def;
            this.changeTracking = def.changeTracking();
            def.alternateKeys().keySet().forEach(k -> keyIndex.put(k, new ConcurrentHashMap<>()));
        }

        /** Stores a row (insert or replace), keeping key indexes, recording the inverse for change sets. */
        void put(String id, ObjectNode row) {
            ObjectNode before = rows.put(id, row);
            reindex(id, before, row);
            Deque<Runnable> u = undo.get();
            if (u != null) {
                u.push(() -> {
                    if (before == null) {
                        rows.remove(id);
                    } else {
                        rows.put(id, before);
                    }
                    reindex(id, row, before);
                });
            }
        }

        void remove(String id, long version) {
            ObjectNode before = rows.remove(id);
            if (before == null) {
                return;
            }
            reindex(id, before, null);
            tombstones.put(version, id);
            Deque<Runnable> u = undo.get();
            if (u != null) {
                u.push(() -> {
                    rows.put(id, before);
                    reindex(id, null, before);
                    tombstones.remove(version);
                });
            }
        }

        private void reindex(String id, ObjectNode before, ObjectNode after) {
            for (var key : def.alternateKeys().entrySet()) {
                Map<String, String> index = keyIndex.get(key.getKey());
                String oldValue = before == null ? null : keyValue(key.getValue(), before);
                String newValue = after == null ? null : keyValue(key.getValue(), after);
                if (oldValue != null && !oldValue.equals(newValue)) {
                    index.remove(oldValue, id);
                }
                if (newValue != null) {
                    index.put(newValue, id);
                }
            }
        }
    }

    public DataverseApi(DataverseSchema schema, Supplier<String> baseUrl) {
        this.schema = schema;
        this.baseUrl = baseUrl;
        schema.entities().forEach(e -> tables.put(e.entitySet(), new Table(e)));
        seedCurrencies();
    }

    // =================================================================================== dispatch

    public Response handle(Request r) {
        try {
            String path = r.path();
            metadata.advanceKeys();
            if (metadata.handles(path)) {
                return metadata.handle(r);
            }
            if (path.equals("$batch") && r.method().equals("POST")) {
                return DataverseBatch.execute(this, r);
            }
            if (path.equals("WhoAmI") && r.method().equals("GET")) {
                return json(200, NODES.objectNode().put("@odata.context",
                        base() + "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse").put("BusinessUnitId", businessUnitId)
                        .put("UserId", UUID.nameUUIDFromBytes("sandbox-app-user".getBytes()).toString())
                        .put("OrganizationId", organizationId));
            }
            if ((path.equals("WinOpportunity") || path.equals("LoseOpportunity")) && r.method().equals("POST")) {
                return closeOpportunity(r, path.equals("WinOpportunity"));
            }
            Matcher keyed = KEYED.matcher(path);
            if (keyed.matches()) {
                Table t = table(keyed.group(1));
                String keySpec = keyed.group(2);
                return switch (r.method()) {
                    case "GET" -> retrieve(t, keySpec, r);
                    case "PATCH" -> update(t, keySpec, r);
                    case "DELETE" -> delete(t, keySpec);
                    default -> throw new ApiError(405, "0x80060888", "The HTTP method " + r.method()
                            + " is not allowed on a single record.");
                };
            }
            if (path.matches("[A-Za-z_]+")) {
                Table t = table(path);
                return switch (r.method()) {
                    case "GET" -> query(t, r);
                    case "POST" -> create(t, r);
                    default -> throw new ApiError(405, "0x80060888", "The HTTP method " + r.method()
                            + " is not allowed on an entity set.");
                };
            }
            throw new ApiError(404, "0x80060888", "Resource not found for the segment '" + path + "'.");
        } catch (ApiError e) {
            return error(e.status, e.code, e.getMessage());
        } catch (ODataFilter.FilterException e) {
            return error(400, "0x80060888", e.getMessage());
        }
    }

    /**
     * The URL of the row a create answered, for a change set's later {@code $<Content-ID>}: its
     * OData-EntityId header, or (with return=representation, which documentedly drops that header)
     * the entity set of the request and the primary id in the answer's body; null for anything else.
     */
    String createdEntityId(Request request, Response response) {
        String header = response.headers().get("OData-EntityId");
        if (header != null || response.status() != 201 || !"POST".equals(request.method())) {
            return header;
        }
        Table t = tables.get(request.path());
        if (t == null) {
            return null;
        }
        try {
            JsonNode id = JSON.readTree(response.body()).get(t.def.primaryId());
            return id == null ? null : base() + t.def.entitySet() + "(" + id.asText() + ")";
        } catch (java.io.IOException e) {
            return null;
        }
    }

    private Table table(String entitySet) {
        Table t = tables.get(entitySet);
        if (t == null) {
            throw new ApiError(404, "0x8006088a", "Resource not found for the segment '" + entitySet + "'.");
        }
        return t;
    }

    // =================================================================================== create

    private Response create(Table t, Request r) {
        ObjectNode body = parseBody(r, t);
        lock.writeLock().lock();
        try {
            String id = body.hasNonNull(t.def.primaryId()) ? body.get(t.def.primaryId()).asText().toLowerCase(Locale.ROOT)
                    : UUID.randomUUID().toString();
            if (t.rows.containsKey(id)) {
                throw new ApiError(412, "0x80040237", "A record with matching key values already exists.");
            }
            ObjectNode row = newRow(t, id);
            apply(t, row, body, true);
            checkKeysUnique(t, id, row);
            stamp(row, true);
            t.put(id, row);
            return written(t, id, row, r, 201, true);
        } finally {
            lock.writeLock().unlock();
        }
    }

    private ObjectNode newRow(Table t, String id) {
        ObjectNode row = NODES.objectNode();
        row.put(t.def.primaryId(), id);
        for (Column c : t.def.columns().values()) {
            if (c.defaultValue() != null) {
                row.set(c.name(), c.defaultValue());
            }
        }
        return row;
    }

    private Response written(Table t, String id, ObjectNode row, Request r, int representationStatus,
            boolean created) {
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("OData-Version", "4.0");
        headers.put("OData-EntityId", base() + t.def.entitySet() + "(" + id + ")");
        headers.put("ETag", etag(row));
        if (prefers(r, "return=representation")) {
            // documented: with the record in the body, OData-EntityId is not returned
            headers.remove("OData-EntityId");
            headers.put("Preference-Applied", "return=representation");
            List<String> select = select(t, r.query().get("$select"));
            ObjectNode out = represent(t, row, select, annotations(r));
            out.put("@odata.context", base() + "$metadata#" + t.def.entitySet() + selectSuffix(r) + "/$entity");
            return json(created ? representationStatus : 200, out, headers);
        }
        return new Response(204, headers, new byte[0]);
    }

    // =================================================================================== retrieve

    private Response retrieve(Table t, String keySpec, Request r) {
        lock.readLock().lock();
        try {
            String id = resolveKey(t, keySpec);
            ObjectNode row = id == null ? null : t.rows.get(id);
            if (row == null) {
                throw notFound(t, keySpec);
            }
            String inm = r.header("If-None-Match");
            if (inm != null && inm.equals(etag(row))) {
                return new Response(304, Map.of("ETag", etag(row)), new byte[0]);
            }
            ObjectNode out = represent(t, row, select(t, r.query().get("$select")), annotations(r));
            out.put("@odata.context", base() + "$metadata#" + t.def.entitySet() + selectSuffix(r) + "/$entity");
            return json(200, out, Map.of("ETag", etag(row), "OData-Version", "4.0"));
        } finally {
            lock.readLock().unlock();
        }
    }

    // =================================================================================== update / upsert

    private Response update(Table t, String keySpec, Request r) {
        ObjectNode body = parseBody(r, t);
        lock.writeLock().lock();
        try {
            String id = resolveKey(t, keySpec);
            ObjectNode existing = id == null ? null : t.rows.get(id);
            String ifMatch = r.header("If-Match");
            String ifNoneMatch = r.header("If-None-Match");
            if (existing == null) {
                if (ifMatch != null) {
                    throw notFound(t, keySpec);
                }
                // upsert: create, with the key values taken from the URL
                String newId = id != null ? id : UUID.randomUUID().toString();
                ObjectNode row = newRow(t, newId);
                if (id == null) {
                    keyValuesOf(t, keySpec).forEach(row::put);
                }
                apply(t, row, body, true);
                checkKeysUnique(t, newId, row);
                stamp(row, true);
                t.put(newId, row);
                return written(t, newId, row, r, 201, true);
            }
            if ("*".equals(ifNoneMatch)) {
                throw new ApiError(412, "0x80040237", "A record with matching key values already exists.");
            }
            if (ifMatch != null && !"*".equals(ifMatch) && !ifMatch.equals(etag(existing))) {
                throw new ApiError(412, "0x80060882",
                        "The version of the existing record doesn't match the RowVersion property provided.");
            }
            if (body.has(t.def.primaryId()) && !body.get(t.def.primaryId()).asText().equalsIgnoreCase(id)) {
                throw new ApiError(400, "0x80048d19", "The primary key of the record cannot be changed.");
            }
            ObjectNode row = existing.deepCopy();
            apply(t, row, body, true);
            checkKeysUnique(t, id, row);
            stamp(row, false);
            t.put(id, row);
            return written(t, id, row, r, 200, false);
        } finally {
            lock.writeLock().unlock();
        }
    }

    // =================================================================================== delete

    private Response delete(Table t, String keySpec) {
        lock.writeLock().lock();
        try {
            String id = resolveKey(t, keySpec);
            if (id == null || !t.rows.containsKey(id)) {
                throw notFound(t, keySpec);
            }
            t.remove(id, versions.incrementAndGet());
            return new Response(204, Map.of("OData-Version", "4.0"), new byte[0]);
        } finally {
            lock.writeLock().unlock();
        }
    }

    // =================================================================================== actions

    /** {@code WinOpportunity} / {@code LoseOpportunity}: closes an open opportunity with an OpportunityClose. */
    private Response closeOpportunity(Request r, boolean won) {
        Table t = table("opportunities");
        ObjectNode body = parseJson(r.body());
        JsonNode close = body.path("OpportunityClose");
        if (!body.has("Status") || !close.isObject()) {
            throw new ApiError(400, "0x80040203", "Required parameters are missing: Status and OpportunityClose.");
        }
        String bind = close.path("opportunityid@odata.bind").asText(null);
        Matcher m = bind == null ? null : BIND.matcher(bind);
        if (m == null || !m.matches() || !m.group(1).equals("opportunities")) {
            throw new ApiError(400, "0x80040203",
                    "OpportunityClose must bind opportunityid@odata.bind to /opportunities(<id>).");
        }
        int status = body.get("Status").asInt();
        int expectedState = won ? 1 : 2;
        Integer stateOfStatus = t.def.column("statuscode").statusOfState().get(String.valueOf(status));
        if (stateOfStatus == null || stateOfStatus != expectedState) {
            throw new ApiError(400, "0x80040203", "Status " + status + " is not a valid "
                    + (won ? "won" : "lost") + " status reason for opportunity.");
        }
        lock.writeLock().lock();
        try {
            String id = m.group(2).toLowerCase(Locale.ROOT);
            ObjectNode existing = t.rows.get(id);
            if (existing == null) {
                throw notFound(t, id);
            }
            if (existing.path("statecode").asInt() != 0) {
                throw new ApiError(400, "0x80040515", "The opportunity is already closed.");
            }
            ObjectNode row = existing.deepCopy();
            row.put("statecode", expectedState).put("statuscode", status);
            if (close.has("actualrevenue")) {
                row.set("actualvalue", close.get("actualrevenue"));
            }
            row.put("actualclosedate", close.hasNonNull("actualend") ? close.get("actualend").asText().substring(0, 10)
                    : LocalDate.now(ZoneOffset.UTC).toString());
            stamp(row, false);
            t.put(id, row);
            return new Response(204, Map.of("OData-Version", "4.0"), new byte[0]);
        } finally {
            lock.writeLock().unlock();
        }
    }

    // =================================================================================== query

    private Response query(Table t, Request r) {
        Map<String, String> q = r.query();
        if (q.containsKey("$deltatoken")) {
            return delta(t, r);
        }
        boolean tracking = prefers(r, "odata.track-changes");
        if (q.containsKey("$expand") || q.containsKey("$apply")) {
            throw new ApiError(400, "0x80060888", "The sandbox does not emulate $expand or $apply.");
        }
        if (tracking) {
            if (!t.changeTracking) {
                throw changeTrackingOff(t);
            }
            for (String unsupported : new String[] { "$filter", "$orderby", "$top", "$count" }) {
                if (q.containsKey(unsupported)) {
                    throw new ApiError(400, "0x80060888", "The \"" + unsupported
                            + "\" query parameter isn't supported when Change Tracking is enabled.");
                }
            }
        }
        List<String> select = select(t, q.get("$select"));
        ODataFilter.Predicate filter = q.containsKey("$filter")
                ? ODataFilter.parse(q.get("$filter"), t.def::knows, t.def.logicalName()) : row -> true;
        Comparator<ObjectNode> order = orderBy(t, q.get("$orderby"));
        Integer top = q.containsKey("$top") ? parseInt(q.get("$top"), "$top") : null;
        int pageSize = maxPageSize(r);
        Cookie cookie = Cookie.parse(q.get("$skiptoken"));

        List<ObjectNode> matched = new ArrayList<>();
        long snapshot;
        lock.readLock().lock();
        try {
            snapshot = cookie != null && cookie.deltaVersion > 0 ? cookie.deltaVersion : versions.get();
            for (ObjectNode row : t.rows.values()) {
                if (filter.test(row)) {
                    matched.add(row);
                }
            }
        } finally {
            lock.readLock().unlock();
        }
        if (order != null) {
            matched.sort(order);
        }
        int total = matched.size();
        List<ObjectNode> page;
        boolean more = false;
        int pageNumber = cookie == null ? 1 : cookie.page;
        if (top != null) {
            page = matched.subList(0, Math.min(top, matched.size()));
        } else {
            int from = Math.min((pageNumber - 1) * pageSize, matched.size());
            int to = Math.min(from + pageSize, matched.size());
            page = matched.subList(from, to);
            more = to < matched.size();
        }
        boolean annotations = annotations(r);
        ObjectNode out = NODES.objectNode();
        out.put("@odata.context", base() + "$metadata#" + t.def.entitySet() + selectSuffix(r));
        if ("true".equalsIgnoreCase(q.get("$count"))) {
            out.put("@odata.count", total);
        }
        ArrayNode value = out.putArray("value");
        for (ObjectNode row : page) {
            value.add(represent(t, row, select, annotations));
        }
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("OData-Version", "4.0");
        List<String> applied = new ArrayList<>();
        if (r.header("Prefer") != null && r.header("Prefer").contains("odata.maxpagesize")) {
            applied.add("odata.maxpagesize=" + pageSize);
        }
        if (more) {
            Cookie next = new Cookie(pageNumber + 1, lastId(t, page), tracking ? snapshot : 0);
            out.put("@odata.nextLink", base() + t.def.entitySet() + "?" + withParam(r.rawQuery(), "$skiptoken",
                    next.format()));
        } else if (tracking) {
            out.put("@odata.deltaLink", base() + t.def.entitySet() + "?" + withParam(withoutParam(r.rawQuery(),
                    "$skiptoken"), "$deltatoken", deltaToken(snapshot)));
        }
        if (tracking) {
            applied.add("odata.track-changes");
        }
        if (annotations) {
            applied.add("odata.include-annotations=\"*\"");
        }
        if (!applied.isEmpty()) {
            headers.put("Preference-Applied", String.join(",", applied));
        }
        return json(200, out, headers);
    }

    private Response delta(Table t, Request r) {
        if (!t.changeTracking) {
            throw changeTrackingOff(t);
        }
        long since = parseDeltaToken(r.query().get("$deltatoken"));
        if (since < t.horizon) {
            throw new ApiError(400, "0x80044352",
                    "Version stamp associated with the client has expired. Please perform a full sync.");
        }
        List<String> select = select(t, r.query().get("$select"));
        boolean annotations = annotations(r);
        ObjectNode out = NODES.objectNode();
        out.put("@odata.context", base() + "$metadata#" + t.def.entitySet() + selectSuffix(r) + "/$delta");
        ArrayNode value = out.putArray("value");
        long now;
        lock.readLock().lock();
        try {
            now = versions.get();
            List<ObjectNode> changed = new ArrayList<>();
            for (ObjectNode row : t.rows.values()) {
                if (row.path("versionnumber").asLong() > since) {
                    changed.add(row);
                }
            }
            changed.sort(Comparator.comparingLong(row -> row.path("versionnumber").asLong()));
            changed.forEach(row -> value.add(represent(t, row, select, annotations)));
            for (var tomb : t.tombstones.tailMap(since, false).entrySet()) {
                if (!t.rows.containsKey(tomb.getValue())) {
                    value.addObject().put("@odata.context", base() + "$metadata#" + t.def.entitySet() + "/$deletedEntity")
                            .put("id", tomb.getValue()).put("reason", "deleted");
                }
            }
        } finally {
            lock.readLock().unlock();
        }
        out.put("@odata.deltaLink", base() + t.def.entitySet() + "?" + withParam(r.rawQuery(), "$deltatoken",
                deltaToken(now)));
        return json(200, out, Map.of("OData-Version", "4.0", "Preference-Applied", "odata.track-changes"));
    }

    private ApiError changeTrackingOff(Table t) {
        return new ApiError(400, "0x80072491", "Entity " + t.def.logicalName() + " isn't enabled for change tracking.");
    }

    private static String deltaToken(long version) {
        return version + "!" + DateTimeFormatter.ofPattern("MM/dd/yyyy HH:mm:ss").withZone(ZoneOffset.UTC)
                .format(Instant.now());
    }

    private static long parseDeltaToken(String token) {
        try {
            return Long.parseLong(token.substring(0, token.indexOf('!')));
        } catch (RuntimeException e) {
            throw new ApiError(400, "0x80072492", "The delta token '" + token + "' is not valid.");
        }
    }

    /** Paging state carried in $skiptoken, shaped like Dataverse's paging cookie. */
    private record Cookie(int page, String lastId, long deltaVersion) {

        private static final Pattern P = Pattern.compile("pagenumber=\"(\\d+)\".*?last=\"\\{?([^}\"]*)\\}?\"(?:.*?deltaversion=\"(\\d+)\")?",
                Pattern.DOTALL);

        String format() {
            return "<cookie pagenumber=\"" + page + "\" pagingcookie=\"" + URLEncoder.encode(URLEncoder.encode(
                    "<cookie page=\"" + (page - 1) + "\"><id last=\"{" + lastId.toUpperCase(Locale.ROOT) + "}\" /></cookie>",
                    StandardCharsets.UTF_8), StandardCharsets.UTF_8) + "\" istracking=\"" + (deltaVersion > 0 ? "True" : "False")
                    + "\"" + (deltaVersion > 0 ? " deltaversion=\"" + deltaVersion + "\"" : "") + " />";
        }

        static Cookie parse(String token) {
            if (token == null) {
                return null;
            }
            String decoded = URLDecoder.decode(URLDecoder.decode(token, StandardCharsets.UTF_8), StandardCharsets.UTF_8);
            Matcher m = P.matcher(decoded);
            if (!m.find()) {
                throw new ApiError(400, "0x80060888", "The $skiptoken is not a valid paging cookie.");
            }
            return new Cookie(Integer.parseInt(m.group(1)), m.group(2), m.group(3) == null ? 0 : Long.parseLong(m.group(3)));
        }
    }

    private static String lastId(Table t, List<ObjectNode> page) {
        return page.isEmpty() ? "" : page.get(page.size() - 1).path(t.def.primaryId()).asText();
    }

    private Comparator<ObjectNode> orderBy(Table t, String spec) {
        if (spec == null || spec.isBlank()) {
            return null; // rows are already in primary key order
        }
        Comparator<ObjectNode> result = null;
        for (String part : spec.split(",")) {
            String[] p = part.trim().split("\\s+");
            String name = p[0];
            if (!t.def.knows(name)) {
                throw new ApiError(400, "0x80060888", "Could not find a property named '" + name
                        + "' on type 'Microsoft.Dynamics.CRM." + t.def.logicalName() + "'.");
            }
            boolean desc = p.length > 1 && p[1].equalsIgnoreCase("desc");
            Comparator<ObjectNode> c = Comparator.comparing(row -> sortKey(row.get(name)),
                    Comparator.nullsFirst(DataverseApi::compareKeys));
            if (desc) {
                c = c.reversed();
            }
            result = result == null ? c : result.thenComparing(c);
        }
        return result;
    }

    private static Comparable<?> sortKey(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        if (n.isNumber()) {
            return n.decimalValue();
        }
        if (n.isBoolean()) {
            return n.booleanValue();
        }
        return n.asText().toLowerCase(Locale.ROOT);
    }

    @SuppressWarnings({ "unchecked", "rawtypes" })
    private static int compareKeys(Comparable a, Comparable b) {
        return a.getClass() == b.getClass() ? a.compareTo(b) : a.toString().compareTo(b.toString());
    }

    private int maxPageSize(Request r) {
        String prefer = r.header("Prefer");
        if (prefer != null) {
            Matcher m = Pattern.compile("odata\\.maxpagesize=(\\d+)").matcher(prefer);
            if (m.find()) {
                return Math.max(1, Math.min(Integer.parseInt(m.group(1)), DEFAULT_PAGE_SIZE));
            }
        }
        return DEFAULT_PAGE_SIZE;
    }

    // =================================================================================== payloads

    private ObjectNode parseBody(Request r, Table t) {
        ObjectNode body = parseJson(r.body());
        Iterator<String> names = body.fieldNames();
        while (names.hasNext()) {
            String name = names.next();
            if (name.startsWith("@odata.")) {
                continue;
            }
            if (name.endsWith("@odata.bind")) {
                lookupColumn(t, name.substring(0, name.length() - "@odata.bind".length()));
                continue;
            }
            Column c = t.def.column(name);
            if (c == null || c.isLookup()) {
                throw new ApiError(400, "0x80060888", "The property '" + name + "' does not exist on type"
                        + " 'Microsoft.Dynamics.CRM." + t.def.logicalName() + "'. Make sure to only use property"
                        + " names that are defined by the type.");
            }
        }
        return body;
    }

    private ObjectNode parseJson(byte[] bytes) {
        try {
            JsonNode node = bytes == null || bytes.length == 0 ? null : JSON.readTree(bytes);
            if (node instanceof ObjectNode o) {
                return o;
            }
            throw new ApiError(400, "0x80048d19", "Error identified in Payload provided by the user: the body must"
                    + " be a JSON object.");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ApiError(400, "0x80048d19", "Error identified in Payload provided by the user: "
                    + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw new ApiError(400, "0x80048d19", "Error identified in Payload provided by the user: "
                    + e.getMessage());
        }
    }

    /** The lookup column a navigation property binds, e.g. customerid_account → customerid. */
    private Column lookupColumn(Table t, String navigation) {
        Column c = t.def.column(navigation);
        if (c != null && c.type() == DataverseSchema.Type.Lookup) {
            return c;
        }
        int cut = navigation.lastIndexOf('_');
        if (cut > 0) {
            Column customer = t.def.column(navigation.substring(0, cut));
            if (customer != null && customer.type() == DataverseSchema.Type.Customer) {
                return customer;
            }
        }
        throw new ApiError(400, "0x80048d19", "Error identified in Payload provided by the user for Entity :'"
                + t.def.entitySet() + "' ----> InnerException : Microsoft.OData.ODataException: An undeclared property '"
                + navigation + "' which only has property annotations in the payload but no property value was found"
                + " in the payload. In OData, only declared navigation properties and declared named streams can be"
                + " represented as properties without values.");
    }

    /** Validates and copies the body's values onto the row. */
    private void apply(Table t, ObjectNode row, ObjectNode body, boolean enforceRules) {
        Iterator<Map.Entry<String, JsonNode>> fields = body.fields();
        while (fields.hasNext()) {
            var f = fields.next();
            String name = f.getKey();
            JsonNode v = f.getValue();
            if (name.startsWith("@odata.")) {
                continue;
            }
            if (name.endsWith("@odata.bind")) {
                String nav = name.substring(0, name.length() - "@odata.bind".length());
                Column c = lookupColumn(t, nav);
                if (v.isNull()) {
                    row.putNull(c.valueProperty());
                    continue;
                }
                Matcher m = BIND.matcher(v.asText());
                if (!m.matches() || !c.targets().contains(m.group(1))) {
                    throw new ApiError(400, "0x80048d19", "The value '" + v.asText() + "' of " + name
                            + " is not a reference to one of " + c.targets() + ".");
                }
                Table target = table(m.group(1));
                String targetId = resolveKey(target, m.group(2));
                if (targetId == null || !target.rows.containsKey(targetId)) {
                    throw new ApiError(404, "0x80040217", target.def.logicalName() + " With Ids = " + m.group(2)
                            + " Do Not Exist");
                }
                row.put(c.valueProperty(), targetId);
                continue;
            }
            Column c = t.def.column(name);
            if (c.system()) {
                continue; // system columns are set by the platform; Dataverse ignores them on write
            }
            if (name.equals(t.def.primaryId())) {
                continue;
            }
            row.set(name, coerce(t, c, v));
        }
        // statecode and statuscode must agree
        Column status = t.def.column("statuscode");
        if (status != null && !status.statusOfState().isEmpty() && body.has("statuscode")) {
            Integer state = status.statusOfState().get(row.path("statuscode").asText());
            if (state != null && state != row.path("statecode").asInt()) {
                throw new ApiError(400, "0x8004431a", "A validation error occurred. The value "
                        + row.path("statuscode").asText() + " of 'statuscode' on record of type '" + t.def.logicalName()
                        + "' is not valid for its state " + row.path("statecode").asInt() + ".");
            }
        }
        if (enforceRules && body.has("statecode") && t.def.logicalName().equals("opportunity")) {
            int state = row.path("statecode").asInt();
            if (state != 0) {
                throw new ApiError(400, "0x80040203", "An opportunity cannot be won or lost by updating statecode;"
                        + " use the WinOpportunity or LoseOpportunity action.");
            }
            if (!body.has("statuscode")) {
                row.put("statuscode", 1);
            }
        }
        for (Column c : t.def.columns().values()) {
            if (c.computed() != null) {
                StringBuilder sb = new StringBuilder();
                for (String part : c.computed().split(" ")) {
                    String s = row.path(part).asText("");
                    if (!s.isEmpty()) {
                        sb.append(sb.length() > 0 ? " " : "").append(s);
                    }
                }
                row.put(c.name(), sb.toString());
            }
        }
    }

    private JsonNode coerce(Table t, Column c, JsonNode v) {
        if (v.isNull()) {
            return v;
        }
        String where = "'" + c.name() + "' of entity '" + t.def.logicalName() + "'";
        switch (c.type()) {
            case String, Memo -> {
                if (!v.isTextual()) {
                    throw typeError(t, v, "Edm.String");
                }
                if (c.maxLength() != null && v.asText().length() > c.maxLength()) {
                    throw new ApiError(400, "0x80044331", "A validation error occurred. The length of the " + where
                            + " exceeded the maximum allowed length of '" + c.maxLength() + "'.");
                }
                return v;
            }
            case Uniqueidentifier -> {
                if (!v.isTextual() || !GUID.matcher(v.asText()).matches()) {
                    throw typeError(t, v, "Edm.Guid");
                }
                return NODES.textNode(v.asText().toLowerCase(Locale.ROOT));
            }
            case Integer, BigInt -> {
                if (!v.isIntegralNumber()) {
                    throw typeError(t, v, "Edm.Int32");
                }
                if ((c.min() != null && v.asLong() < c.min()) || (c.max() != null && v.asLong() > c.max())) {
                    throw new ApiError(400, "0x80044331", "A validation error occurred. The value " + v.asLong()
                            + " of " + where + " is outside the valid range.");
                }
                return v;
            }
            case Decimal, Money, Double -> {
                if (!v.isNumber()) {
                    throw typeError(t, v, c.type() == DataverseSchema.Type.Double ? "Edm.Double" : "Edm.Decimal");
                }
                return NODES.numberNode(v.decimalValue());
            }
            case Boolean -> {
                if (!v.isBoolean()) {
                    throw typeError(t, v, "Edm.Boolean");
                }
                return v;
            }
            case DateOnly -> {
                try {
                    String s = v.asText();
                    return NODES.textNode(LocalDate.parse(s.length() > 10 ? s.substring(0, 10) : s).toString());
                } catch (RuntimeException e) {
                    throw typeError(t, v, "Edm.Date");
                }
            }
            case DateTime -> {
                try {
                    return NODES.textNode(DATETIME.format(OffsetDateTime.parse(v.asText()).toInstant()));
                } catch (RuntimeException e) {
                    throw typeError(t, v, "Edm.DateTimeOffset");
                }
            }
            case Picklist, State, Status -> {
                if (!v.isIntegralNumber()) {
                    throw typeError(t, v, "Edm.Int32");
                }
                if (!c.options().containsKey(v.asText())) {
                    throw new ApiError(400, "0x8004431a", "A validation error occurred. The value " + v.asText()
                            + " of '" + c.name() + "' on record of type '" + t.def.logicalName()
                            + "' is outside the valid range. Accepted Values: " + String.join(",", c.options().keySet()));
                }
                return v;
            }
            case MultiSelectPicklist -> {
                if (!v.isTextual()) {
                    throw typeError(t, v, "Edm.String");
                }
                for (String part : v.asText().split(",")) {
                    if (!c.options().containsKey(part.trim())) {
                        throw new ApiError(400, "0x8004431a", "A validation error occurred. The value " + part
                                + " of '" + c.name() + "' is outside the valid range.");
                    }
                }
                return v;
            }
            default -> throw typeError(t, v, c.type().name());
        }
    }

    private static ApiError typeError(Table t, JsonNode v, String edmType) {
        return new ApiError(400, "0x80048d19", "Error identified in Payload provided by the user for Entity :'"
                + t.def.entitySet() + "', For more information on this error please follow this help link"
                + " https://go.microsoft.com/fwlink/?linkid=2195293 ----> InnerException :"
                + " Microsoft.OData.ODataException: Cannot convert the literal '" + v.asText()
                + "' to the expected type '" + edmType + "'.");
    }

    private void stamp(ObjectNode row, boolean created) {
        String now = DATETIME.format(Instant.now().truncatedTo(ChronoUnit.SECONDS));
        if (created) {
            row.put("createdon", now);
        }
        row.put("modifiedon", now);
        row.put("versionnumber", versions.incrementAndGet());
    }

    private void checkKeysUnique(Table t, String id, ObjectNode row) {
        for (var key : t.def.alternateKeys().entrySet()) {
            String value = keyValue(key.getValue(), row);
            if (value == null) {
                continue;
            }
            String owner = t.keyIndex.get(key.getKey()).get(value);
            if (owner != null && !owner.equals(id)) {
                throw new ApiError(412, "0x80060892", "A record that has the attribute values " + value
                        + " already exists. The entity key " + key.getKey() + " requires that this set of attributes"
                        + " contains unique values. Select unique values and try again.");
            }
        }
    }

    private static String keyValue(List<String> columns, ObjectNode row) {
        StringBuilder sb = new StringBuilder();
        for (String c : columns) {
            JsonNode v = row.get(c);
            if (v == null || v.isNull() || v.asText().isEmpty()) {
                return null;
            }
            sb.append(sb.length() > 0 ? "\u0001" : "").append(v.asText().toLowerCase(Locale.ROOT));
        }
        return sb.toString();
    }

    // =================================================================================== keys

    /** The row id for {@code <guid>} or an alternate key {@code col='v',col2=3}; null when no row has that key. */
    String resolveKey(Table t, String spec) {
        String s = spec.trim();
        if (GUID.matcher(s).matches()) {
            return s.toLowerCase(Locale.ROOT);
        }
        Map<String, String> values = keyValuesOf(t, s);
        for (var key : t.def.alternateKeys().entrySet()) {
            if (key.getValue().size() == values.size() && values.keySet().containsAll(key.getValue())) {
                StringBuilder sb = new StringBuilder();
                for (String c : key.getValue()) {
                    sb.append(sb.length() > 0 ? "\u0001" : "").append(values.get(c).toLowerCase(Locale.ROOT));
                }
                return t.keyIndex.get(key.getKey()).get(sb.toString());
            }
        }
        throw new ApiError(400, "0x80060888", "The key " + values.keySet() + " is not defined as an alternate key"
                + " of entity '" + t.def.logicalName() + "'.");
    }

    private Map<String, String> keyValuesOf(Table t, String spec) {
        Map<String, String> values = new LinkedHashMap<>();
        for (String part : splitKey(spec)) {
            int eq = part.indexOf('=');
            if (eq < 0) {
                throw new ApiError(400, "0x80060888", "Bad key segment '" + spec + "'.");
            }
            String name = part.substring(0, eq).trim();
            String v = part.substring(eq + 1).trim();
            if (v.startsWith("'") && v.endsWith("'") && v.length() >= 2) {
                v = v.substring(1, v.length() - 1).replace("''", "'");
            }
            if (t.def.column(name) == null) {
                throw new ApiError(400, "0x80060888", "Could not find a property named '" + name
                        + "' on type 'Microsoft.Dynamics.CRM." + t.def.logicalName() + "'.");
            }
            values.put(name, v);
        }
        return values;
    }

    private static List<String> splitKey(String spec) {
        List<String> parts = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false;
        for (char ch : spec.toCharArray()) {
            if (ch == '\'') {
                quoted = !quoted;
            }
            if (ch == ',' && !quoted) {
                parts.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(ch);
            }
        }
        parts.add(cur.toString());
        return parts;
    }

    private ApiError notFound(Table t, String keySpec) {
        return GUID.matcher(keySpec.trim()).matches()
                ? new ApiError(404, "0x80040217", t.def.logicalName() + " With Id = " + keySpec.trim() + " Does Not Exist")
                : new ApiError(404, "0x80040217", "A record with the specified key values does not exist in "
                        + t.def.logicalName() + " entity");
    }

    // =================================================================================== representation

    private List<String> select(Table t, String spec) {
        if (spec == null || spec.isBlank()) {
            return null;
        }
        List<String> out = new ArrayList<>();
        for (String s : spec.split(",")) {
            String name = s.trim();
            if (!t.def.knows(name)) {
                throw new ApiError(400, "0x80060888", "Could not find a property named '" + name
                        + "' on type 'Microsoft.Dynamics.CRM." + t.def.logicalName() + "'.");
            }
            out.add(name);
        }
        return out;
    }

    private ObjectNode represent(Table t, ObjectNode row, List<String> select, boolean annotations) {
        ObjectNode out = NODES.objectNode();
        out.put("@odata.etag", etag(row));
        List<String> props = select == null ? t.def.allProperties() : select;
        for (String p : props) {
            JsonNode v = row.get(p);
            out.set(p, v == null ? NODES.nullNode() : v);
            if (annotations && v != null && !v.isNull()) {
                annotate(t, out, p, v);
            }
        }
        if (select != null) {
            out.set(t.def.primaryId(), row.get(t.def.primaryId()));
        }
        return out;
    }

    private void annotate(Table t, ObjectNode out, String property, JsonNode v) {
        Column c = t.def.column(property);
        if (c != null && !c.options().isEmpty()) {
            out.put(property + "@OData.Community.Display.V1.FormattedValue", c.options().getOrDefault(v.asText(),
                    v.asText()));
        } else if (c != null && c.type() == DataverseSchema.Type.Boolean) {
            out.put(property + "@OData.Community.Display.V1.FormattedValue", v.asBoolean() ? "Yes" : "No");
        } else if (property.startsWith("_") && property.endsWith("_value")) {
            Column lookup = t.def.column(property.substring(1, property.length() - 6));
            for (String target : lookup.targets()) {
                Table tt = tables.get(target);
                ObjectNode ref = tt.rows.get(v.asText());
                if (ref != null) {
                    out.put(property + "@Microsoft.Dynamics.CRM.lookuplogicalname", tt.def.logicalName());
                    out.put(property + "@OData.Community.Display.V1.FormattedValue",
                            ref.path(tt.def.primaryName()).asText());
                }
            }
        }
    }

    static String etag(ObjectNode row) {
        return "W/\"" + row.path("versionnumber").asLong() + "\"";
    }

    private String selectSuffix(Request r) {
        String s = r.query().get("$select");
        return s == null || s.isBlank() ? "" : "(" + s.replace(" ", "") + ")";
    }

    private static boolean prefers(Request r, String token) {
        String prefer = r.header("Prefer");
        return prefer != null && prefer.toLowerCase(Locale.ROOT).contains(token);
    }

    private static boolean annotations(Request r) {
        String prefer = r.header("Prefer");
        return prefer != null && prefer.contains("odata.include-annotations");
    }

    private static int parseInt(String s, String what) {
        try {
            return Integer.parseInt(s.trim());
        } catch (NumberFormatException e) {
            throw new ApiError(400, "0x80060888", "Invalid value '" + s + "' for " + what + ".");
        }
    }

    private static String withParam(String rawQuery, String name, String value) {
        String q = withoutParam(rawQuery == null ? "" : rawQuery, name);
        String encoded = URLEncoder.encode(value, StandardCharsets.UTF_8).replace("+", "%20");
        return (q.isEmpty() ? "" : q + "&") + name + "=" + encoded;
    }

    private static String withoutParam(String rawQuery, String name) {
        if (rawQuery == null || rawQuery.isEmpty()) {
            return "";
        }
        List<String> kept = new ArrayList<>();
        for (String p : rawQuery.split("&")) {
            String key = URLDecoder.decode(p.contains("=") ? p.substring(0, p.indexOf('=')) : p, StandardCharsets.UTF_8);
            if (!key.equals(name)) {
                kept.add(p);
            }
        }
        return String.join("&", kept);
    }

    String base() {
        return baseUrl.get() + PREFIX;
    }

    // =================================================================================== responses

    static Response json(int status, JsonNode body) {
        return json(status, body, Map.of("OData-Version", "4.0"));
    }

    static Response json(int status, JsonNode body, Map<String, String> headers) {
        Map<String, String> h = new LinkedHashMap<>(headers);
        h.put("Content-Type", "application/json; odata.metadata=minimal");
        try {
            return new Response(status, h, JSON.writeValueAsBytes(body));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static Response error(int status, String code, String message) {
        ObjectNode body = NODES.objectNode();
        body.putObject("error").put("code", code).put("message", message);
        return json(status, body);
    }

    // =================================================================================== change sets

    /**
     * Runs a change set atomically: all of it, or none of it when one request fails (then only the
     * failing response is returned). {@code next} builds request i from the responses so far, which
     * is how {@code $1} references reach the records created earlier in the set.
     */
    List<Response> changeSet(int size, java.util.function.BiFunction<Integer, List<Response>, Request> next) {
        lock.writeLock().lock();
        Deque<Runnable> log = new ArrayDeque<>();
        undo.set(log);
        try {
            List<Response> out = new ArrayList<>();
            for (int i = 0; i < size; i++) {
                Response resp = handle(next.apply(i, out));
                out.add(resp);
                if (resp.status() >= 400) {
                    while (!log.isEmpty()) {
                        log.pop().run();
                    }
                    return List.of(resp);
                }
            }
            return out;
        } finally {
            undo.remove();
            lock.writeLock().unlock();
        }
    }

    // =================================================================================== admin

    /** Inserts or replaces rows as they are (admin seeding); returns their ids. */
    public List<String> seed(String entitySet, List<ObjectNode> rows) {
        Table t = table(entitySet);
        List<String> ids = new ArrayList<>();
        lock.writeLock().lock();
        try {
            for (ObjectNode body : rows) {
                String id = body.hasNonNull(t.def.primaryId()) ? body.get(t.def.primaryId()).asText().toLowerCase(Locale.ROOT)
                        : UUID.randomUUID().toString();
                ObjectNode row = t.rows.containsKey(id) ? t.rows.get(id).deepCopy() : newRow(t, id);
                ObjectNode payload = parseBodyLenient(t, body);
                apply(t, row, payload, false);
                stamp(row, !t.rows.containsKey(id));
                t.put(id, row);
                ids.add(id);
            }
        } finally {
            lock.writeLock().unlock();
        }
        return ids;
    }

    private ObjectNode parseBodyLenient(Table t, ObjectNode body) {
        Request fake = new Request("POST", t.def.entitySet(), Map.of(), "", Map.of(), body.toString()
                .getBytes(StandardCharsets.UTF_8));
        return parseBody(fake, t);
    }

    /** A copy of a row as stored, or null. */
    public ObjectNode row(String entitySet, String id) {
        ObjectNode r = table(entitySet).rows.get(id.toLowerCase(Locale.ROOT));
        return r == null ? null : r.deepCopy();
    }

    /** Copies of all rows of a table (tests and admin inspection). */
    public List<ObjectNode> rows(String entitySet) {
        List<ObjectNode> out = new ArrayList<>();
        table(entitySet).rows.values().forEach(r -> out.add(r.deepCopy()));
        return out;
    }

    public int count(String entitySet) {
        return table(entitySet).rows.size();
    }

    /** The components a solution received through MSCRM.SolutionUniqueName ("opportunity.cosell_referralid", ...). */
    public List<String> solutionComponents(String solution) {
        return metadata.solutionComponents(solution);
    }

    /** The ParameterXml of every PublishXml call, in order. */
    public List<String> published() {
        return metadata.published();
    }

    /** Column, key, choice and change-tracking changes made through the metadata API. */
    public int metadataWrites() {
        return metadata.metadataWrites();
    }

    /** How long a new alternate key takes to become Active (Pending, InProgress first). */
    public void setKeyBuildMillis(long millis) {
        metadata.keyBuildMillis = millis;
    }

    /** Whether a table has a column (tests). */
    public boolean hasColumn(String entitySet, String column) {
        return table(entitySet).def.column(column) != null;
    }

    public boolean changeTracking(String entitySet) {
        return table(entitySet).changeTracking;
    }

    public void setChangeTracking(String entitySet, boolean enabled) {
        table(entitySet).changeTracking = enabled;
    }

    /**
     * Expires every delta token issued so far for a table, as Dataverse does after the organisation's
     * change tracking retention: following an old delta link then fails with 0x80044352.
     */
    public void expireDeltaTokens(String entitySet) {
        Table t = table(entitySet);
        lock.writeLock().lock();
        try {
            t.horizon = versions.incrementAndGet();
            t.tombstones.headMap(t.horizon).clear();
        } finally {
            lock.writeLock().unlock();
        }
    }

    public void clear() {
        lock.writeLock().lock();
        try {
            tables.values().forEach(t -> {
                t.rows.clear();
                t.tombstones.clear();
                t.keyIndex.values().forEach(Map::clear);
            });
            seedCurrencies();
        } finally {
            lock.writeLock().unlock();
        }
    }

    private void seedCurrencies() {
        Table t = tables.get("transactioncurrencies");
        if (t == null) {
            return;
        }
        String[][] currencies = { { "USD", "US Dollar", "$" }, { "EUR", "Euro", "€" }, { "GBP", "Pound Sterling", "£" },
                { "CAD", "Canadian Dollar", "$" }, { "AUD", "Australian Dollar", "$" }, { "JPY", "Yen", "¥" } };
        for (String[] c : currencies) {
            String id = UUID.nameUUIDFromBytes(("currency-" + c[0]).getBytes(StandardCharsets.UTF_8)).toString();
            ObjectNode row = NODES.objectNode().put("transactioncurrencyid", id).put("isocurrencycode", c[0])
                    .put("currencyname", c[1]).put("currencysymbol", c[2]);
            stamp(row, true);
            t.rows.put(id, row);
        }
    }

    /** Number of rows with a given value in a column (tests). */
    public long countWhere(String entitySet, String column, String value) {
        return table(entitySet).rows.values().stream().filter(r -> Objects.equals(r.path(column).asText(null), value))
                .count();
    }

    TreeMap<String, Integer> tableSizes() {
        TreeMap<String, Integer> out = new TreeMap<>();
        tables.forEach((k, v) -> out.put(k, v.rows.size()));
        return out;
    }
}
