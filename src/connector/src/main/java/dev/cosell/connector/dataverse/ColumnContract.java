package dev.cosell.connector.dataverse;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The connector's Dataverse column contract, {@code routes/mappings/dataverse-columns.json}: per table the
 * columns the connector uses (by their contract name, which the mappings and routes spell), their type,
 * length, choices (from {@code enums.json} or listed), default, and for the connector's own columns a
 * role (the key of the {@code dataverse.column.<role>} setting) and a display name; plus what
 * provisioning needs beyond columns: publisher, solution, alternate keys, change-tracked tables.
 */
public final class ColumnContract {

    /** One column as the contract describes it. {@code role} is null for a standard column (only checked). */
    public record Column(String table, String name, String role, String displayName, String type, Integer maxLength,
            Map<String, Integer> choices, Boolean defaultValue) {

        public boolean ours() {
            return role != null;
        }
    }

    public record Key(String table, String name, String displayName, List<String> columns) {
    }

    public record Publisher(String uniqueName, String friendlyName, String prefix, int optionValuePrefix) {
    }

    public record Solution(String uniqueName, String friendlyName, String version) {
    }

    private final Map<String, List<Column>> tables = new LinkedHashMap<>();
    private final List<Key> keys = new ArrayList<>();
    private final List<String> changeTracking = new ArrayList<>();
    private final Publisher publisher;
    private final Solution solution;

    private ColumnContract(JsonNode root, JsonNode enums) {
        root.fields().forEachRemaining(t -> {
            if (t.getKey().startsWith("_") || !t.getValue().isObject()) {
                return;
            }
            List<Column> columns = new ArrayList<>();
            t.getValue().fields().forEachRemaining(c -> columns.add(column(t.getKey(), c.getKey(), c.getValue(), enums)));
            tables.put(t.getKey(), columns);
        });
        JsonNode p = root.path("_provisioning");
        JsonNode pub = p.path("publisher");
        publisher = new Publisher(pub.path("uniqueName").asText(), pub.path("friendlyName").asText(),
                pub.path("customizationPrefix").asText(), pub.path("optionValuePrefix").asInt());
        JsonNode sol = p.path("solution");
        solution = new Solution(sol.path("uniqueName").asText(), sol.path("friendlyName").asText(),
                sol.path("version").asText("1.0.0.0"));
        p.path("alternateKeys").fields().forEachRemaining(t -> t.getValue().fields().forEachRemaining(k -> {
            List<String> cols = new ArrayList<>();
            k.getValue().path("columns").forEach(c -> cols.add(c.asText()));
            keys.add(new Key(t.getKey(), k.getKey(), k.getValue().path("displayName").asText(k.getKey()), cols));
        }));
        p.path("changeTracking").forEach(t -> changeTracking.add(t.asText()));
    }

    /** Reads {@code dataverse-columns.json} and {@code enums.json} of a mappings directory. */
    public static ColumnContract load(String mappingsDir) {
        ObjectMapper json = new ObjectMapper();
        Path dir = Path.of(mappingsDir);
        try {
            return new ColumnContract(json.readTree(dir.resolve("dataverse-columns.json").toFile()),
                    json.readTree(dir.resolve("enums.json").toFile()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the Dataverse column contract in " + dir.toAbsolutePath(), e);
        }
    }

    private static Column column(String table, String name, JsonNode c, JsonNode enums) {
        Map<String, Integer> choices = null;
        JsonNode ch = c.path("choices");
        JsonNode values = ch.isTextual() ? enums.path(ch.asText()) : ch;
        if (ch.isTextual() && values.isMissingNode()) {
            throw new IllegalArgumentException("dataverse-columns.json: " + table + "." + name + " names choices '"
                    + ch.asText() + "', which enums.json does not have");
        }
        if (values.isObject()) {
            Map<String, Integer> m = new LinkedHashMap<>();
            values.fields().forEachRemaining(v -> m.put(v.getKey(), v.getValue().asInt()));
            choices = m;
        }
        return new Column(table, name, c.hasNonNull("role") ? c.get("role").asText() : null,
                c.hasNonNull("displayName") ? c.get("displayName").asText() : null, c.path("type").asText(),
                c.has("maxLength") ? c.get("maxLength").asInt() : null, choices,
                c.has("default") ? c.get("default").asBoolean() : null);
    }

    public Map<String, List<Column>> tables() {
        return tables;
    }

    /** Every column with a role, in file order. */
    public List<Column> roles() {
        List<Column> out = new ArrayList<>();
        tables.values().forEach(cs -> cs.stream().filter(Column::ours).forEach(out::add));
        return out;
    }

    public List<Key> keys() {
        return keys;
    }

    public List<String> changeTracking() {
        return changeTracking;
    }

    public Publisher publisher() {
        return publisher;
    }

    public Solution solution() {
        return solution;
    }
}
