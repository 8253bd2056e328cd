package dev.cosell.connector.flows;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.camel.Exchange;
import org.apache.camel.Message;
import org.apache.camel.Processor;
import org.apache.camel.http.base.HttpOperationFailedException;

/**
 * Stands in for one remote system at its request route ({@code direct:dataverse}, {@code direct:partner-center}: the
 * real routes are moved aside, see FlowTestSupport), keeping that route's contract (routes/remote-calls.camel.yaml): it reads CamelHttpMethod, CamelHttpPath,
 * CamelHttpQuery and the body, records the call, answers from canned answers keyed {@code "METHOD path"}, puts the
 * answer into the variable named by header {@code answer} and into the body, removes every header, answers null to a
 * 404 when {@code notFound} is "null" and throws {@link HttpOperationFailedException} for any other non-2xx status.
 * Answers are copied through JSON, as the real route parses them (a Map or List, never the test's own object).
 */
final class RemoteStandIn implements Processor {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> RECORDED_HEADERS = List.of("If-Match", "If-None-Match", "Prefer", "Content-Type", "api");

    /** A call as the flow described it. */
    record Call(String method, String path, String query, Object body, Map<String, String> headers) {

        String key() {
            return method + " " + path;
        }

        String header(String name) {
            return headers.get(name);
        }

        /** The body as JSON (a Map or a List; a JSON text parsed), or null. */
        @SuppressWarnings("unchecked")
        <T> T json() {
            Object b = body;
            if (b instanceof String s && (s.startsWith("{") || s.startsWith("["))) {
                try {
                    b = JSON.readValue(s, Object.class);
                } catch (Exception e) {
                    throw new IllegalStateException("not JSON: " + s, e);
                }
            }
            return b instanceof Map || b instanceof List ? (T) b : null;
        }

        String text() {
            return body == null ? null : body.toString();
        }
    }

    /** An HTTP status answer (a 2xx with this body, or a failure). */
    record Status(int code, String body) {
    }

    static Status status(int code, String body) {
        return new Status(code, body);
    }

    private final String system;
    private final List<Call> calls = new CopyOnWriteArrayList<>();
    private final Map<String, Deque<Object>> answers = new ConcurrentHashMap<>();

    RemoteStandIn(String system) {
        this.system = system;
    }

    /** Forgets the calls and the answers. */
    void reset() {
        calls.clear();
        answers.clear();
    }

    /**
     * The answers to {@code "METHOD path"}, in turn; the last one stays for any later call. An answer is a value (Map,
     * List, String, null), a {@link Status}, or a {@code Function<Call, Object>} giving one of those.
     */
    RemoteStandIn answer(String key, Object... inTurn) {
        Deque<Object> queue = new ArrayDeque<>();
        for (Object a : inTurn) {
            queue.add(a == null ? NULL : a);
        }
        if (queue.isEmpty()) {
            queue.add(NULL);
        }
        answers.put(key, queue);
        return this;
    }

    /** A computed answer to every call of "METHOD path". */
    RemoteStandIn answer(String key, Function<Call, ?> responder) {
        return answer(key, (Object) responder);
    }

    private static final Object NULL = new Object();

    List<Call> calls() {
        return List.copyOf(calls);
    }

    /** "METHOD path" of every call, in order. */
    List<String> keys() {
        return calls.stream().map(Call::key).toList();
    }

    List<Call> calls(String key) {
        return calls.stream().filter(c -> c.key().equals(key)).toList();
    }

    /** The only call to "METHOD path" (fails when there were none or several). */
    Call only(String key) {
        List<Call> matching = calls(key);
        if (matching.size() != 1) {
            throw new AssertionError(system + ": expected one " + key + ", calls were " + keys());
        }
        return matching.get(0);
    }

    /** The calls that are not reads. */
    List<Call> writes() {
        return calls.stream().filter(c -> !c.method().equals("GET")).toList();
    }

