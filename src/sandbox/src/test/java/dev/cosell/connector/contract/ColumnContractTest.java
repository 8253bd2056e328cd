package dev.cosell.connector.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

/**
 * The connector's Dataverse column contract (routes/mappings/dataverse-columns.json: the columns it
 * writes, their types and text lengths) and the Dataverse emulator's schema say the same, so a text cut
 * to the product's limit is a text the emulator takes, and an emulator column the product does not know
 * cannot make a test pass.
 */
class ColumnContractTest {

    static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void everyColumnTheConnectorWritesIsInTheEmulatorWithTheSameTypeAndLength() throws Exception {
        JsonNode product = JSON.readTree(Path.of("routes/mappings/dataverse-columns.json").toFile());
        JsonNode emulator;
        try (InputStream in = getClass().getResourceAsStream("/sandbox/dataverse-schema.json")) {
            emulator = JSON.readTree(in);
        }
        List<String> differences = new ArrayList<>();
        int columns = 0;
        for (var table : (Iterable<Map.Entry<String, JsonNode>>) product::fields) {
            if (table.getKey().startsWith("_")) {
                continue;
            }
            JsonNode entity = null;
            for (JsonNode e : emulator.path("entities")) {
                if (e.path("logicalName").asText().equals(table.getKey())) {
                    entity = e;
                }
            }
            assertTrue(entity != null, "the emulator has no table " + table.getKey());
            for (var column : (Iterable<Map.Entry<String, JsonNode>>) table.getValue()::fields) {
                columns++;
                JsonNode there = entity.path("columns").path(column.getKey());
                if (there.isMissingNode()) {
                    differences.add(table.getKey() + "." + column.getKey() + ": missing in the emulator");
                    continue;
                }
                if (!there.path("type").asText().equals(column.getValue().path("type").asText())) {
                    differences.add(table.getKey() + "." + column.getKey() + ": type " + there.path("type").asText()
                            + " in the emulator, " + column.getValue().path("type").asText() + " in the product");
                }
                if (!there.path("maxLength").equals(column.getValue().path("maxLength"))) {
                    differences.add(table.getKey() + "." + column.getKey() + ": length " + there.path("maxLength")
                            + " in the emulator, " + column.getValue().path("maxLength") + " in the product");
                }
            }
        }
        assertEquals(List.of(), differences);
        assertTrue(columns > 40, "checked " + columns + " columns");
    }
}
