package dev.cosell.connector.sandbox.dataverse;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.BooleanNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.dataverse.DataverseApi.ApiError;
import dev.cosell.connector.sandbox.dataverse.DataverseApi.Request;
import dev.cosell.connector.sandbox.dataverse.DataverseApi.Response;
import dev.cosell.connector.sandbox.dataverse.DataverseApi.Table;
import dev.cosell.connector.sandbox.dataverse.DataverseSchema.Column;
import dev.cosell.connector.sandbox.dataverse.DataverseSchema.Type;

/**
 * The metadata part of the Dataverse Web API, as documented ("Create and update table/column definitions
 * using the Web API", "Define alternate keys using the Web API", change tracking, PublishXml):
 * {@code EntityDefinitions(LogicalName='x')} with {@code $expand} of {@code Attributes} and {@code Keys}
 * (the emulator answers every property, whatever {@code $select} asks), typed casts of {@code Attributes}
 * ({@code /Microsoft.Dynamics.CRM.PicklistAttributeMetadata}, String, Memo, ...), POST of a column and of a
 * key, PUT of a table definition (ChangeTrackingEnabled), {@code InsertOptionValue} and {@code PublishXml}.
 * <p>
 * A column created here is at once a column of the data API. A new alternate key is Pending, then
 * InProgress, then (after {@link #keyBuildMillis}) Active, when its index is built from the rows; duplicate
 * values make it Failed. With {@code MSCRM.SolutionUniqueName} the solution must exist and the schema name
 * must carry its publisher's prefix; the component is recorded in the solution.
 */
final class DataverseMetadata {

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final Pattern PATH = Pattern.compile(
            "^EntityDefinitions(?:\\(([^)]*)\\))?(?:/(Attributes|Keys)(?:\\(([^)]*)\\))?(?:/Microsoft\\.Dynamics\\.CRM\\.(\\w+))?)?$");
    private static final Pattern KEY_SPEC = Pattern.compile("^\\s*(?:LogicalName\\s*=\\s*'([^']*)'|([0-9a-fA-F-]{36}))\\s*$");

    /** A key being built: when it was asked for, and its final state once decided. */
    private static final class Building {
        final String table;
        final String logicalName;
        final String schemaName;
        final List<String> columns;
        final long createdNanos = System.nanoTime();
        volatile String status = "Pending";

        Building(String table, String logicalName, String schemaName, List<String> columns) {
            this.table = table;
            this.logicalName = logicalName;
            this.schemaName = schemaName;
            this.columns = columns;
        }
    }

    private final DataverseApi api;
    private final Map<String, Building> keys = new ConcurrentHashMap<>();
    private final Map<String, List<String>> solutionComponents = new ConcurrentHashMap<>();
    private final List<String> published = new CopyOnWriteArrayList<>();
    private final AtomicInteger metadataWrites = new AtomicInteger();
    volatile long keyBuildMillis = 1500;

    DataverseMetadata(DataverseApi api) {
        this.api = api;
    }

    boolean handles(String path) {
        return path.startsWith("EntityDefinitions") || path.equals("PublishXml") || path.equals("InsertOptionValue");
    }

