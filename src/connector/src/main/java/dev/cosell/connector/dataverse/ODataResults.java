package dev.cosell.connector.dataverse;

import dev.cosell.connector.mapping.ReferralPatch;

import java.util.List;
import java.util.Map;

/** Small reads of Dataverse answers that simple expressions cannot express clearly. */
public final class ODataResults {

    /** True when the record already holds every value of the projection (numbers compared by value). */
    public boolean holds(Map<String, Object> record, Map<String, Object> projection) {
        if (record == null) {
            return false;
        }
        for (var e : projection.entrySet()) {
            String key = e.getKey();
            Object held = record.get(key);
            Object value = e.getValue();
            if (key.endsWith("@odata.bind")) {
                // "transactioncurrencyid@odata.bind": "/transactioncurrencies(<id>)" is held as _transactioncurrencyid_value
                held = record.get("_" + key.substring(0, key.length() - "@odata.bind".length()) + "_value");
                value = value == null ? null : value.toString().replaceAll("^.*\\((.*)\\)$", "$1");
            }
            if (!ReferralPatch.same(value, held)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The fields of a projection whose value differs from what was written last ({@code sync_link.opportunity_written},
     * JSON; all of them when nothing is recorded): what a Partner Center change writes, so that a seller's
     * edit of another column made meanwhile is not overwritten.
     */
    @SuppressWarnings("unchecked")
    public Map<String, Object> changedSince(Map<String, Object> projection, Object written) {
        Map<String, Object> last = null;
        if (written != null) {
            try {
                String json = written instanceof java.sql.Clob clob ? clob.getSubString(1, (int) clob.length()) : written.toString();
                last = new com.fasterxml.jackson.databind.ObjectMapper().readValue(json, Map.class);
            } catch (Exception e) {
                last = null; // unreadable: write the whole projection
            }
        }
        Map<String, Object> changed = new java.util.LinkedHashMap<>();
        for (var e : projection.entrySet()) {
            if (last == null || !ReferralPatch.same(e.getValue(), last.get(e.getKey()))) {
                changed.put(e.getKey(), e.getValue());
            }
        }
        return changed;
    }

    /** The first row of a collection answer, or null when empty. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> firstRow(Map<String, Object> collection) {
        if (collection != null && collection.get("value") instanceof List<?> rows && !rows.isEmpty()
                && rows.get(0) instanceof Map<?, ?> row) {
            return (Map<String, Object>) row;
        }
        return null;
    }

    /** The column of the first row of a collection answer ({@code value[0].column}), or null when empty. */
    public Object first(Map<String, Object> collection, String column) {
        if (collection != null && collection.get("value") instanceof List<?> rows && !rows.isEmpty()
                && rows.get(0) instanceof Map<?, ?> row) {
            return row.get(column);
        }
        return null;
    }
}
