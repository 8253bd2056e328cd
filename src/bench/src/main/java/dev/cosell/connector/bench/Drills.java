package dev.cosell.connector.bench;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.Signature;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntSupplier;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.Sandbox;

/**
 * Reliability drills (drills/run), not tests: the connector as a child JVM against the sandbox on
 * loopback, treated as a crash, an attacker and a flood would treat it. Prints one table and writes
 * JSON (target/drills/results-*.json, latest.json) and the table as Markdown (latest.md).
 * <ol>
 * <li><b>kill -9</b>: referral-created events for {@code referrals} referrals (40 customers) at
 * {@code rate}/s, the connector killed with SIGKILL at a random moment and started again on the same
 * store; then referral-updated events for all of them, killed again. Events not answered 200 (the
 * node was down) are delivered again, as Partner Center retries. Counted after restart: referrals
 * without an opportunity (lost; and of those, the ones answered 200), opportunities beyond one per
 * referral (duplicated), accounts and contacts beyond one per customer, updates not applied. On H2
 * and on PostgreSQL, {@code runs} times each.</li>
 * <li><b>flood</b>: {@code flood-posts} concurrent unsigned posts of {@code flood-mib} MiB: statuses,
 * OutOfMemoryErrors in the connector's log, its peak RSS, and whether it still takes a genuine event.</li>
 * <li><b>tarpit</b>: {@code tarpit-posts} unsigned posts whose certificate URL (on the allowed host)
 * never answers, while Partner Center delivers {@code genuine-posts} genuine events: their answer time
 * (p50, p99, max) and how many certificate downloads the connector started.</li>
 * <li><b>burst</b>: {@code burst} signed events posted as fast as {@code burst-concurrency} connections
 * allow: answers, post rate, and the time until every referral has its opportunity.</li>
 * </ol>
 */
public final class Drills {

    private static final String CUSTOMER_PREFIX = "Backfill Customer ";

    record Options(int runs, int referrals, double rate, List<String> stores, int floodPosts, int floodMib, int tarpitPosts,
            int genuinePosts, int burst, int burstConcurrency, String heap, long seed, Set<String> only, Path out,
            String pgUrl, String pgUser, String pgPassword) {

        static Options parse(String[] args) {
            Map<String, String> a = new HashMap<>();
            for (String arg : args) {
                if (!arg.startsWith("--") || !arg.contains("=")) {
                    throw new IllegalArgumentException("arguments are --name=value, got " + arg);
                }
                a.put(arg.substring(2, arg.indexOf('=')), arg.substring(arg.indexOf('=') + 1));
            }
            return new Options(Integer.parseInt(a.getOrDefault("runs", "5")), Integer.parseInt(a.getOrDefault("referrals", "600")),
                    Double.parseDouble(a.getOrDefault("rate", "50")), List.of(a.getOrDefault("stores", "h2,postgres").split(",")),
                    Integer.parseInt(a.getOrDefault("flood-posts", "48")), Integer.parseInt(a.getOrDefault("flood-mib", "10")),
                    Integer.parseInt(a.getOrDefault("tarpit-posts", "100")),
                    Integer.parseInt(a.getOrDefault("genuine-posts", "100")), Integer.parseInt(a.getOrDefault("burst", "2000")),
                    Integer.parseInt(a.getOrDefault("burst-concurrency", "32")), a.getOrDefault("connector-heap", "512m"),
                    Long.parseLong(a.getOrDefault("seed", String.valueOf(System.currentTimeMillis()))),
                    Set.of(a.getOrDefault("only", "kill,flood,tarpit,burst").split(",")),
                    Path.of(a.getOrDefault("out", "target/drills")),
                    env("COSELL_DRILL_PG_URL", "jdbc:postgresql://127.0.0.1:5432/test"), env("COSELL_DRILL_PG_USER", "postgres"),
                    env("COSELL_DRILL_PG_PASSWORD", ""));
        }

        private static String env(String name, String def) {
            String v = System.getenv(name);
            return v == null || v.isBlank() ? def : v;
        }
    }

    private final Options options;
    private final ObjectNode results = Benchmark.JSON.createObjectNode();
    private final List<String[]> rows = new ArrayList<>();
    private final List<String> misses = new ArrayList<>();

    private Drills(Options options) {
        this.options = options;
    }