    Response handle(Request r) {
        if (r.path().equals("PublishXml")) {
            requirePost(r);
            JsonNode body = body(r);
            published.add(body.path("ParameterXml").asText());
            return new Response(204, Map.of("OData-Version", "4.0"), new byte[0]);
        }
        if (r.path().equals("InsertOptionValue")) {
            requirePost(r);
            return insertOptionValue(r, body(r));
        }
        Matcher m = PATH.matcher(r.path());
        if (!m.matches()) {
            throw new ApiError(404, "0x80060888", "Resource not found for the segment '" + r.path() + "'.");
        }
        String entityKey = m.group(1);
        String nav = m.group(2);
        String navKey = m.group(3);
        String cast = m.group(4);
        if (entityKey == null) {
            if (!r.method().equals("GET")) {
                throw new ApiError(405, "0x80060888", "Creating tables is not emulated.");
            }
            ArrayNode value = NODES.arrayNode();
            api.tables.values().forEach(t -> value.add(entity(t, false, false)));
            return list(value, "EntityDefinitions");
        }
        Table t = table(entityKey);
        if (nav == null) {
            return switch (r.method()) {
                case "GET" -> {
                    String expand = r.query().getOrDefault("$expand", "");
                    ObjectNode e = entity(t, expand.contains("Attributes"), expand.contains("Keys"));
                    e.put("@odata.context", api.base() + "$metadata#EntityDefinitions/$entity");
                    yield DataverseApi.json(200, e);
                }
                case "PUT" -> updateEntity(t, body(r));
                default -> throw new ApiError(405, "0x80060888", "The HTTP method " + r.method() + " is not allowed here.");
            };
        }
        if (nav.equals("Attributes")) {
            if (r.method().equals("POST") && navKey == null) {
                return createAttribute(t, body(r), r.header("MSCRM.SolutionUniqueName"));
            }
            requireGet(r);
            if (navKey != null) {
                String name = keyName(navKey);
                Column c = t.def.columns().values().stream().filter(col -> col.name().equals(name)
                        || metadataId("attribute-" + t.def.logicalName() + "." + col.name()).equals(name)).findFirst()
                        .orElseThrow(() -> new ApiError(404, "0x80040217", "Could not find attribute " + name + " of "
                                + t.def.logicalName()));
                if (cast != null && !cast.equals(odataType(c))) {
                    throw new ApiError(404, "0x80060888", "The attribute " + name + " is not a " + cast);
                }
                return DataverseApi.json(200, attribute(t, c));
            }
            ArrayNode value = NODES.arrayNode();
            for (Column c : List.copyOf(t.def.columns().values())) {
                if (cast == null || cast.equals(odataType(c))) {
                    value.add(attribute(t, c));
                }
            }
            return list(value, "EntityDefinitions('" + t.def.logicalName() + "')/Attributes");
        }
        // Keys
        if (r.method().equals("POST") && navKey == null) {
            return createKey(t, body(r), r.header("MSCRM.SolutionUniqueName"));
        }
        requireGet(r);
        if (navKey != null) {
            String name = keyName(navKey);
            return keysOf(t).stream().filter(k -> k.path("LogicalName").asText().equals(name)
                    || k.path("MetadataId").asText().equals(name)).findFirst().map(k -> DataverseApi.json(200, k))
                    .orElseThrow(() -> new ApiError(404, "0x80040217", "Could not find key " + name));
        }
        ArrayNode value = NODES.arrayNode();
        keysOf(t).forEach(value::add);
        return list(value, "EntityDefinitions('" + t.def.logicalName() + "')/Keys");
    }

    // ------------------------------------------------------------------------------ keys

    /** Moves keys on as their build time passes: Pending, InProgress, then Active (index built) or Failed. */
    void advanceKeys() {
        if (keys.isEmpty()) {
            return;
        }
        for (Building b : keys.values()) {
            if (!b.status.equals("Pending") && !b.status.equals("InProgress")) {
                continue;
            }
            long elapsed = (System.nanoTime() - b.createdNanos) / 1_000_000;
            if (elapsed < keyBuildMillis / 3) {
                continue;
            }
            if (elapsed < keyBuildMillis) {
                b.status = "InProgress";
                continue;
            }
            api.lock.writeLock().lock();
            try {
                if (!b.status.equals("Active") && !b.status.equals("Failed")) {
                    b.status = activate(b) ? "Active" : "Failed";
                }
            } finally {
                api.lock.writeLock().unlock();
            }
        }
    }

