package dev.cosell.connector.sync;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Several Dataverse reads in one round trip: the body of a {@code POST $batch} with one GET per query
 * (outside any change set, as the Web API documents for reads), and the answers read back in order.
 * Used by routes/dynamics-365-customer.yaml to look up a referral's account and contact together.
 */
public final class ODataBatch {

    /** The boundary of our batch bodies (it never occurs in a relative URL). */
    public static final String BOUNDARY = "batch_cosell";
    public static final String CONTENT_TYPE = "multipart/mixed; boundary=" + BOUNDARY;

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String apiPath;

    /** @param apiPath the Web API path, e.g. /api/data/v9.2 (the GETs name their URL from there) */
    public ODataBatch(String apiPath) {
        this.apiPath = apiPath.endsWith("/") ? apiPath.substring(0, apiPath.length() - 1) : apiPath;
    }

    /** The $batch body: a GET of {@code entitySet?query} for each pair; a null query is skipped. */
    public String reads(String entitySet1, String query1, String entitySet2, String query2) {
        StringBuilder b = new StringBuilder();
        append(b, entitySet1, query1);
        append(b, entitySet2, query2);
        return b.append("--").append(BOUNDARY).append("--\r\n").toString();
    }

    private void append(StringBuilder b, String entitySet, String query) {
        if (query == null) {
            return;
        }
        b.append("--").append(BOUNDARY).append("\r\n")
                .append("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n")
                .append("GET ").append(apiPath).append('/').append(entitySet).append('?').append(query)
                .append(" HTTP/1.1\r\nAccept: application/json\r\n\r\n");
    }

    /**
     * The JSON answers of a $batch response, in order (a part that is not 2xx fails the whole read:
     * the caller's retry policy decides). The response's boundary is its first line.
     */
    @SuppressWarnings("unchecked")
    public List<Map<String, Object>> answers(String response) throws org.apache.camel.http.base.HttpOperationFailedException {
        List<Map<String, Object>> out = new ArrayList<>();
        if (response == null || !response.startsWith("--")) {
            throw new IllegalStateException("not a $batch response");
        }
        String boundary = response.substring(0, response.indexOf("\r\n"));
        for (String part : response.split(java.util.regex.Pattern.quote(boundary))) {
            int http = part.indexOf("HTTP/1.1 ");
            if (http < 0) {
                continue;
            }
            int status = Integer.parseInt(part.substring(http + 9, http + 12));
            if (status >= 300) {
                // As if the read had been sent alone: the retry policy retries 429/5xx, the rest is a dead letter.
                String text = part.substring(http).trim();
                throw new org.apache.camel.http.base.HttpOperationFailedException(apiPath + "/$batch", status,
                        text.lines().findFirst().orElse(""), null, Map.of(), text);
            }
            int json = part.indexOf('{', http);
            try {
                out.add(json < 0 ? Map.of() : JSON.readValue(part.substring(json, part.lastIndexOf('}') + 1), Map.class));
            } catch (Exception e) {
                throw new IllegalStateException("unreadable answer in the $batch response", e);
            }
        }
        return out;
    }
}
