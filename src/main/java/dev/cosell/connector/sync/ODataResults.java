package dev.cosell.connector.sync;

import java.util.List;
import java.util.Map;

/** Small reads of Dataverse answers that simple expressions cannot express clearly. */
public final class ODataResults {

    /** The column of the first row of a collection answer ({@code value[0].column}), or null when empty. */
    public Object first(Map<String, Object> collection, String column) {
        if (collection != null && collection.get("value") instanceof List<?> rows && !rows.isEmpty()
                && rows.get(0) instanceof Map<?, ?> row) {
            return row.get(column);
        }
        return null;
    }
}
