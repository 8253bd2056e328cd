package dev.cosell.connector.dataverse;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The one rule for text longer than its Dataverse column (limits from {@code routes/mappings/dataverse-columns.json}):
 * it is cut to fit and ends in {@value #MARK}, and the cut is reported for the audit trail. A record is
 * never refused, dead-lettered or retried for the length of a text: no replay could ever fix that.
 */
public final class ColumnLimits {

    /** Ends a cut text, so a reader sees it goes on in Partner Center. */
    public static final String MARK = "…";

    private final Map<String, Map<String, Integer>> maxLength = new TreeMap<>();

    public ColumnLimits(String columnsFile) {
        try {
            Map<String, Object> tables = new ObjectMapper().readValue(Path.of(columnsFile).toFile(), new TypeReference<>() { });
            tables.forEach((table, columns) -> {
                if (!table.startsWith("_") && columns instanceof Map<?, ?> cs) {
                    Map<String, Integer> limits = new TreeMap<>();
                    cs.forEach((column, spec) -> {
                        if (spec instanceof Map<?, ?> s && s.get("maxLength") instanceof Number n) {
                            limits.put(column.toString(), n.intValue());
                        }
                    });
                    maxLength.put(table, limits);
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the Dataverse column contract " + columnsFile, e);
        }
    }

    /** The maximum length of a text column, or null when the contract gives none. */
    public Integer maxLength(String table, String column) {
        return maxLength.getOrDefault(table, Map.of()).get(column);
    }

    /**
     * Fits a record about to be written to {@code table} (changed in place) and returns what was cut,
     * e.g. {@code "description cut to 2000 of 2345 characters"}, or null when everything fitted.
     */
    public String fit(String table, Map<String, Object> record) {
        if (record == null) {
            return null;
        }
        Map<String, Integer> limits = maxLength.getOrDefault(table, Map.of());
        List<String> cuts = new ArrayList<>();
        for (var e : record.entrySet()) {
            Integer max = limits.get(e.getKey());
            if (max != null && e.getValue() instanceof String text && text.length() > max) {
                int end = max - MARK.length();
                if (Character.isHighSurrogate(text.charAt(end - 1))) {
                    end--; // never half a character
                }
                e.setValue(text.substring(0, end) + MARK);
                cuts.add(table + "." + e.getKey() + " cut to " + max + " of " + text.length() + " characters");
            }
        }
        return cuts.isEmpty() ? null : String.join(", ", cuts);
    }
}
