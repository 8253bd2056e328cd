package dev.cosell.connector.sandbox.dataverse;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/** The tables, columns and alternate keys the Dataverse emulator serves (from {@code sandbox/dataverse-schema.json}). */
public final class DataverseSchema {

    /** Column types, named after Dataverse's attribute types. */
    enum Type {
        Uniqueidentifier, String, Memo, Integer, BigInt, Decimal, Money, Double, Boolean, DateOnly, DateTime,
        Picklist, MultiSelectPicklist, State, Status, Lookup, Customer
    }

    record Column(String name, Type type, Integer maxLength, Long min, Long max, boolean required, boolean system,
            JsonNode defaultValue, Map<String, String> options, List<String> targets, Map<String, Integer> statusOfState,
            String computed, String displayName) {

        Column(String name, Type type, Integer maxLength, Long min, Long max, boolean required, boolean system,
                JsonNode defaultValue, Map<String, String> options, List<String> targets,
                Map<String, Integer> statusOfState, String computed) {
            this(name, type, maxLength, min, max, required, system, defaultValue, options, targets, statusOfState,
                    computed, null);
        }

        boolean isLookup() {
            return type == Type.Lookup || type == Type.Customer;
        }

        /** The read-side property of a lookup, e.g. {@code _parentaccountid_value}. */
        String valueProperty() {
            return "_" + name + "_value";
        }
    }

    record Entity(String logicalName, String entitySet, String primaryId, String primaryName, boolean changeTracking,
            Map<String, List<String>> alternateKeys, Map<String, Column> columns) {

        Column column(String name) {
            return columns.get(name);
        }

        /** Whether a $filter/$select/$orderby name refers to this table (columns and lookup value properties). */
        boolean knows(String property) {
            if (columns.containsKey(property)) {
                Column c = columns.get(property);
                return !c.isLookup();
            }
            if (property.startsWith("_") && property.endsWith("_value")) {
                Column c = columns.get(property.substring(1, property.length() - 6));
                return c != null && c.isLookup();
            }
            return false;
        }

        /** Properties returned when no $select is given: every column, lookups as their value property. */
        List<String> allProperties() {
            List<String> out = new ArrayList<>();
            for (Column c : columns.values()) {
                out.add(c.isLookup() ? c.valueProperty() : c.name());
            }
            return out;
        }
    }

    private final Map<String, Entity> bySet = new LinkedHashMap<>();

    private DataverseSchema() {
    }

    public static DataverseSchema load(InputStream in) throws IOException {
        JsonNode root = new ObjectMapper().readTree(in);
        DataverseSchema schema = new DataverseSchema();
        for (JsonNode e : root.path("entities")) {
            Map<String, Column> cols = new LinkedHashMap<>();
            e.path("columns").fields().forEachRemaining(f -> cols.put(f.getKey(), column(f.getKey(), f.getValue())));
            Map<String, List<String>> keys = new LinkedHashMap<>();
            e.path("alternateKeys").fields().forEachRemaining(f -> {
                List<String> parts = new ArrayList<>();
                f.getValue().forEach(p -> parts.add(p.asText()));
                keys.put(f.getKey(), parts);
            });
            Entity entity = new Entity(e.path("logicalName").asText(), e.path("entitySet").asText(),
                    e.path("primaryId").asText(), e.path("primaryName").asText(), e.path("changeTracking").asBoolean(),
                    keys, cols);
            schema.bySet.put(entity.entitySet(), entity);
        }
        return schema;
    }

    /** How the emulator's tables start: {@code provisioned} (the default) or {@code empty}. */
    public static DataverseSchema named(String name) {
        return switch (name == null || name.isBlank() ? "provisioned" : name.trim()) {
            case "provisioned" -> standard();
            case "empty" -> unprovisioned();
            default -> throw new IllegalArgumentException("sandbox.dataverse.schema must be provisioned or empty, not " + name);
        };
    }

    /**
     * The tables as a new Dynamics 365 Sales environment has them: the standard columns only (no column of a
     * publisher prefix, no alternate key, change tracking off). Whatever else there is comes through the
     * metadata API (cosell-connector provision, or a test creating Microsoft-named columns).
     */
    public static DataverseSchema unprovisioned() {
        DataverseSchema full = standard();
        DataverseSchema schema = new DataverseSchema();
        for (Entity e : full.entities()) {
            Map<String, Column> cols = new LinkedHashMap<>();
            e.columns().forEach((n, c) -> {
                if (!n.contains("_") || n.startsWith("address1_") || e.logicalName().equals("publisher")
                        || e.logicalName().equals("solution")) {
                    cols.put(n, c);
                }
            });
            schema.bySet.put(e.entitySet(), new Entity(e.logicalName(), e.entitySet(), e.primaryId(), e.primaryName(),
                    false, new LinkedHashMap<>(), cols));
        }
        return schema;
    }

    public static DataverseSchema standard() {
        try (InputStream in = DataverseSchema.class.getResourceAsStream("/sandbox/dataverse-schema.json")) {
            return load(in);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read sandbox/dataverse-schema.json", e);
        }
    }

    Entity entity(String entitySet) {
        return bySet.get(entitySet);
    }

    Collection<Entity> entities() {
        return bySet.values();
    }

    private static Column column(String name, JsonNode c) {
        Map<String, String> options = new LinkedHashMap<>();
        c.path("options").fields().forEachRemaining(f -> options.put(f.getKey(), f.getValue().asText()));
        List<String> targets = new ArrayList<>();
        c.path("targets").forEach(t -> targets.add(t.asText()));
        Map<String, Integer> statusOfState = new LinkedHashMap<>();
        c.path("statusOfState").fields().forEachRemaining(f -> statusOfState.put(f.getKey(), f.getValue().asInt()));
        return new Column(name, Type.valueOf(c.path("type").asText()),
                c.has("maxLength") ? c.get("maxLength").asInt() : null, c.has("min") ? c.get("min").asLong() : null,
                c.has("max") ? c.get("max").asLong() : null, c.path("required").asBoolean(false),
                c.path("system").asBoolean(false), c.get("default"), options, targets, statusOfState,
                c.has("computed") ? c.get("computed").asText() : null,
                c.has("displayName") ? c.get("displayName").asText() : null);
    }
}
