package dev.cosell.connector.sync;

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
