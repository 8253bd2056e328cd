package dev.cosell.connector.dataverse;

import dev.cosell.connector.backfill.BackfillPage;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Several Dataverse requests in one round trip: the body of a {@code POST $batch} with one request per
 * part (outside any change set: each succeeds or fails on its own, with {@code Prefer:
 * odata.continue-on-error}) or with one change set (all or none, {@link #accountAndContact}), and the
 * answers read back in order. Used by routes/dynamics-365-customer.camel.yaml to look up a referral's
 * account and contact together and to create a new customer's both, and by the backfill (BackfillPage)
 * and the poll (FlaggedOpportunityCustomers) for a page's lookups and creations.
 *
 * <p>A page's requests go in several {@code $batch} bodies of at most {@code batchSize} requests each
 * ({@link #bodies}), which routes/remote-calls.camel.yaml ({@code dataverse-batches}) sends at once within
 * Dataverse's concurrency: Microsoft allows 1,000 requests in a batch, but each batch runs its requests one
 * after another, so several small ones in parallel finish sooner than one large one (send-parallel-requests).
 */
public final class ODataBatch {

    /** The boundary of our batch bodies (it never occurs in a relative URL). */
    public static final String BOUNDARY = "batch_cosell";
    public static final String CONTENT_TYPE = "multipart/mixed; boundary=" + BOUNDARY;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final java.util.regex.Pattern CHANGE_SET =
            java.util.regex.Pattern.compile("(?i)Content-Type: multipart/mixed; ?boundary=\"?([^\"\\s;]+)");

    private final String apiPath;
    private final int batchSize;

    /** @param apiPath the Web API path, e.g. /api/data/v9.2 (the GETs name their URL from there) */
    public ODataBatch(String apiPath) {
        this(apiPath, 1000);
    }

    /**
     * @param apiPath   the Web API path, e.g. /api/data/v9.2 (the GETs name their URL from there)
     * @param batchSize most requests in one body of {@link #bodies} (sync.dataverse.batch-size; Dataverse allows 1,000)
     */
    public ODataBatch(String apiPath, int batchSize) {
        if (batchSize < 1 || batchSize > 1000) {
            throw new IllegalArgumentException("sync.dataverse.batch-size must be 1..1000 (Dataverse's limit), not " + batchSize);
        }
        this.apiPath = apiPath.endsWith("/") ? apiPath.substring(0, apiPath.length() - 1) : apiPath;
        this.batchSize = batchSize;
    }

    /** One request of a batch: method, URL relative to the Web API path, its own headers and JSON body (or null). */
    public record Request(String method, String relativeUrl, Map<String, String> headers, String jsonBody) {

        public static Request get(String entitySet, String query) {
            return new Request("GET", entitySet + '?' + query, Map.of(), null);
        }
    }

    /** One answer of a batch: the part's status and its JSON body (empty when it has none). */
    public record Answer(int status, Map<String, Object> body, String text) {

        public boolean ok() {
            return status >= 200 && status < 300;
        }
    }

    /** The $batch body: a GET of {@code entitySet?query} for each pair; a null query is skipped. */
    public String reads(String entitySet1, String query1, String entitySet2, String query2) {
        List<Request> requests = new ArrayList<>();
        if (query1 != null) {
            requests.add(Request.get(entitySet1, query1));
        }
        if (query2 != null) {
            requests.add(Request.get(entitySet2, query2));
        }
        return body(requests);
    }

    /** The $batch bodies of a GET for each URL, in order, at most the batch size each (none for no URL). */
    public List<String> getBodies(List<String> relativeUrls) {
        List<Request> requests = new ArrayList<>(relativeUrls.size());
        for (String url : relativeUrls) {
            requests.add(new Request("GET", url, Map.of(), null));
        }
        return bodies(requests);
    }

    /**
     * The $batch bodies of these requests, in order, at most the batch size each (none for no request):
     * sent together, their responses read back in the same order by {@link #parts(List)}.
     */
    public List<String> bodies(List<Request> requests) {
        List<String> out = new ArrayList<>();
        for (int from = 0; from < requests.size(); from += batchSize) {
            out.add(body(requests.subList(from, Math.min(requests.size(), from + batchSize))));
        }
        return out;
    }

    /**
     * The answers of several $batch responses (of {@link #bodies}, in the same order), one list in order.
     * Every body but the last holds the batch size of requests: a response with fewer or more answers is
     * cut or filled with failed answers (status 0) to that size, so no later answer moves onto another
     * request.
     */
    public List<Answer> parts(List<String> responses) {
        List<Answer> out = new ArrayList<>();
        for (int i = 0; i < responses.size(); i++) {
            List<Answer> answers = parts(responses.get(i));
            if (i < responses.size() - 1) {
                answers = new ArrayList<>(answers.subList(0, Math.min(answers.size(), batchSize)));
                while (answers.size() < batchSize) {
                    answers.add(new Answer(0, Map.of(), "no answer in the $batch response"));
                }
            }
            out.addAll(answers);
        }
        return out;
    }

    /** The $batch body of these requests, in order, each on its own (no change set). */
    public String body(List<Request> requests) {
        StringBuilder b = new StringBuilder(256 * requests.size() + 32);
        for (Request r : requests) {
            b.append("--").append(BOUNDARY).append("\r\n")
                    .append("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n");
            request(b, r);
        }
        return b.append("--").append(BOUNDARY).append("--\r\n").toString();
    }

    /**
     * The $batch body creating a new customer's account and its contact together, in one change set
     * (both or neither): the contact's binds to an account ({@code ...@odata.bind: "/accounts(...)"},
     * written by referral-to-contact.jsonata before the account has an id) refer to the account
     * created before it, by its Content-ID ({@code "$1"}). Each answers with its row
     * ({@code Prefer: return=representation}); {@link #answers} reads them back in order.
     */
    public String accountAndContact(Map<String, Object> account, Map<String, Object> contact) {
        Map<String, Object> boundContact = new java.util.LinkedHashMap<>(contact);
        boundContact.replaceAll((k, v) -> k.endsWith("@odata.bind") && v instanceof String s && s.startsWith("/accounts(")
                ? "$1" : v);
        try {
            return changeSet(List.of(
                    new Request("POST", "accounts", Map.of("Prefer", "return=representation"), JSON.writeValueAsString(account)),
                    new Request("POST", "contacts", Map.of("Prefer", "return=representation"),
                            JSON.writeValueAsString(boundContact))));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("cannot write the customer as JSON", e);
        }
    }

    /** The $batch body of one change set of these requests, Content-ID 1, 2, ... in order. */
    public String changeSet(List<Request> requests) {
        String changeSet = "changeset_cosell";
        StringBuilder b = new StringBuilder(512 * requests.size() + 128);
        b.append("--").append(BOUNDARY).append("\r\n")
                .append("Content-Type: multipart/mixed; boundary=").append(changeSet).append("\r\n\r\n");
        int contentId = 1;
        for (Request r : requests) {
            b.append("--").append(changeSet).append("\r\n")
                    .append("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n")
                    .append("Content-ID: ").append(contentId++).append("\r\n\r\n");
            request(b, r);
        }
        b.append("--").append(changeSet).append("--\r\n");
        return b.append("--").append(BOUNDARY).append("--\r\n").toString();
    }

    private void request(StringBuilder b, Request r) {
        b.append(r.method()).append(' ').append(apiPath).append('/').append(r.relativeUrl())
                .append(" HTTP/1.1\r\nAccept: application/json\r\n");
        if (r.jsonBody() != null) {
            b.append("Content-Type: application/json; charset=utf-8\r\n");
        }
        r.headers().forEach((name, value) -> b.append(name).append(": ").append(value).append("\r\n"));
        b.append("\r\n");
        if (r.jsonBody() != null) {
            b.append(r.jsonBody()).append("\r\n");
        }
    }

    /**
     * The JSON answers of a $batch response, in order (a part that is not 2xx fails the whole read:
     * the caller's retry policy decides). The response's boundary is its first line.
     */
    public List<Map<String, Object>> answers(String response) throws org.apache.camel.http.base.HttpOperationFailedException {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Answer a : parts(response)) {
            if (a.status() >= 300) {
                // As if the read had been sent alone: the retry policy retries 429/5xx, the rest is a dead letter.
                throw new org.apache.camel.http.base.HttpOperationFailedException(apiPath + "/$batch", a.status(),
                        a.text().lines().findFirst().orElse(""), null, Map.of(), a.text());
            }
            out.add(a.body());
        }
        return out;
    }

    /** Every answer of a $batch response, in order, with its own status (nothing thrown for a failed part). */
    @SuppressWarnings("unchecked")
    public List<Answer> parts(String response) {
        List<Answer> out = new ArrayList<>();
        if (response == null || !response.startsWith("--")) {
            throw new IllegalStateException("not a $batch response");
        }
        String boundary = response.substring(0, response.indexOf("\r\n"));
        for (String part : response.split(java.util.regex.Pattern.quote(boundary))) {
            // A change set's answers: a nested multipart, one answer per request (or the one that failed).
            int http = part.indexOf("HTTP/1.1 ");
            if (http < 0) {
                continue;
            }
            // (only the part's own headers, before its first answer, are looked at)
            java.util.regex.Matcher nested = CHANGE_SET.matcher(part).region(0, http);
            if (nested.find()) {
                out.addAll(parts(part.substring(part.indexOf("--" + nested.group(1), nested.end()))));
                continue;
            }
            int status = Integer.parseInt(part.substring(http + 9, http + 12));
            String text = part.substring(http).trim();
            int json = part.indexOf('{', http);
            Map<String, Object> body;
            try {
                body = json < 0 ? Map.of() : JSON.readValue(part.substring(json, part.lastIndexOf('}') + 1), Map.class);
            } catch (Exception e) {
                if (status < 300) {
                    throw new IllegalStateException("unreadable answer in the $batch response", e);
                }
                body = Map.of();
            }
            out.add(new Answer(status, body, text));
        }
        return out;
    }
}
