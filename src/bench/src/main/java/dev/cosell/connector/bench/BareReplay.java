package dev.cosell.connector.bench;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cosell.connector.sandbox.CallLog;
import dev.cosell.connector.sandbox.Sandbox;

/**
 * The bare-HTTP limit: a plain {@link HttpClient} re-sends the calls the emulators recorded during the
 * connector's run (same requests, same order, same concurrency) against fresh emulators holding the same
 * data, with no routing, mapping, ledger or retries in between.
 *
 * <p>Ids and eTags the servers generate differ between the two runs, so they are correlated the way load
 * testing tools do it: each recorded answer is compared with the replayed answer (headers and JSON leaves
 * side by side) and every differing GUID or W/"n" eTag is mapped; later requests are rewritten with the
 * map, and a request that uses a value an earlier answer produced waits for that answer.
 */
final class BareReplay {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern TOKEN = Pattern.compile(
            "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|W/\\\\?\"(\\d+)\\\\?\"");

    /** A recorded call and which system it went to. */
    record Call(CallLog.Captured captured, boolean partnerCenter) {
    }

    /** secondHalfMillis: from the start of call number {@code from} (see replay) to the end. */
    record Result(long wallMillis, int calls, int sameStatus, int concurrency, long secondHalfMillis, long cpuMillis) {
    }

    private final Sandbox sandbox;
    private final HttpClient http;
    private final Map<String, String> mapping = new ConcurrentHashMap<>();