    public static void main(String[] args) throws Exception {
        Drills d = new Drills(Options.parse(args));
        d.run();
        System.exit(d.misses.isEmpty() ? 0 : 1);
    }

    private void run() throws Exception {
        Files.createDirectories(options.out());
        results.put("startedAt", Instant.now().toString()).put("seed", options.seed());
        results.set("options", Benchmark.JSON.valueToTree(options.toString()));
        results.set("machine", Benchmark.JSON.valueToTree(Map.of("cores", Runtime.getRuntime().availableProcessors(), "java",
                System.getProperty("java.vm.name") + " " + System.getProperty("java.version"))));
        if (options.only().contains("kill")) {
            ArrayNode kills = results.putArray("kill");
            for (String store : options.stores()) {
                for (int run = 1; run <= options.runs(); run++) {
                    kills.add(killRun(store.trim(), run));
                }
            }
        }
        if (options.only().contains("flood")) {
            results.set("flood", flood());
        }
        if (options.only().contains("tarpit")) {
            results.set("tarpit", tarpit());
        }
        if (options.only().contains("burst")) {
            results.set("burst", burst());
        }
        results.put("finishedAt", Instant.now().toString());
        results.set("misses", Benchmark.JSON.valueToTree(misses));
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        String json = Benchmark.JSON.writeValueAsString(results);
        Files.writeString(options.out().resolve("results-" + stamp + ".json"), json);
        Files.writeString(options.out().resolve("latest.json"), json);
        String table = markdown();
        Files.writeString(options.out().resolve("latest.md"), table);
        System.out.println();
        System.out.println("cosell-connector drills (" + Runtime.getRuntime().availableProcessors() + " cores, Java "
                + System.getProperty("java.version") + ", connector -Xmx" + options.heap() + ", seed " + options.seed() + ")");
        System.out.println(table);
        System.out.println(misses.isEmpty() ? "All targets met." : "MISSED: " + String.join("; ", misses));
        System.out.println("JSON: " + options.out().resolve("results-" + stamp + ".json"));
    }

    private String markdown() {
        StringBuilder b = new StringBuilder("| drill | result | target |\n|---|---|---|\n");
        rows.forEach(r -> b.append("| ").append(r[0]).append(" | ").append(r[1]).append(" | ").append(r[2]).append(" |\n"));
        return b.toString();
    }

    private void row(String drill, String result, String target, boolean met) {
        rows.add(new String[] { drill, result, target + (met ? " ✔" : " ✘") });
        if (!met) {
            misses.add(drill + ": " + result);
        }
        System.out.println(drill + ": " + result + (met ? "" : "  <-- target " + target + " missed"));
    }

    // ------------------------------------------------------------------------------------ kill -9