    private boolean activate(Building b) {
        Table t = byLogicalName(b.table);
        Map<String, String> index = new ConcurrentHashMap<>();
        Set<String> seen = new HashSet<>();
        for (var row : t.rows.entrySet()) {
            String v = keyValue(b.columns, row.getValue());
            if (v != null) {
                if (!seen.add(v)) {
                    return false;
                }
                index.put(v, row.getKey());
            }
        }
        t.keyIndex.put(b.logicalName, index);
        t.def.alternateKeys().put(b.logicalName, b.columns);
        return true;
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

    private Response createKey(Table t, JsonNode body, String solution) {
        String schemaName = body.path("SchemaName").asText("");
        if (schemaName.isEmpty() || !body.path("KeyAttributes").isArray() || body.path("KeyAttributes").isEmpty()) {
            throw new ApiError(400, "0x80040203", "An entity key needs SchemaName and KeyAttributes.");
        }
        List<String> columns = new ArrayList<>();
        body.path("KeyAttributes").forEach(a -> columns.add(a.asText()));
        for (String c : columns) {
            if (t.def.column(c) == null) {
                throw new ApiError(400, "0x80040203", "Attribute " + c + " does not exist on " + t.def.logicalName() + ".");
            }
        }
        String logical = schemaName.toLowerCase(Locale.ROOT);
        checkSolution(solution, logical, t.def.logicalName() + " key " + logical);
        api.lock.writeLock().lock();
        try {
            boolean exists = keysOf(t).stream().anyMatch(k -> k.path("LogicalName").asText().equals(logical)
                    || Set.copyOf(columnsOf(k)).equals(Set.copyOf(columns)));
            if (exists) {
                throw new ApiError(400, "0x80048405", "An entity key with the name " + logical
                        + " or the same attributes already exists on " + t.def.logicalName() + ".");
            }
            keys.put(t.def.logicalName() + "." + logical, new Building(t.def.logicalName(), logical, schemaName, columns));
            metadataWrites.incrementAndGet();
        } finally {
            api.lock.writeLock().unlock();
        }
        String id = metadataId("key-" + t.def.logicalName() + "." + logical);
        return new Response(204, Map.of("OData-Version", "4.0", "OData-EntityId", api.base() + "EntityDefinitions(LogicalName='"
                + t.def.logicalName() + "')/Keys(" + id + ")"), new byte[0]);
    }

    private static List<String> columnsOf(JsonNode key) {
        List<String> out = new ArrayList<>();
        key.path("KeyAttributes").forEach(a -> out.add(a.asText()));
        return out;
    }

    private List<ObjectNode> keysOf(Table t) {
        advanceKeys();
        List<ObjectNode> out = new ArrayList<>();
        Set<String> listed = new HashSet<>();
        for (Building b : keys.values()) {
            if (b.table.equals(t.def.logicalName())) {
                out.add(key(t, b.logicalName, b.schemaName, b.columns, b.status));
                listed.add(b.logicalName);
            }
        }
        t.def.alternateKeys().forEach((name, cols) -> {
            if (!listed.contains(name)) {
                out.add(key(t, name, name, cols, "Active"));
            }
        });
        return out;
    }

    private ObjectNode key(Table t, String logical, String schema, List<String> columns, String status) {
        ObjectNode k = NODES.objectNode();
        k.put("MetadataId", metadataId("key-" + t.def.logicalName() + "." + logical));
        k.put("LogicalName", logical);
        k.put("SchemaName", schema);
        k.put("EntityLogicalName", t.def.logicalName());
        ArrayNode a = k.putArray("KeyAttributes");
        columns.forEach(a::add);
        k.put("EntityKeyIndexStatus", status);
        return k;
    }

    // ------------------------------------------------------------------------------ columns

    private Response createAttribute(Table t, JsonNode body, String solution) {
        String odataType = body.path("@odata.type").asText("").replaceFirst("^#", "").replace("Microsoft.Dynamics.CRM.", "");
        Type type = switch (odataType) {
            case "StringAttributeMetadata" -> Type.String;
            case "MemoAttributeMetadata" -> Type.Memo;
            case "BooleanAttributeMetadata" -> Type.Boolean;
            case "PicklistAttributeMetadata" -> Type.Picklist;
            case "MoneyAttributeMetadata" -> Type.Money;
            case "IntegerAttributeMetadata" -> Type.Integer;
            case "DecimalAttributeMetadata" -> Type.Decimal;
            case "DoubleAttributeMetadata" -> Type.Double;
            case "BigIntAttributeMetadata" -> Type.BigInt;
            case "DateTimeAttributeMetadata" -> "DateOnly".equals(body.path("DateTimeBehavior").path("Value").asText())
                    || "DateOnly".equals(body.path("Format").asText()) ? Type.DateOnly : Type.DateTime;
            default -> throw new ApiError(400, "0x80040203", "The @odata.type '" + body.path("@odata.type").asText()
                    + "' is not a column type the emulator creates.");
        };
        String schemaName = body.path("SchemaName").asText("");
        if (!schemaName.matches("[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+")) {
            throw new ApiError(400, "0x80040203", "SchemaName '" + schemaName + "' must start with a customization prefix"
                    + " and an underscore.");
        }
        String logical = schemaName.toLowerCase(Locale.ROOT);
        checkSolution(solution, logical, t.def.logicalName() + "." + logical);
        Integer maxLength = body.hasNonNull("MaxLength") ? body.get("MaxLength").asInt() : null;
        if ((type == Type.String || type == Type.Memo) && maxLength == null) {
            maxLength = type == Type.String ? 100 : 2000;
        }
        Map<String, String> options = new LinkedHashMap<>();
        body.path("OptionSet").path("Options").forEach(o -> options.put(o.path("Value").asText(), label(o.path("Label"))));
        JsonNode defaultValue = type == Type.Boolean ? BooleanNode.valueOf(body.path("DefaultValue").asBoolean(false)) : null;
        Column c = new Column(logical, type, maxLength, null, null, false, false, defaultValue, options, List.of(),
                Map.of(), null, label(body.path("DisplayName")));
        api.lock.writeLock().lock();
        try {
            if (t.def.column(logical) != null) {
                throw new ApiError(400, "0x80044363", "An attribute named " + logical + " already exists on "
                        + t.def.logicalName() + ".");
            }
            t.def.columns().put(logical, c);
            metadataWrites.incrementAndGet();
        } finally {
            api.lock.writeLock().unlock();
        }
        String id = metadataId("attribute-" + t.def.logicalName() + "." + logical);
        return new Response(204, Map.of("OData-Version", "4.0", "OData-EntityId", api.base() + "EntityDefinitions(LogicalName='"
                + t.def.logicalName() + "')/Attributes(" + id + ")"), new byte[0]);
    }

    private Response insertOptionValue(Request r, JsonNode body) {
        Table t = byLogicalName(body.path("EntityLogicalName").asText());
        Column c = t.def.column(body.path("AttributeLogicalName").asText());
        if (c == null || c.type() != Type.Picklist) {
            throw new ApiError(400, "0x80040203", "No choice column " + body.path("AttributeLogicalName").asText()
                    + " on " + t.def.logicalName() + ".");
        }
        String value = body.path("Value").asText();
        api.lock.writeLock().lock();
        try {
            if (c.options().containsKey(value)) {
                throw new ApiError(400, "0x80044151", "A choice with the value " + value + " already exists.");
            }
            c.options().put(value, label(body.path("Label")));
            metadataWrites.incrementAndGet();
        } finally {
            api.lock.writeLock().unlock();
        }
        return DataverseApi.json(200, NODES.objectNode().put("@odata.context", api.base()
                + "$metadata#Microsoft.Dynamics.CRM.InsertOptionValueResponse").put("NewOptionValue", Integer.parseInt(value)));
    }

    private Response updateEntity(Table t, JsonNode body) {
        if (body.has("LogicalName") && !body.path("LogicalName").asText().equals(t.def.logicalName())) {
            throw new ApiError(400, "0x80040203", "The definition is of " + body.path("LogicalName").asText()
                    + ", not " + t.def.logicalName() + ".");
        }
        if (body.has("ChangeTrackingEnabled")) {
            boolean on = body.path("ChangeTrackingEnabled").asBoolean();
            if (on != t.changeTracking) {
                t.changeTracking = on;
                metadataWrites.incrementAndGet();
            }
        }
        return new Response(204, Map.of("OData-Version", "4.0"), new byte[0]);
    }

    // ------------------------------------------------------------------------------ solutions

    private void checkSolution(String solution, String logicalName, String component) {
        if (solution == null || solution.isBlank()) {
            return;
        }
        ObjectNode sol = api.rows("solutions").stream().filter(s -> solution.equals(s.path("uniquename").asText()))
                .findFirst().orElseThrow(() -> new ApiError(400, "0x8004F026", "The solution " + solution
                        + " (MSCRM.SolutionUniqueName) does not exist."));
        String publisherId = sol.path("_publisherid_value").asText(sol.path("publisherid").asText());
        ObjectNode publisher = publisherId.isEmpty() ? null : api.row("publishers", publisherId);
        String prefix = publisher == null ? null : publisher.path("customizationprefix").asText();
        if (prefix != null && !logicalName.startsWith(prefix + "_")) {
            throw new ApiError(400, "0x80040203", "The schema name " + logicalName + " must begin with the prefix "
                    + prefix + "_ of the publisher of solution " + solution + ".");
        }
        solutionComponents.computeIfAbsent(solution, k -> new CopyOnWriteArrayList<>()).add(component);
    }

    List<String> solutionComponents(String solution) {
        return List.copyOf(solutionComponents.getOrDefault(solution, List.of()));
    }

    List<String> published() {
        return List.copyOf(published);
    }

    int metadataWrites() {
        return metadataWrites.get();
    }

    // ------------------------------------------------------------------------------ representation

    private ObjectNode entity(Table t, boolean withAttributes, boolean withKeys) {
        ObjectNode e = NODES.objectNode();
        e.put("@odata.type", "#Microsoft.Dynamics.CRM.EntityMetadata");
        e.put("MetadataId", metadataId("entity-" + t.def.logicalName()));
        e.put("LogicalName", t.def.logicalName());
        e.put("SchemaName", t.def.logicalName().substring(0, 1).toUpperCase(Locale.ROOT) + t.def.logicalName().substring(1));
        e.put("EntitySetName", t.def.entitySet());
        e.put("PrimaryIdAttribute", t.def.primaryId());
        e.put("PrimaryNameAttribute", t.def.primaryName());
        e.put("IsCustomEntity", false);
        e.put("ChangeTrackingEnabled", t.changeTracking);
        e.set("DisplayName", labelNode(e.path("SchemaName").asText()));
        if (withAttributes) {
            ArrayNode a = e.putArray("Attributes");
            List.copyOf(t.def.columns().values()).forEach(c -> a.add(attribute(t, c)));
        }
        if (withKeys) {
            ArrayNode k = e.putArray("Keys");
            keysOf(t).forEach(k::add);
        }
        return e;
    }

    private ObjectNode attribute(Table t, Column c) {
        ObjectNode a = NODES.objectNode();
        a.put("@odata.type", "#Microsoft.Dynamics.CRM." + odataType(c));
        a.put("MetadataId", metadataId("attribute-" + t.def.logicalName() + "." + c.name()));
        a.put("LogicalName", c.name());
        a.put("SchemaName", c.name());
        a.put("EntityLogicalName", t.def.logicalName());
        String attributeType = switch (c.type()) {
            case DateOnly -> "DateTime";
            case Uniqueidentifier -> "Uniqueidentifier";
            default -> c.type().name();
        };
        a.put("AttributeType", attributeType);
        a.putObject("AttributeTypeName").put("Value", attributeType + "Type");
        a.put("IsCustomAttribute", c.name().contains("_") && !c.name().startsWith("address1_"));
        a.set("DisplayName", labelNode(c.displayName() != null ? c.displayName() : c.name()));
        if (c.maxLength() != null) {
            a.put("MaxLength", c.maxLength());
        }
        if (c.type() == Type.DateOnly || c.type() == Type.DateTime) {
            a.putObject("DateTimeBehavior").put("Value", c.type() == Type.DateOnly ? "DateOnly" : "UserLocal");
            a.put("Format", c.type() == Type.DateOnly ? "DateOnly" : "DateAndTime");
        }
        if (c.type() == Type.Boolean && c.defaultValue() != null) {
            a.put("DefaultValue", c.defaultValue().asBoolean());
        }
        if (c.type() == Type.Picklist || c.type() == Type.State || c.type() == Type.Status) {
            ObjectNode os = a.putObject("OptionSet");
            os.put("IsGlobal", false);
            os.put("OptionSetType", c.type() == Type.Picklist ? "Picklist" : c.type().name());
            ArrayNode opts = os.putArray("Options");
            c.options().forEach((v, l) -> {
                ObjectNode o = opts.addObject();
                o.put("Value", Integer.parseInt(v));
                o.set("Label", labelNode(l));
            });
        }
        return a;
    }

    private static String odataType(Column c) {
        return switch (c.type()) {
            case String -> "StringAttributeMetadata";
            case Memo -> "MemoAttributeMetadata";
            case Boolean -> "BooleanAttributeMetadata";
            case Picklist -> "PicklistAttributeMetadata";
            case State -> "StateAttributeMetadata";
            case Status -> "StatusAttributeMetadata";
            case Money -> "MoneyAttributeMetadata";
            case Integer -> "IntegerAttributeMetadata";
            case BigInt -> "BigIntAttributeMetadata";
            case Decimal -> "DecimalAttributeMetadata";
            case Double -> "DoubleAttributeMetadata";
            case DateOnly, DateTime -> "DateTimeAttributeMetadata";
            case Lookup, Customer -> "LookupAttributeMetadata";
            case Uniqueidentifier -> "UniqueIdentifierAttributeMetadata";
            case MultiSelectPicklist -> "MultiSelectPicklistAttributeMetadata";
        };
    }

    private static ObjectNode labelNode(String text) {
        ObjectNode l = NODES.objectNode();
        ObjectNode localized = NODES.objectNode().put("Label", text).put("LanguageCode", 1033);
        l.putArray("LocalizedLabels").add(localized);
        l.set("UserLocalizedLabel", localized.deepCopy());
        return l;
    }

    private static String label(JsonNode label) {
        JsonNode u = label.path("UserLocalizedLabel").path("Label");
        if (u.isTextual()) {
            return u.asText();
        }
        JsonNode first = label.path("LocalizedLabels").path(0).path("Label");
        return first.isTextual() ? first.asText() : null;
    }

    private Response list(ArrayNode value, String context) {
        ObjectNode out = NODES.objectNode();
        out.put("@odata.context", api.base() + "$metadata#" + context);
        out.set("value", value);
        return DataverseApi.json(200, out);
    }

    // ------------------------------------------------------------------------------ helpers

    private Table table(String spec) {
        String name = keyName(spec);
        for (Table t : api.tables.values()) {
            if (t.def.logicalName().equals(name) || metadataId("entity-" + t.def.logicalName()).equals(name)) {
                return t;
            }
        }
        throw new ApiError(404, "0x80040217", "Could not find an entity with the key " + spec + ".");
    }

    private Table byLogicalName(String name) {
        for (Table t : api.tables.values()) {
            if (t.def.logicalName().equals(name)) {
                return t;
            }
        }
        throw new ApiError(404, "0x80040217", "Could not find an entity named " + name + ".");
    }

    private static String keyName(String spec) {
        Matcher m = KEY_SPEC.matcher(spec);
        if (!m.matches()) {
            throw new ApiError(400, "0x80060888", "Bad key segment '" + spec + "'.");
        }
        return m.group(1) != null ? m.group(1) : m.group(2).toLowerCase(Locale.ROOT);
    }

    static String metadataId(String what) {
        return UUID.nameUUIDFromBytes(what.getBytes(StandardCharsets.UTF_8)).toString();
    }

    private static JsonNode body(Request r) {
        try {
            return r.body() == null || r.body().length == 0 ? NODES.objectNode() : DataverseApi.JSON.readTree(r.body());
        } catch (Exception e) {
            throw new ApiError(400, "0x80060891", "The body is not JSON: " + e.getMessage());
        }
    }

    private static void requireGet(Request r) {
        if (!r.method().equals("GET")) {
            throw new ApiError(405, "0x80060888", "The HTTP method " + r.method() + " is not allowed here.");
        }
    }

    private static void requirePost(Request r) {
        if (!r.method().equals("POST")) {
            throw new ApiError(405, "0x80060888", "The HTTP method " + r.method() + " is not allowed here.");
        }
    }
}