    BareReplay(Sandbox sandbox) {
        this.sandbox = sandbox;
        this.http = HttpClient.newBuilder().sslContext(sandbox.pki().clientSslContext())
                .version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10))
                .executor(Executors.newFixedThreadPool(4)).build();
    }

    /** The largest number of recorded calls in flight at one time. */
    static int concurrency(List<Call> calls) {
        List<long[]> events = new ArrayList<>();
        for (Call c : calls) {
            events.add(new long[] { c.captured().startedNanos(), 1 });
            events.add(new long[] { c.captured().endedNanos(), -1 });
        }
        events.sort((a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
        int now = 0;
        int max = 1;
        for (long[] e : events) {
            now += (int) e[1];
            max = Math.max(max, now);
        }
        return max;
    }

    /** @param from the first call of the part timed apart (the second half of the connector's run) */
    Result replay(List<Call> calls, int concurrency, int from) throws Exception {
        String pcToken = token("refresh_token", "https://api.partner.microsoft.com/user_impersonation offline_access");
        String dvToken = token("client_credentials", sandbox.dataverse().environmentUrl() + "/.default");

        // Which earlier call first answered each value a later request uses.
        Map<String, Integer> producer = new HashMap<>();
        List<Set<Integer>> dependsOn = new ArrayList<>();
        for (int i = 0; i < calls.size(); i++) {
            CallLog.Captured c = calls.get(i).captured();
            Set<Integer> deps = new HashSet<>();
            for (String t : tokens(c.uri() + " " + c.requestBody() + " " + c.requestHeaders().get("If-Match"))) {
                Integer p = producer.get(t);
                if (p != null) {
                    deps.add(p);
                }
            }
            // A next page is asked for with the continuation token of the page before: no client can
            // send it before that answer (the recorded URL only lets a replay do so).
            for (String t : continuations(c.uri())) {
                Integer p = producer.get(t);
                if (p != null) {
                    deps.add(p);
                }
            }
            dependsOn.add(deps);
            for (String t : tokens(c.responseBody() + " " + c.responseHeaders().values())) {
                producer.putIfAbsent(t, i);
            }
            for (String t : continuations(c.responseBody())) {
                producer.putIfAbsent(t, i);
            }
        }

        List<CompletableFuture<Void>> done = new ArrayList<>();
        for (int i = 0; i < calls.size(); i++) {
            done.add(new CompletableFuture<>());
        }
        Semaphore window = new Semaphore(concurrency);
        AtomicInteger same = new AtomicInteger();
        long[] sentAt = new long[calls.size()];
        ExecutorService workers = Executors.newFixedThreadPool(concurrency);
        long started = System.nanoTime();
        long cpuAtStart = ConnectorProcess.cpuMillis(ProcessHandle.current());
        try {
            for (int i = 0; i < calls.size(); i++) {
                window.acquire();
                int index = i;
                workers.execute(() -> {
                    try {
                        for (int d : dependsOn.get(index)) {
                            done.get(d).join();
                        }
                        Call call = calls.get(index);
                        sentAt[index] = System.nanoTime();
                        if (send(call, call.partnerCenter() ? pcToken : dvToken)) {
                            same.incrementAndGet();
                        }
                    } catch (Exception e) {
                        // counted as a different status
                    } finally {
                        done.get(index).complete(null);
                        window.release();
                    }
                });
            }
            CompletableFuture.allOf(done.toArray(CompletableFuture[]::new)).join();
        } finally {
            workers.shutdownNow();
        }
        long ended = System.nanoTime();
        return new Result((ended - started) / 1_000_000, calls.size(), same.get(), concurrency,
                calls.isEmpty() ? 0 : (ended - sentAt[Math.min(from, calls.size() - 1)]) / 1_000_000,
                ConnectorProcess.cpuMillis(ProcessHandle.current()) - cpuAtStart);
    }

    /** Sends one recorded call, rewritten; learns the new ids and eTags; true when the status matched. */
    private boolean send(Call call, String token) throws Exception {
        CallLog.Captured c = call.captured();
        String base = call.partnerCenter() ? sandbox.partnerCenter().baseUrl() : sandbox.dataverse().environmentUrl();
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + rewrite(c.uri())))
                .timeout(Duration.ofSeconds(30)).header("Authorization", "Bearer " + token)
                .header("Accept", "application/json");
        if (!call.partnerCenter()) {
            b.header("OData-Version", "4.0").header("OData-MaxVersion", "4.0");
        }
        c.requestHeaders().forEach((k, v) -> b.header(k, rewrite(v)));
        String body = c.requestBody() == null || c.requestBody().isEmpty() ? null : rewrite(c.requestBody());
        b.method(c.method(), body == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        for (String h : List.of("OData-EntityId", "ETag", "Location")) {
            String recorded = c.responseHeaders().get(h);
            String replayed = r.headers().firstValue(h).orElse(null);
            if (recorded != null && replayed != null) {
                correlate(recorded, replayed);
            }
        }
        if (c.responseBody() != null && !c.responseBody().isEmpty() && r.body() != null && !r.body().isEmpty()) {
            try {
                correlate(JSON.readTree(c.responseBody()), JSON.readTree(r.body()));
            } catch (Exception notJson) {
                // nothing to learn
            }
        }
        return r.statusCode() == c.status();
    }

    private void correlate(JsonNode recorded, JsonNode replayed) {
        if (recorded == null || replayed == null) {
            return;
        }
        if (recorded.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = recorded.fields(); it.hasNext();) {
                var e = it.next();
                correlate(e.getValue(), replayed.get(e.getKey()));
            }
        } else if (recorded.isArray()) {
            for (int i = 0; i < recorded.size() && i < replayed.size(); i++) {
                correlate(recorded.get(i), replayed.get(i));
            }
        } else if (recorded.isTextual() && replayed.isTextual()) {
            correlate(recorded.asText(), replayed.asText());
        }
    }

    private void correlate(String recorded, String replayed) {
        if (recorded.equals(replayed)) {
            return;
        }
        List<String> a = tokens(recorded);
        List<String> b = tokens(replayed);
        for (int i = 0; i < a.size() && i < b.size(); i++) {
            if (!a.get(i).equals(b.get(i))) {
                mapping.put(a.get(i), b.get(i));
            }
        }
    }

    private static final Pattern CONTINUATION = Pattern.compile("(?i)(?:\\$|%24)(?:skiptoken|deltatoken)=([A-Za-z0-9_%=-]+)");

    /** Paging and change-tracking continuation tokens ($skiptoken, $deltatoken) in a URL or an answer. */
    private static List<String> continuations(String text) {
        List<String> out = new ArrayList<>();
        if (text != null) {
            Matcher m = CONTINUATION.matcher(text);
            while (m.find()) {
                out.add(java.net.URLDecoder.decode(m.group(1), StandardCharsets.UTF_8));
            }
        }
        return out;
    }

    /** GUIDs as they are, eTags as W/n. */
    private static List<String> tokens(String text) {
        List<String> out = new ArrayList<>();
        if (text == null) {
            return out;
        }
        Matcher m = TOKEN.matcher(text);
        while (m.find()) {
            out.add(m.group(1) != null ? "W/" + m.group(1) : m.group().toLowerCase());
        }
        return out;
    }

    private String rewrite(String text) {
        if (text == null || mapping.isEmpty()) {
            return text;
        }
        Matcher m = TOKEN.matcher(text);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            String replacement;
            if (m.group(1) != null) {
                String to = mapping.get("W/" + m.group(1));
                replacement = to == null ? m.group() : m.group().replace(m.group(1), to.substring(2));
            } else {
                String to = mapping.get(m.group().toLowerCase());
                replacement = to == null ? m.group() : to;
            }
            m.appendReplacement(sb, Matcher.quoteReplacement(replacement));
        }
        m.appendTail(sb);
        return sb.toString();
    }

    private String token(String grant, String scope) throws Exception {
        var o = sandbox.options();
        String form = "grant_type=" + grant + "&client_id=" + enc(o.clientId()) + "&client_secret=" + enc(o.clientSecret())
                + "&scope=" + enc(scope);
        if (grant.equals("refresh_token")) {
            form += "&refresh_token=" + enc(sandbox.entra().issueRefreshToken(o.tenant(), o.clientId(), o.user()));
        }
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(sandbox.entra().baseUrl() + "/" + o.tenant()
                + "/oauth2/v2.0/token")).header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString(form)).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IllegalStateException("token for the replay: " + r.statusCode() + " " + r.body());
        }
        return JSON.readTree(r.body()).path("access_token").asText();
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }
}