    private ObjectNode killRun(String store, int run) throws Exception {
        // SplittableRandom: java.util.Random's first draws from neighbouring seeds are nearly equal.
        SplittableRandom random = new SplittableRandom(options.seed() * 31 + run * 7L + store.hashCode());
        ObjectNode out = Benchmark.JSON.createObjectNode().put("store", store).put("run", run);
        int n = options.referrals();
        String schema = null;
        try (Sandbox sandbox = sandbox(); Signer signer = new Signer(sandbox)) {
            Referrals.load(sandbox, 0, n);
            List<String> ids = IntStream.range(0, n).mapToObj(Drills::referralId).toList();
            Map<String, String> extra = new LinkedHashMap<>();
            if (store.equals("postgres")) {
                schema = createSchema();
                extra.put("store.url", options.pgUrl() + (options.pgUrl().contains("?") ? "&" : "?") + "currentSchema=" + schema);
                extra.put("store.user", options.pgUser());
                extra.put("store.password", options.pgPassword());
            }
            Path dir = options.out().resolve("kill-" + store + "-" + run);
            ConnectorProcess node = ConnectorProcess.start(sandbox, dir, options.heap(), extra, "node-1");
            try {
                // 1. creates, killed once
                List<String> created = ids.stream().map(id -> event("referral-created", id)).toList();
                Burst creates = burstWithKill(node, signer, created, random, "node-2");
                node = creates.node;
                settle(() -> lost(sandbox, ids).size(), 120);
                List<String> lostCreates = lost(sandbox, ids);
                out.set("creates", creates.json().put("lost", lostCreates.size())
                        .put("lostAnswered200", lostCreates.stream().filter(id -> creates.answered200(ids.indexOf(id))).count()));

                // 2. updates of the same referrals (a new deal value each), killed once more
                Map<String, Long> values = new HashMap<>();
                for (int i = 0; i < n; i++) {
                    long value = 100_000 + i + 1000L * run;
                    values.put(ids.get(i), value);
                    ObjectNode patch = Benchmark.JSON.createObjectNode();
                    patch.putObject("details").put("dealValue", value);
                    sandbox.partnerCenter().updateAsMicrosoft(sandbox.tenant(), ids.get(i), patch);
                }
                List<String> updated = ids.stream().map(id -> event("referral-updated", id)).toList();
                Burst updates = burstWithKill(node, signer, updated, random, "node-3");
                node = updates.node;
                settle(() -> notUpdated(sandbox, values).size(), 120);
                List<String> missed = notUpdated(sandbox, values);
                out.set("updates", updates.json().put("notApplied", missed.size())
                        .put("notAppliedAnswered200", missed.stream().filter(id -> updates.answered200(ids.indexOf(id))).count()));
            } finally {
                node.close();
            }
            // 3. what the CRM holds
            Map<String, Long> perReferral = opportunitiesPerReferral(sandbox);
            long duplicated = perReferral.values().stream().mapToLong(c -> Math.max(0, c - 1)).sum();
            List<JsonNode> accounts = sandbox.dataverse().api().rows("accounts").stream()
                    .filter(a -> a.path("name").asText().startsWith(CUSTOMER_PREFIX)).collect(Collectors.toList());
            List<JsonNode> contacts = sandbox.dataverse().api().rows("contacts").stream()
                    .filter(c -> c.path("emailaddress1").asText().contains("backfill-customer")).collect(Collectors.toList());
            long customers = Math.min(n, 40);
            out.put("opportunities", perReferral.size()).put("duplicated", duplicated).put("accounts", accounts.size())
                    .put("contacts", contacts.size()).put("customers", customers);
            long lost = out.path("creates").path("lost").asLong() + out.path("updates").path("notApplied").asLong();
            boolean met = lost == 0 && duplicated == 0 && accounts.size() == customers && contacts.size() == customers;
            row("kill -9 " + store + " run " + run, String.format(
                    "creates killed at %d ms (%d not answered, resent), updates killed at %d ms (%d resent): lost %d, "
                            + "updates not applied %d, duplicated %d, accounts %d/%d, contacts %d/%d",
                    out.path("creates").path("killedAtMs").asLong(), out.path("creates").path("resent").asLong(),
                    out.path("updates").path("killedAtMs").asLong(), out.path("updates").path("resent").asLong(),
                    out.path("creates").path("lost").asLong(), out.path("updates").path("notApplied").asLong(), duplicated,
                    accounts.size(), customers, contacts.size(), customers),
                    "0 lost, 0 duplicated, one account and contact per customer", met);
        } finally {
            if (schema != null) {
                dropSchema(schema);
            }
        }
        return out;
    }

    /** What a burst with a kill in it did: answers of the first delivery, resends, the node now running. */
    private record Burst(ConnectorProcess node, AtomicIntegerArray first, int resent, long killedAtMs, long downMs) {
        boolean answered200(int i) {
            return first.get(i) == 200;
        }

        ObjectNode json() {
            Map<String, Integer> statuses = new TreeMap<>();
            for (int i = 0; i < first.length(); i++) {
                statuses.merge(first.get(i) < 0 ? "no answer" : String.valueOf(first.get(i)), 1, Integer::sum);
            }
            ObjectNode o = Benchmark.JSON.createObjectNode().put("killedAtMs", killedAtMs).put("downMs", downMs)
                    .put("resent", resent);
            o.set("firstAnswers", Benchmark.JSON.valueToTree(statuses));
            return o;
        }
    }