    @Override
    @SuppressWarnings("unchecked")
    public void process(Exchange exchange) throws Exception {
        Message in = exchange.getMessage();
        String method = required(in, Exchange.HTTP_METHOD);
        String path = required(in, Exchange.HTTP_PATH);
        String variable = required(in, "answer");
        boolean notFoundIsNull = "null".equals(in.getHeader("notFound", String.class));
        Map<String, String> headers = new LinkedHashMap<>();
        for (String name : RECORDED_HEADERS) {
            String value = in.getHeader(name, String.class);
            if (value != null) {
                headers.put(name, value);
            }
        }
        Call call = new Call(method, path, in.getHeader(Exchange.HTTP_QUERY, String.class), copy(in.getBody()), headers);
        calls.add(call);

        Object answer = next(call.key());
        if (answer instanceof Function<?, ?> f) {
            answer = ((Function<Call, Object>) f).apply(call);
        }
        // Nothing of this call reaches the next one.
        in.removeHeaders("*");
        if (answer instanceof Status s) {
            if (s.code() == 404 && notFoundIsNull) {
                answer = null;
            } else if (s.code() < 200 || s.code() > 299) {
                throw new HttpOperationFailedException("https://" + system + ".example/" + path, s.code(), "status " + s.code(),
                        null, Map.of(), s.body() == null ? "" : s.body());
            } else {
                answer = s.body() == null || s.body().isEmpty() ? null : parse(s.body());
            }
        }
        answer = copy(answer);
        exchange.setVariable(variable, answer);
        in.setBody(answer);
    }

    private Object next(String key) {
        Deque<Object> queue = answers.get(key);
        if (queue == null) {
            throw new IllegalStateException(system + " stand-in: no answer for " + key);
        }
        Object answer;
        synchronized (queue) {
            answer = queue.size() > 1 ? queue.poll() : queue.peek();
        }
        return answer == NULL ? null : answer;
    }

    private String required(Message in, String header) {
        String value = in.getHeader(header, String.class);
        if (value == null || value.isBlank()) {
            throw new IllegalStateException(system + " call without the required header " + header);
        }
        return value;
    }

    private static Object parse(String text) {
        if (text.startsWith("{") || text.startsWith("[")) {
            try {
                return JSON.readValue(text, Object.class);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        return text;
    }

    /** Maps and lists through JSON (a fresh copy, with the types a parsed answer has); anything else as it is. */
    static Object copy(Object value) {
        if (value instanceof Map || value instanceof List) {
            try {
                return JSON.readValue(JSON.writeValueAsBytes(value), Object.class);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        return value;
    }

    /**
     * A Dataverse {@code $batch} answer: one part per answer, in order (a Map answered 200, a {@link Status} with its
     * code), as ODataBatch reads them.
     */
    static String batch(Object... parts) {
        String boundary = "batchresponse_standin";
        StringBuilder b = new StringBuilder();
        for (Object part : parts) {
            int code = part instanceof Status s ? s.code() : 200;
            String json;
            try {
                json = part instanceof Status s ? s.body() : JSON.writeValueAsString(part);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            b.append("--").append(boundary).append("\r\n")
                    .append("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n")
                    .append("HTTP/1.1 ").append(code).append(code < 300 ? " OK" : " Error").append("\r\n")
                    .append("Content-Type: application/json; odata.metadata=minimal\r\nOData-Version: 4.0\r\n\r\n")
                    .append(json == null ? "" : json).append("\r\n");
        }
        return b.append("--").append(boundary).append("--\r\n").toString();
    }

    /** A {@code $batch} response of one change set: each part answered 201 with this row, Content-ID 1, 2, ... */
    static String changeSetBatch(Object... rows) {
        String boundary = "batchresponse_standin";
        String changeSet = "changesetresponse_standin";
        StringBuilder b = new StringBuilder("--").append(boundary).append("\r\n")
                .append("Content-Type: multipart/mixed; boundary=").append(changeSet).append("\r\n\r\n");
        int contentId = 1;
        for (Object row : rows) {
            String json;
            try {
                json = JSON.writeValueAsString(row);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            b.append("--").append(changeSet).append("\r\n")
                    .append("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: ")
                    .append(contentId++).append("\r\n\r\n")
                    .append("HTTP/1.1 201 Created\r\nContent-Type: application/json; odata.metadata=minimal\r\n")
                    .append("OData-Version: 4.0\r\n\r\n").append(json).append("\r\n");
        }
        b.append("--").append(changeSet).append("--\r\n");
        return b.append("--").append(boundary).append("--\r\n").toString();
    }

    /** The JSON bodies of a {@code $batch} request's parts, in order (parts without one left out). */
    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> batchBodies(String body) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (String line : body.split("\r\n")) {
            if (line.startsWith("{")) {
                try {
                    out.add(JSON.readValue(line, Map.class));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        }
        return out;
    }

    /** The GET lines of a {@code $batch} request body, in order ("GET /api/data/v9.2/accounts(…)"). */
    static List<String> batchRequests(String body) {
        List<String> out = new ArrayList<>();
        for (String line : body.split("\r\n")) {
            if (line.startsWith("GET ") || line.startsWith("POST ") || line.startsWith("PATCH ")) {
                out.add(line.replace(" HTTP/1.1", ""));
            }
        }
        return out;
    }
}
