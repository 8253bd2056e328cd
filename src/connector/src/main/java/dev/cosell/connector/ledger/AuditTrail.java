package dev.cosell.connector.ledger;

import java.time.Instant;
import java.time.temporal.ChronoUnit;

/** The opportunity's audit field: newest line first, bounded to the column's length. */
public final class AuditTrail {

    private final int maxLength;

    public AuditTrail(int maxLength) {
        this.maxLength = maxLength;
    }

    /** Adds {@code cosell_audit} (or the given column) to the fields to write: the new line in front of the existing trail. */
    public java.util.Map<String, Object> addTo(java.util.Map<String, Object> fields, String column, String existing, String line) {
        java.util.Map<String, Object> out = fields == null ? new java.util.LinkedHashMap<>() : new java.util.LinkedHashMap<>(fields);
        out.put(column, prepend(existing, line));
        return out;
    }

    /** As {@link #addTo(java.util.Map, String, String, String)}, with a note (e.g. what was cut to fit) after the line, when there is one. */
    public java.util.Map<String, Object> addTo(java.util.Map<String, Object> fields, String column, String existing, String line,
            String note) {
        return addTo(fields, column, existing, note == null || note.isBlank() ? line : line + "; " + note);
    }

    /** A new audit value: a time-stamped line in front of the existing text, cut at a line end to fit. */
    public String prepend(String existing, String line) {
        String stamped = Instant.now().truncatedTo(ChronoUnit.SECONDS) + " " + line;
        String text = existing == null || existing.isBlank() ? stamped : stamped + "\n" + existing;
        if (text.length() <= maxLength) {
            return text;
        }
        int cut = text.lastIndexOf('\n', maxLength);
        return cut > 0 ? text.substring(0, cut) : text.substring(0, maxLength);
    }
}