    /**
     * Posts {@code events} at the drill's rate; at a random moment in the burst the node is killed with
     * SIGKILL and started again on the same store (the posts go on meanwhile and fail while it is down).
     * Then every event not answered 200 is delivered again until it is, as Partner Center retries.
     */
    private Burst burstWithKill(ConnectorProcess node, Signer signer, List<String> events, SplittableRandom random,
            String restartName)
            throws Exception {
        long periodNanos = (long) (1_000_000_000L / options.rate());
        long burstMs = events.size() * 1000L / (long) options.rate();
        long killAt = burstMs / 4 + (long) (random.nextDouble() * burstMs / 2); // somewhere in the middle half
        AtomicIntegerArray first = new AtomicIntegerArray(events.size());
        List<CompletableFuture<Void>> posts = new ArrayList<>();
        ScheduledExecutorService clock = Executors.newSingleThreadScheduledExecutor();
        CompletableFuture<ConnectorProcess> restarted = new CompletableFuture<>();
        long[] down = new long[2];
        try {
            String url = node.webhookUrl();
            long start = System.nanoTime();
            clock.schedule(() -> {
                try {
                    down[0] = System.nanoTime();
                    node.kill();
                    ConnectorProcess next = node.restart(restartName);
                    down[1] = System.nanoTime();
                    restarted.complete(next);
                } catch (Exception e) {
                    restarted.completeExceptionally(e);
                }
            }, killAt, TimeUnit.MILLISECONDS);
            for (int i = 0; i < events.size(); i++) {
                LockSupport.parkNanos(start + i * periodNanos - System.nanoTime());
                int index = i;
                posts.add(signer.postAsync(url, events.get(i)).thenAccept(status -> first.set(index, status)));
            }
            CompletableFuture.allOf(posts.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
            ConnectorProcess next = restarted.get(120, TimeUnit.SECONDS);
            int resent = 0;
            for (int i = 0; i < events.size(); i++) {
                if (first.get(i) != 200) {
                    resent++;
                    signer.postUntilAccepted(url, events.get(i));
                }
            }
            return new Burst(next, first, resent, killAt, (down[1] - down[0]) / 1_000_000);
        } finally {
            clock.shutdownNow();
        }
    }

    private static List<String> lost(Sandbox sandbox, List<String> ids) {
        Map<String, Long> per = opportunitiesPerReferral(sandbox);
        return ids.stream().filter(id -> !per.containsKey(id)).toList();
    }

    private static List<String> notUpdated(Sandbox sandbox, Map<String, Long> values) {
        Map<String, Long> value = new HashMap<>();
        for (JsonNode o : sandbox.dataverse().api().rows("opportunities")) {
            value.put(o.path("cosell_referralid").asText(), o.path("estimatedvalue").asLong());
        }
        return values.entrySet().stream().filter(e -> !e.getValue().equals(value.get(e.getKey()))).map(Map.Entry::getKey)
                .toList();
    }

    private static Map<String, Long> opportunitiesPerReferral(Sandbox sandbox) {
        return sandbox.dataverse().api().rows("opportunities").stream().map(o -> o.path("cosell_referralid").asText())
                .filter(id -> !id.isEmpty()).collect(Collectors.groupingBy(id -> id, Collectors.counting()));
    }

    // ------------------------------------------------------------------------------------ flood

    private ObjectNode flood() throws Exception {
        ObjectNode out = Benchmark.JSON.createObjectNode();
        try (Sandbox sandbox = sandbox(); Signer signer = new Signer(sandbox);
                ConnectorProcess node = ConnectorProcess.start(sandbox, options.out().resolve("flood"), options.heap(), Map.of(),
                        "node")) {
            Referrals.load(sandbox, 0, 1);
            byte[] body = new byte[options.floodMib() * 1024 * 1024];
            java.util.Arrays.fill(body, (byte) ' ');
            body[0] = '{';
            body[body.length - 1] = '}';
            ExecutorService pool = Executors.newFixedThreadPool(options.floodPosts());
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5))
                    .build();
            Map<String, Integer> statuses = new TreeMap<>();
            long started = System.nanoTime();
            try {
                List<Future<String>> answers = new ArrayList<>();
                for (int i = 0; i < options.floodPosts(); i++) {
                    answers.add(pool.submit(() -> {
                        try {
                            return String.valueOf(http.send(HttpRequest.newBuilder(URI.create(node.webhookUrl()))
                                    .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                                    .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                                    HttpResponse.BodyHandlers.discarding()).statusCode());
                        } catch (IOException e) {
                            return "closed before an answer";
                        }
                    }));
                }
                for (Future<String> a : answers) {
                    statuses.merge(a.get(120, TimeUnit.SECONDS), 1, Integer::sum);
                }
            } finally {
                pool.shutdownNow();
            }
            long tookMs = (System.nanoTime() - started) / 1_000_000;
            int after = signer.post(node.webhookUrl(), event("referral-created", referralId(0)));
            settle(() -> lost(sandbox, List.of(referralId(0))).size(), 30);
            boolean synced = lost(sandbox, List.of(referralId(0))).isEmpty();
            long ooms = Files.readAllLines(node.log()).stream().filter(l -> l.contains("OutOfMemoryError")).count();
            long rssMb = node.peakRssKb() / 1024;
            boolean alive = node.alive();
            out.set("statuses", Benchmark.JSON.valueToTree(statuses));
            out.put("posts", options.floodPosts()).put("mib", options.floodMib()).put("tookMs", tookMs).put("ooms", ooms)
                    .put("peakRssMb", rssMb).put("alive", alive).put("genuineAfter", after).put("genuineSynced", synced);
            boolean refused = statuses.keySet().stream().noneMatch(s -> s.startsWith("5") || s.equals("200"));
            row(options.floodPosts() + " x " + options.floodMib() + " MiB unsigned posts",
                    String.format("answers %s in %d ms; OutOfMemoryError %d; peak RSS %d MB; then a genuine event: %d, %s", statuses,
                            tookMs, ooms, rssMb, after, synced ? "synced" : "NOT synced"),
                    "all refused (413), 0 OOM, still serving", refused && ooms == 0 && alive && after == 200 && synced);
        }
        return out;
    }

    // ------------------------------------------------------------------------------------ tarpit

    private ObjectNode tarpit() throws Exception {
        ObjectNode out = Benchmark.JSON.createObjectNode();
        int g = options.genuinePosts();
        try (Sandbox sandbox = sandbox(); Signer signer = new Signer(sandbox);
                ConnectorProcess node = ConnectorProcess.start(sandbox, options.out().resolve("tarpit"), options.heap(), Map.of(),
                        "node")) {
            Referrals.load(sandbox, 0, g + 1);
            // Partner Center delivers all the time: its certificate is in the connector's cache already.
            signer.postUntilAccepted(node.webhookUrl(), event("referral-created", referralId(g)));
            String bait = "{\"EventName\":\"referral-created\",\"ResourceUri\":\"https://x/engagements/v1/referrals/x\"}";
            ExecutorService pool = Executors.newFixedThreadPool(options.tarpitPosts());
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5))
                    .build();
            Map<String, Integer> tarpitStatuses = new TreeMap<>();
            long[] genuineMs = new long[g];
            int[] genuineStatus = new int[g];
            try {
                List<Future<Integer>> attack = new ArrayList<>();
                for (int i = 0; i < options.tarpitPosts(); i++) {
                    String certificate = sandbox.partnerCenter().tarpitCertificateUrl("drill-" + i);
                    attack.add(pool.submit(() -> {
                        try {
                            return http.send(HttpRequest.newBuilder(URI.create(node.webhookUrl())).timeout(Duration.ofSeconds(90))
                                    .header("Content-Type", "application/json").header("Authorization", "Signature AAAA")
                                    .header("x-ms-certificate-url", certificate).header("x-ms-signature-algorithm", "rsa-sha256")
                                    .POST(HttpRequest.BodyPublishers.ofString(bait)).build(),
                                    HttpResponse.BodyHandlers.discarding()).statusCode();
                        } catch (IOException e) {
                            return -1;
                        }
                    }));
                }
                // Genuine deliveries at 20/s while the attack is in flight.
                long start = System.nanoTime();
                List<CompletableFuture<Void>> genuine = new ArrayList<>();
                for (int i = 0; i < g; i++) {
                    LockSupport.parkNanos(start + i * 50_000_000L - System.nanoTime());
                    int index = i;
                    long sent = System.nanoTime();
                    genuine.add(signer.postAsync(node.webhookUrl(), event("referral-created", referralId(i))).thenAccept(s -> {
                        genuineMs[index] = (System.nanoTime() - sent) / 1_000_000;
                        genuineStatus[index] = s;
                    }));
                }
                CompletableFuture.allOf(genuine.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
                for (Future<Integer> a : attack) {
                    tarpitStatuses.merge(String.valueOf(a.get(120, TimeUnit.SECONDS)), 1, Integer::sum);
                }
            } finally {
                pool.shutdownNow();
            }
            long[] sorted = genuineMs.clone();
            java.util.Arrays.sort(sorted);
            long p50 = sorted[(int) Math.ceil(0.50 * g) - 1];
            long p99 = sorted[(int) Math.ceil(0.99 * g) - 1];
            long max = sorted[g - 1];
            long genuine200 = IntStream.of(genuineStatus).filter(s -> s == 200).count();
            List<String> ids = IntStream.range(0, g).mapToObj(Drills::referralId).toList();
            settle(() -> lost(sandbox, ids).size(), 60);
            int notSynced = lost(sandbox, ids).size();
            int downloads = sandbox.partnerCenter().tarpitRequests();
            out.set("tarpitAnswers", Benchmark.JSON.valueToTree(tarpitStatuses));
            out.put("genuine", g).put("genuine200", genuine200).put("p50Ms", p50).put("p99Ms", p99).put("maxMs", max)
                    .put("certificateDownloads", downloads).put("notSynced", notSynced);
            row(options.tarpitPosts() + " posts with a tarpit certificate URL",
                    String.format("%d genuine deliveries meanwhile: %d answered 200, p50 %d ms, p99 %d ms, max %d ms, %d not synced; "
                            + "tarpit answers %s, downloads started %d", g, genuine200, p50, p99, max, notSynced, tarpitStatuses,
                            downloads),
                    "genuine p99 < 1 s", p99 < 1000 && genuine200 == g && notSynced == 0);
        }
        return out;
    }

    // ------------------------------------------------------------------------------------ burst

    private ObjectNode burst() throws Exception {
        ObjectNode out = Benchmark.JSON.createObjectNode();
        int n = options.burst();
        try (Sandbox sandbox = sandbox(); Signer signer = new Signer(sandbox, options.burstConcurrency());
                ConnectorProcess node = ConnectorProcess.start(sandbox, options.out().resolve("burst"), options.heap(), Map.of(),
                        "node")) {
            Referrals.load(sandbox, 0, n);
            List<String> ids = IntStream.range(0, n).mapToObj(Drills::referralId).toList();
            List<String> events = ids.stream().map(id -> event("referral-created", id)).toList();
            AtomicIntegerArray first = new AtomicIntegerArray(n);
            java.util.concurrent.Semaphore inFlight = new java.util.concurrent.Semaphore(options.burstConcurrency());
            List<CompletableFuture<Void>> posts = new ArrayList<>();
            long start = System.nanoTime();
            for (int i = 0; i < n; i++) {
                inFlight.acquire();
                int index = i;
                posts.add(signer.postAsync(node.webhookUrl(), events.get(i)).thenAccept(s -> {
                    first.set(index, s);
                    inFlight.release();
                }));
            }
            CompletableFuture.allOf(posts.toArray(CompletableFuture[]::new)).get(300, TimeUnit.SECONDS);
            long postedMs = (System.nanoTime() - start) / 1_000_000;
            int resent = 0;
            Map<String, Integer> statuses = new TreeMap<>();
            for (int i = 0; i < n; i++) {
                statuses.merge(first.get(i) < 0 ? "no answer" : String.valueOf(first.get(i)), 1, Integer::sum);
                if (first.get(i) != 200) {
                    resent++;
                    signer.postUntilAccepted(node.webhookUrl(), events.get(i));
                }
            }
            settle(() -> lost(sandbox, ids).size(), 600);
            long drainMs = (System.nanoTime() - start) / 1_000_000;
            int notSynced = lost(sandbox, ids).size();
            long duplicated = opportunitiesPerReferral(sandbox).values().stream().mapToLong(c -> Math.max(0, c - 1)).sum();
            out.set("answers", Benchmark.JSON.valueToTree(statuses));
            out.put("events", n).put("postedMs", postedMs).put("postsPerSecond", n * 1000L / Math.max(1, postedMs))
                    .put("resent", resent).put("drainMs", drainMs).put("notSynced", notSynced).put("duplicated", duplicated);
            row(n + "-post burst",
                    String.format("posted in %d ms (%d/s, %d connections), answers %s; every referral synced after %d ms "
                            + "(%d not synced, %d duplicated)", postedMs, n * 1000L / Math.max(1, postedMs),
                            options.burstConcurrency(), statuses, drainMs, notSynced, duplicated),
                    "all processed, none twice", notSynced == 0 && duplicated == 0);
        }
        return out;
    }

    // ------------------------------------------------------------------------------------ parts

    /** The emulators as in the benchmark: throttling off, answers not checked against the contract (the tests do). */
    private static Sandbox sandbox() {
        Sandbox sandbox = Sandbox.start(Sandbox.Options.defaults());
        sandbox.partnerCenter().referrals().setCheckAnswers(false);
        // The drill delivers the events itself (and knows what each was answered).
        sandbox.partnerCenter().webhooks().setEnabled(false);
        return sandbox;
    }

    private static String referralId(int i) {
        return String.format("b0000000-0000-4000-8000-%012d", i); // as Referrals.load numbers them
    }

    /** A Partner Center event in the documented shape; a new change time makes each one distinct. */
    private static String event(String name, String referralId) {
        return "{\"EventName\":\"" + name + "\",\"ResourceUri\":\"https://api.partnercenter.microsoft.com/engagements/v1/referrals/"
                + referralId + "\",\"ResourceName\":\"referral\",\"AuditUri\":null,\"ResourceChangeUtcDate\":\""
                + Instant.now() + "\"}";
    }

    /** Waits until nothing remains or, at most, {@code maxSeconds} (a loss shows as what remains then). */
    private static void settle(IntSupplier remaining, int maxSeconds) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(maxSeconds);
        while (remaining.getAsInt() > 0 && System.nanoTime() < deadline) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(500));
        }
    }

    private String createSchema() throws Exception {
        String schema = "cosell_drill_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
        try (Connection c = DriverManager.getConnection(options.pgUrl(), options.pgUser(), options.pgPassword());
                Statement s = c.createStatement()) {
            s.execute("create schema " + schema);
        } catch (Exception e) {
            throw new IllegalStateException("PostgreSQL not reachable at " + options.pgUrl() + " (COSELL_DRILL_PG_URL; "
                    + "or --stores=h2): " + e.getMessage(), e);
        }
        return schema;
    }

    private void dropSchema(String schema) {
        try (Connection c = DriverManager.getConnection(options.pgUrl(), options.pgUser(), options.pgPassword());
                Statement s = c.createStatement()) {
            s.execute("drop schema " + schema + " cascade");
        } catch (Exception e) {
            System.out.println("could not drop drill schema " + schema + ": " + e.getMessage());
        }
    }

    /** Signs and posts events as Partner Center does (Authorization: Signature, certificate URL, algorithm). */
    private static final class Signer implements AutoCloseable {
        private final PrivateKey key;
        private final String certificateUrl;
        private final ExecutorService executor;
        private final HttpClient http;

        Signer(Sandbox sandbox) {
            this(sandbox, 16);
        }

        Signer(Sandbox sandbox, int threads) {
            this.key = sandbox.pki().signingKey();
            this.certificateUrl = sandbox.partnerCenter().certificateUrl();
            this.executor = Executors.newFixedThreadPool(threads);
            this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2))
                    .executor(executor).build();
        }

        private HttpRequest request(String url, String body) {
            try {
                Signature s = Signature.getInstance("SHA256withRSA");
                s.initSign(key);
                s.update(body.getBytes(StandardCharsets.UTF_8));
                return HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30))
                        .header("Content-Type", "application/json")
                        .header("Authorization", "Signature " + Base64.getEncoder().encodeToString(s.sign()))
                        .header("x-ms-certificate-url", certificateUrl).header("x-ms-signature-algorithm", "rsa-sha256")
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build();
            } catch (java.security.GeneralSecurityException e) {
                throw new IllegalStateException(e);
            }
        }

        /** The answer's status, or -1 when there was none (refused, reset, timed out). */
        CompletableFuture<Integer> postAsync(String url, String body) {
            return http.sendAsync(request(url, body), HttpResponse.BodyHandlers.discarding()).thenApply(HttpResponse::statusCode)
                    .exceptionally(e -> -1);
        }

        int post(String url, String body) throws Exception {
            return postAsync(url, body).get(60, TimeUnit.SECONDS);
        }

        /** Delivers again until answered 200 (Partner Center retries a delivery that failed), at most 20 tries. */
        void postUntilAccepted(String url, String body) throws Exception {
            for (int attempt = 0; attempt < 20; attempt++) {
                if (post(url, body) == 200) {
                    return;
                }
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(500));
            }
            throw new IllegalStateException("an event was not accepted after 20 deliveries: " + body);
        }

        @Override
        public void close() {
            executor.shutdownNow();
        }
    }
}
