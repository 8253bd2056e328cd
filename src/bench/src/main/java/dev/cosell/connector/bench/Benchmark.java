package dev.cosell.connector.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.CallLog;
import dev.cosell.connector.sandbox.dataverse.DataverseEmulator;
import dev.cosell.connector.sandbox.Sandbox;

/**
 * The benchmark (bench/run): emulators with throttling off in this JVM, the connector as a child JVM
 * against them over loopback HTTPS, and one table of figures (also written as JSON):
 * <ol>
 * <li>webhook → opportunity written latency for referral-created events at a steady rate, and for updates;</li>
 * <li>opportunity change → referral written latency, with the wait for the poll apart from processing;</li>
 * <li>backfill of referrals (and of flagged opportunities the other way) beside a bare replay of the
 * same calls with a plain HttpClient;</li>
 * <li>API calls per synced change per remote system, and writes on echo;</li>
 * <li>the connector JVM's peak heap and RSS during the backfill.</li>
 * </ol>
 * Not a test: figures depend on the machine. Arguments: {@code --name=value}, see {@link Options}.
 */
public final class Benchmark {

    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Sizes and rates (defaults finish in about 4 minutes on 2 cores). */
    record Options(int creates, int updates, double rate, int opportunityChanges, int backfill, int backfillOpportunities,
            int warmup, String connectorHeap, int pollIntervalMs, int memoryBackfill, int backfillRunningNode, Path out,
            LatencyBench.Options latency) {

        static Options parse(String[] args) {
            Map<String, String> a = new HashMap<>();
            for (String arg : args) {
                if (arg.equals("--latency")) {
                    a.put("latency", "true");
                    continue;
                }
                if (!arg.startsWith("--") || !arg.contains("=")) {
                    throw new IllegalArgumentException("arguments are --name=value, got " + arg);
                }
                a.put(arg.substring(2, arg.indexOf('=')), arg.substring(arg.indexOf('=') + 1));
            }
            return new Options(Integer.parseInt(a.getOrDefault("creates", "2000")),
                    Integer.parseInt(a.getOrDefault("updates", "500")), Double.parseDouble(a.getOrDefault("rate", "50")),
                    Integer.parseInt(a.getOrDefault("opportunity-changes", "200")),
                    Integer.parseInt(a.getOrDefault("backfill", "10000")),
                    Integer.parseInt(a.getOrDefault("backfill-opportunities", "2000")),
                    Integer.parseInt(a.getOrDefault("warmup", "1000")), a.getOrDefault("connector-heap", "512m"),
                    Integer.parseInt(a.getOrDefault("poll-interval-ms", "2000")),
                    Integer.parseInt(a.getOrDefault("memory-backfill", "10000")),
                    Integer.parseInt(a.getOrDefault("backfill-running-node", "10000")),
                    Path.of(a.getOrDefault("out", "target/bench")),
                    !Boolean.parseBoolean(a.getOrDefault("latency", "false")) ? null
                            : new LatencyBench.Options(Integer.parseInt(a.getOrDefault("backfill", "10000")),
                                    Integer.parseInt(a.getOrDefault("backfill-opportunities", "2000")),
                                    Integer.parseInt(a.getOrDefault("creates", "2000")),
                                    Double.parseDouble(a.getOrDefault("rate", "50")),
                                    Integer.parseInt(a.getOrDefault("storm-events", "500")),
                                    Integer.parseInt(a.getOrDefault("storm-seconds", "5")),
                                    Integer.parseInt(a.getOrDefault("pages-in-flight", "0")),
                                    Integer.parseInt(a.getOrDefault("partnercenter-max", "16")),
                                    Integer.parseInt(a.getOrDefault("warmup", "1000")),
                                    Integer.parseInt(a.getOrDefault("workers", "0")),
                                    a.getOrDefault("connector-heap", "512m"), Path.of(a.getOrDefault("out", "target/bench"))));
        }
    }

    private final Options options;
    private final ObjectNode results = JSON.createObjectNode();
    private final List<String> table = new ArrayList<>();

    private Benchmark(Options options) {
        this.options = options;
    }

    public static void main(String[] args) throws Exception {
        Options options = Options.parse(args);
        Benchmark b = new Benchmark(options);
        b.run();
        System.exit(0);
    }

    private void run() throws Exception {
        Files.createDirectories(options.out());
        results.put("startedAt", Instant.now().toString());
        results.set("options", JSON.valueToTree(Map.of("creates", options.creates(), "updates", options.updates(),
                "ratePerSecond", options.rate(), "opportunityChanges", options.opportunityChanges(), "backfill",
                options.backfill(), "backfillOpportunities", options.backfillOpportunities(), "connectorHeap",
                options.connectorHeap(), "pollIntervalMs", options.pollIntervalMs(), "memoryBackfill", options.memoryBackfill(),
                "backfillRunningNode", options.backfillRunningNode())));
        long referenceMs = MachineSpeed.referenceCpuMs();
        results.set("machine", JSON.valueToTree(Map.of("cores", Runtime.getRuntime().availableProcessors(), "java",
                System.getProperty("java.vm.name") + " " + System.getProperty("java.version"), "os",
                System.getProperty("os.name") + " " + System.getProperty("os.arch"), "referenceWorkCpuMs", referenceMs)));
        if (options.latency() != null) {
            // --latency: realistic latency and limits, each scenario against its lower bound (LatencyBench).
            new LatencyBench(options.latency(), results, table).run();
        } else {
            loopback();
        }
        results.put("finishedAt", Instant.now().toString());
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        String prefix = options.latency() != null ? "results-latency-" : "results-";
        Files.writeString(options.out().resolve(prefix + stamp + ".json"), JSON.writeValueAsString(results));
        Files.writeString(options.out().resolve(options.latency() != null ? "latest-latency.json" : "latest.json"),
                JSON.writeValueAsString(results));
        System.out.println();
        System.out.println("cosell-connector benchmark (" + Runtime.getRuntime().availableProcessors() + " cores, "
                + System.getProperty("java.version") + ", load average " + loadAverage() + ", reference work "
                + referenceMs + " ms CPU: lower is a faster machine)");
        table.forEach(System.out::println);
        System.out.println("JSON: " + options.out().resolve(prefix + stamp + ".json"));
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (Exception e) {
            return "unknown";
        }
    }

    /** The loopback scenarios (no latency, no limits): the CPU-per-record regression table. */
    private void loopback() throws Exception {
        if (options.creates() > 0) {
            latency();
        }
        if (options.backfill() > 0 || options.backfillOpportunities() > 0 || options.backfillRunningNode() > 0) {
            warmEmulators();
        }
        if (options.backfill() > 0) {
            backfillReferrals();
        }
        if (options.backfillRunningNode() > 0) {
            backfillReferralsOnRunningNode();
        }
        if (options.backfillOpportunities() > 0) {
            backfillOpportunities();
        }
        if (options.memoryBackfill() > 0) {
            memory();
        }
        if (memoryLine != null) {
            table.add("");
            table.add(memoryLine);
        }
    }

    /** The emulators for a run: as in the tests, but without checking their own answers against the contract (the tests do). */
    private static Sandbox benchSandbox() {
        Sandbox sandbox = Sandbox.start(Sandbox.Options.defaults());
        sandbox.partnerCenter().referrals().setCheckAnswers(false);
        return sandbox;
    }

    // ------------------------------------------------------------------------------------ 1, 2, 4

    private void latency() throws Exception {
        try (Sandbox sandbox = benchSandbox()) {
            warmRemotes(sandbox);
            latency(sandbox);
        }
    }

    /**
     * The cold start is the connector's: Partner Center and Dataverse are warm services. This JVM's
     * emulators start as cold as the connector, so a throw-away connector first sends the warm-up's
     * number of events through them; then every record, registration and counted call is cleared. On Java 25
     * or newer (BENCH_CONNECTOR_JAVA_HOME) that run also records the AOT cache the measured connector starts
     * from (an experiment: bin/cosell-connector keeps none, docs/performance.md).
     */
    private void warmRemotes(Sandbox sandbox) throws Exception {
        Files.deleteIfExists(ConnectorProcess.aotCache(options.out().resolve("latency-remotes-warm-up")));
        try (ConnectorProcess connector = ConnectorProcess.start(sandbox, options.out().resolve("latency-remotes-warm-up"),
                options.connectorHeap(), Map.of(), "connector-remotes-warm-up")) {
            connector.stopMemorySampling();
            awaitUntil("webhook registration", 60, () -> sandbox.partnerCenter().webhooks().registration(sandbox.tenant()) != null);
            List<String> ids = createReferrals(sandbox, options.warmup(), "Remote warm-up", new LinkedHashMap<>());
            awaitUntil("the emulators' warm-up (" + ids.size() + " referrals)", 120,
                    () -> opportunityIdsByReferral(sandbox).keySet().containsAll(ids));
        }
        sandbox.partnerCenter().webhooks().clear();
        sandbox.partnerCenter().referrals().clear();
        sandbox.partnerCenter().calls().reset();
        sandbox.dataverse().api().clear();
        sandbox.dataverse().calls().reset();
    }

    private void latency(Sandbox sandbox) throws Exception {
        try (ConnectorProcess connector = ConnectorProcess.start(sandbox, options.out().resolve("latency"),
                        options.connectorHeap(), Map.of("sync.poll-interval-ms", String.valueOf(options.pollIntervalMs())),
                        "connector-latency")) {
            connector.stopMemorySampling(); // memory is the backfills' subject
            String tenant = sandbox.tenant();
            awaitUntil("webhook registration", 60, () -> sandbox.partnerCenter().webhooks().registration(tenant) != null);
            var dv = sandbox.dataverse();
            var pc = sandbox.partnerCenter();

            // Warm-up: the JIT, pools, token and certificate caches. Reported apart as the cold start: on
            // 2 cores shared with the emulators, C2 still compiles ~0.7 core a minute after start (JFR), so
            // the first events pay for it; the rows after it are the steady state a running connector has.
            Map<String, Long> warmSent = new LinkedHashMap<>();
            long warmPhase = System.currentTimeMillis();
            List<String> warm = createReferrals(sandbox, options.warmup(), "Warmup", warmSent);
            awaitUntil("warm-up (" + warm.size() + " referrals)", 120,
                    () -> opportunityIdsByReferral(sandbox).keySet().containsAll(warm));
            List<Long> coldLatency = untilOpportunityWritten(dv.calls(), warmPhase, warmSent);
            coldStartTimeline(sandbox, warmPhase, warmSent);

            // Referral created → opportunity written.
            Map<String, Long> sent = new LinkedHashMap<>();
            long phase = System.currentTimeMillis();
            long cpu = connector.cpuMillis();
            List<String> created = createReferrals(sandbox, options.creates(), "Bench", sent);
            awaitUntil("opportunities for the created referrals", 300,
                    () -> opportunityIdsByReferral(sandbox).keySet().containsAll(created));
            settle(sandbox);
            Window creates = new Window(sandbox, phase, connector.cpuMillis() - cpu);
            List<Long> createLatency = untilOpportunityWritten(dv.calls(), phase, sent);

            // Referral updated by Microsoft → opportunity updated.
            Map<String, String> opportunityOf = opportunityIdsByReferral(sandbox);
            int updates = Math.min(options.updates(), created.size());
            Map<String, Long> updateSent = new LinkedHashMap<>();
            phase = System.currentTimeMillis();
            cpu = connector.cpuMillis();
            pace(updates, i -> {
                String id = created.get(i);
                updateSent.put(opportunityOf.get(id), System.currentTimeMillis());
                pc.updateAsMicrosoft(tenant, id, (ObjectNode) JSON.createObjectNode().set("details",
                        JSON.createObjectNode().put("dealValue", 70000 + i)));
            });
            awaitUntil("updated opportunities", 300, () -> updateSent.keySet().stream()
                    .allMatch(o -> dv.api().row("opportunities", o).path("estimatedvalue").asLong() >= 70000));
            settle(sandbox);
            Window updateWindow = new Window(sandbox, phase, connector.cpuMillis() - cpu);
            Map<String, Long> patched = firstEnd(dv.calls(), phase, "PATCH", "opportunities(");
            List<Long> updateLatency = new ArrayList<>();
            updateSent.forEach((o, t) -> {
                Long w = patched.get(o);
                if (w != null) {
                    updateLatency.add(w - t);
                }
            });

            // Opportunity flagged / changed by a seller → referral written.
            phase = System.currentTimeMillis();
            cpu = connector.cpuMillis();
            Map<String, Long> flaggedAt = new LinkedHashMap<>();
            pace(options.opportunityChanges(), i -> {
                String id = UUID.randomUUID().toString();
                flaggedAt.put(id, System.currentTimeMillis());
                seedOpportunity(sandbox, id, "Seller deal " + i);
            });
            awaitUntil("referrals for flagged opportunities", 300,
                    () -> referralIdsByOpportunity(sandbox).keySet().containsAll(flaggedAt.keySet()));
            settle(sandbox);
            Window flagWindow = new Window(sandbox, phase, connector.cpuMillis() - cpu);
            Map<String, String> referralOf = referralIdsByOpportunity(sandbox);
            List<Long> flagLatency = new ArrayList<>();
            List<Long> flagWait = new ArrayList<>();
            List<Long> polls = pollStarts(dv.calls(), phase);
            // POSTs carry no id in the URI: match the referral's createdDateTime instead.
            for (var e : flaggedAt.entrySet()) {
                var referral = pc.referrals().get(tenant, referralOf.get(e.getKey()));
                long w = Instant.parse(referral.path("createdDateTime").asText().replaceFirst("(\\.\\d{3})\\d*", "$1")
                        .replace("+00:00", "Z")).toEpochMilli();
                flagLatency.add(w - e.getValue());
                flagWait.add(firstAfter(polls, e.getValue()) - e.getValue());
            }

            phase = System.currentTimeMillis();
            cpu = connector.cpuMillis();
            Map<String, Long> editedAt = new LinkedHashMap<>();
            List<String> flagged = new ArrayList<>(flaggedAt.keySet());
            pace(flagged.size(), i -> {
                String id = flagged.get(i);
                editedAt.put(referralOf.get(id), System.currentTimeMillis());
                ObjectNode change = JSON.createObjectNode().put("opportunityid", id).put("estimatedvalue", 90000 + i);
                dv.api().seed("opportunities", List.of(change));
            });
            awaitUntil("referrals updated from opportunities", 300, () -> editedAt.keySet().stream()
                    .allMatch(r -> pc.referrals().get(tenant, r).path("details").path("dealValue").asLong() >= 90000));
            settle(sandbox);
            Window editWindow = new Window(sandbox, phase, connector.cpuMillis() - cpu);
            Map<String, Long> putAt = firstEnd(pc.calls(), phase, "PATCH", "/v1.0/engagements/referrals/");
            polls = pollStarts(dv.calls(), phase);
            List<Long> editLatency = new ArrayList<>();
            List<Long> editWait = new ArrayList<>();
            for (var e : editedAt.entrySet()) {
                Long w = putAt.get(e.getKey());
                if (w != null) {
                    editLatency.add(w - e.getValue());
                    editWait.add(firstAfter(polls, e.getValue()) - e.getValue());
                }
            }

            ObjectNode l = results.putObject("latency");
            l.set("coldStartReferralCreatedToOpportunityWritten", stats(coldLatency));
            l.set("referralCreatedToOpportunityWritten", stats(createLatency));
            l.set("referralUpdatedToOpportunityWritten", stats(updateLatency));
            l.set("opportunityFlaggedToReferralWritten", stats(flagLatency));
            l.set("opportunityFlaggedWaitForPoll", stats(flagWait));
            l.set("opportunityFlaggedProcessing", stats(minus(flagLatency, flagWait)));
            l.set("opportunityChangedToReferralWritten", stats(editLatency));
            l.set("opportunityChangedWaitForPoll", stats(editWait));
            l.set("opportunityChangedProcessing", stats(minus(editLatency, editWait)));
            l.put("pollIntervalMs", options.pollIntervalMs());
            ObjectNode c = results.putObject("callsPerChange");
            c.set("referralCreated", creates.perChange(created.size()));
            c.set("referralUpdated", updateWindow.perChange(updates));
            c.set("opportunityFlagged", flagWindow.perChange(flaggedAt.size()));
            c.set("opportunityChanged", editWindow.perChange(editedAt.size()));
            ObjectNode echo = results.putObject("echoWrites");
            echo.put("partnerCenterWritesForPartnerCenterChanges", creates.pcWrites + updateWindow.pcWrites);
            echo.put("dataverseWritesForDataverseChanges", editWindow.dvWrites);
            echo.put("dataverseLinkWriteBacksForFlaggedOpportunities", flagWindow.dvWrites);

            table.add("");
            table.add(String.format("%-46s %7s %7s %7s %7s %6s", "Latency (ms)", "p50", "p95", "p99", "max", "n"));
            row("cold start: first " + warm.size() + " created (warm-up)", coldLatency);
            row("webhook: referral created -> opportunity", createLatency);
            row("webhook: referral updated -> opportunity", updateLatency);
            row("opportunity flagged -> referral (end to end)", flagLatency);
            row("  of which waiting for the poll", flagWait);
            row("  processing after the poll", minus(flagLatency, flagWait));
            row("opportunity changed -> referral (end to end)", editLatency);
            row("  of which waiting for the poll", editWait);
            row("  processing after the poll", minus(editLatency, editWait));
            table.add("  (Dataverse poll interval " + options.pollIntervalMs() + " ms; " + options.creates()
                    + " creates and " + updates + " updates at " + options.rate() + "/s)");
            table.add("");
            table.add(String.format("%-46s %12s %12s %10s %10s", "API calls per synced change", "Partner Ctr", "Dataverse",
                    "(+ polls)", "CPU ms"));
            callsRow("referral created (webhook)", creates, created.size());
            callsRow("referral updated (webhook)", updateWindow, updates);
            callsRow("opportunity flagged (poll)", flagWindow, flaggedAt.size());
            callsRow("opportunity changed (poll)", editWindow, editedAt.size());
            table.add(String.format("Echo writes: %d Partner Center writes for Partner Center changes, %d Dataverse writes "
                    + "for Dataverse changes (must be 0); %d link write-backs for %d flagged opportunities",
                    creates.pcWrites + updateWindow.pcWrites, editWindow.dvWrites, flagWindow.dvWrites, flaggedAt.size()));
        }
    }

    /** The cold start event by event (ms from the first sent, latency), to see when the connector caught up. */
    private void coldStartTimeline(Sandbox sandbox, long from, Map<String, Long> sent) throws java.io.IOException {
        Map<String, Long> written = firstEnd(sandbox.dataverse().calls(), from, "PATCH", "cosell_referralid");
        long t0 = sent.values().stream().mapToLong(Long::longValue).min().orElse(from);
        try (var out = Files.newBufferedWriter(options.out().resolve("cold-start.tsv"))) {
            out.write("sent_ms\tlatency_ms\n");
            for (var e : sent.entrySet()) {
                Long w = written.get(e.getKey());
                out.write((e.getValue() - t0) + "\t" + (w == null ? "" : String.valueOf(w - e.getValue())) + "\n");
            }
        }
        List<CallLog.Entry> calls = new ArrayList<>(sandbox.partnerCenter().calls().entries());
        calls.addAll(sandbox.dataverse().calls().entries());
        calls.sort(java.util.Comparator.comparingLong(CallLog.Entry::startedAtMillis));
        LatencyBench.writeCalls(options.out().resolve("calls-cold-start.tsv"), calls, t0);
    }

    /** For each referral sent (id → when): the time until its opportunity was written (by alternate key). */
    private static List<Long> untilOpportunityWritten(CallLog dataverse, long from, Map<String, Long> sent) {
        Map<String, Long> written = firstEnd(dataverse, from, "PATCH", "cosell_referralid");
        List<Long> latency = new ArrayList<>();
        sent.forEach((id, at) -> {
            Long w = written.get(id);
            if (w != null) {
                latency.add(w - at);
            }
        });
        return latency;
    }

    private List<String> createReferrals(Sandbox sandbox, int n, String prefix, Map<String, Long> sent) {
        List<String> ids = new ArrayList<>();
        pace(n, i -> {
            long t = System.currentTimeMillis();
            String id = sandbox.partnerCenter().createAsMicrosoft(sandbox.tenant(),
                    Referrals.referral(prefix + " Customer " + (i % 50), prefix + " " + i)).path("id").asText();
            sent.put(id, t);
            ids.add(id);
        });
        return ids;
    }

    static void seedFlaggedOpportunity(Sandbox sandbox, String id, String name) {
        seedOpportunity(sandbox, id, name);
    }

    private static void seedOpportunity(Sandbox sandbox, String id, String name) {
        String accountId = UUID.nameUUIDFromBytes(("account:" + name).getBytes()).toString();
        sandbox.dataverse().api().seed("accounts", List.of((ObjectNode) JSON.createObjectNode().put("accountid", accountId)
                .put("name", name + " Ltd").put("address1_city", "Oslo").put("address1_country", "NO")));
        sandbox.dataverse().api().seed("opportunities", List.of((ObjectNode) JSON.createObjectNode().put("opportunityid", id)
                .put("name", name).put("estimatedvalue", 40000).put("estimatedclosedate", "2027-04-30")
                .put("description", "Partner-led " + name).put("cosell_syncwithpartnercenter", true)
                .put("cosell_howcanmicrosofthelp", 100000001).put("cosell_products", "Azure")
                .put("parentaccountid@odata.bind", "/accounts(" + accountId + ")")));
    }

    /** Runs {@code n} actions at the configured steady rate. */
    private void pace(int n, java.util.function.IntConsumer action) {
        long period = (long) (1_000_000_000L / options.rate());
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            long due = start + i * period;
            long wait = due - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(wait);
            }
            action.accept(i);
        }
    }

    /** Lets the echoes of the last writes (webhooks for our own writes, the next polls) come and go. */
    private void settle(Sandbox sandbox) {
        long quietFor = Math.max(3000, options.pollIntervalMs() * 2L + 1000);
        long last = -1;
        long since = System.currentTimeMillis();
        while (System.currentTimeMillis() - since < quietFor) {
            long writes = writes(sandbox.dataverse().calls()) + writes(sandbox.partnerCenter().calls());
            if (writes != last) {
                last = writes;
                since = System.currentTimeMillis();
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(200));
        }
    }

    private static long writes(CallLog log) {
        return log.entries().stream().filter(Benchmark::isWrite).count();
    }

    /** Not a GET, nor a Dataverse $batch of GETs (the customer lookups). */
    static boolean isWrite(CallLog.Entry e) {
        return !e.method().equals("GET") && !e.template().endsWith(DataverseEmulator.READS_ONLY);
    }

    /** Calls the emulators counted from {@code from} until now. */
    private static final class Window {
        final long pc;
        final long dv;
        final long dvPolls;
        final long pcWrites;
        final long dvWrites;
        final long connectorCpuMs;

        Window(Sandbox sandbox, long from, long connectorCpuMs) {
            this.connectorCpuMs = connectorCpuMs;
            var pcCalls = sandbox.partnerCenter().calls().entries().stream()
                    .filter(e -> e.startedAtMillis() >= from && e.uri().startsWith("/v1.0/")).toList();
            var dvCalls = sandbox.dataverse().calls().entries().stream().filter(e -> e.startedAtMillis() >= from).toList();
            pc = pcCalls.size();
            dvPolls = dvCalls.stream().filter(Benchmark::isPoll).count();
            dv = dvCalls.size() - dvPolls;
            pcWrites = pcCalls.stream().filter(Benchmark::isWrite).count();
            dvWrites = dvCalls.stream().filter(Benchmark::isWrite).count();
        }

        ObjectNode perChange(int changes) {
            ObjectNode n = JSON.createObjectNode();
            n.put("changes", changes);
            n.put("partnerCenterCalls", pc);
            n.put("dataverseCalls", dv);
            n.put("dataversePolls", dvPolls);
            n.put("partnerCenterPerChange", round((double) pc / changes));
            n.put("dataversePerChange", round((double) dv / changes));
            n.put("connectorCpuMsPerChange", round((double) connectorCpuMs / changes));
            return n;
        }
    }

    private void callsRow(String label, Window w, int changes) {
        table.add(String.format("%-46s %12.2f %12.2f %10s %10.1f", label, (double) w.pc / changes, (double) w.dv / changes,
                "(" + w.dvPolls + ")", (double) w.connectorCpuMs / changes));
    }

    /** The Dataverse poll: a GET on the opportunities collection (delta link or watermark query). */
    static boolean isPoll(CallLog.Entry e) {
        return isPollUri(e.method(), e.uri());
    }

    static boolean isPollUri(String method, String uri) {
        return method.equals("GET") && uri.startsWith("/api/data/v9.2/opportunities?");
    }

    private static List<Long> pollStarts(CallLog log, long from) {
        return log.entries().stream().filter(e -> e.startedAtMillis() >= from && isPoll(e))
                .map(CallLog.Entry::startedAtMillis).sorted().toList();
    }

    private static long firstAfter(List<Long> sorted, long t) {
        for (long p : sorted) {
            if (p >= t) {
                return p;
            }
        }
        return t;
    }

    /** For each id found in a URI: the end of the first matching call after {@code from}. */
    private static Map<String, Long> firstEnd(CallLog log, long from, String method, String uriPart) {
        Map<String, Long> out = new HashMap<>();
        var guid = java.util.regex.Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
        for (CallLog.Entry e : log.entries()) {
            if (e.startedAtMillis() < from || !e.method().equals(method) || !e.uri().contains(uriPart)
                    || e.status() >= 300) {
                continue;
            }
            var m = guid.matcher(e.uri());
            long end = e.startedAtMillis() + e.micros() / 1000;
            if (m.find()) {
                out.putIfAbsent(m.group(), end);
            } else {
                out.putIfAbsent("#" + out.size(), end);
            }
        }
        return out;
    }

    private static Map<String, String> opportunityIdsByReferral(Sandbox sandbox) {
        Map<String, String> out = new HashMap<>();
        for (var o : sandbox.dataverse().api().rows("opportunities")) {
            String r = o.path("cosell_referralid").asText("");
            if (!r.isEmpty()) {
                out.put(r, o.path("opportunityid").asText());
            }
        }
        return out;
    }

    private static Map<String, String> referralIdsByOpportunity(Sandbox sandbox) {
        Map<String, String> out = new HashMap<>();
        for (var r : sandbox.partnerCenter().referrals().all(sandbox.tenant())) {
            String o = r.path("externalReferenceId").asText("");
            if (!o.isEmpty()) {
                out.put(o, r.path("id").asText());
            }
        }
        return out;
    }

    // ------------------------------------------------------------------------------------ 3, 5

    private void backfillReferrals() throws Exception {
        int n = options.backfill();
        BackfillRun run = backfill("referrals", sandbox -> Referrals.load(sandbox, 0, n), BACKFILL_AT_START,
                sandbox -> referralsBackfilled(sandbox, n), n);
        ObjectNode b = results.putObject("backfillReferrals");
        run.write(b);
        table.add("");
        table.add(String.format("%-46s %10s %10s %10s %8s", "Backfill", "connector", "bare", "ratio", "calls"));
        run.row(table, "referrals -> opportunities (" + n + ")");
    }

    /**
     * The scheduled reconciliation's case: a node that has run for a while (here: it backfilled n
     * referrals) is asked over JMX, as an operator or the schedule would, to reconcile again, and n new
     * referrals of the same customers are waiting in Partner Center.
     */
    private void backfillReferralsOnRunningNode() throws Exception {
        int n = options.backfillRunningNode();
        RunningNode node = new RunningNode(sandbox -> referralsBackfilled(sandbox, n), sandbox -> {
            sandbox.partnerCenter().referrals().clear();
            Referrals.load(sandbox, n, n);
        }, connector -> {
            String answer = connector.invoke("startReconciliation");
            if (!"started".equals(answer)) {
                throw new IllegalStateException("benchmark: startReconciliation answered " + answer);
            }
        });
        BackfillRun run = backfill("referrals-running-node", sandbox -> Referrals.load(sandbox, 0, n), BACKFILL_AT_START,
                sandbox -> referralsBackfilled(sandbox, 2 * n), n, node);
        run.write(results.putObject("backfillReferralsOnRunningNode"));
        if (options.backfill() <= 0) {
            table.add("");
            table.add(String.format("%-46s %10s %10s %10s %8s", "Backfill", "connector", "bare", "ratio", "calls"));
        }
        run.row(table, "... on a running node, over JMX (" + n + ")");
    }

    /**
     * An untimed backfill of 2,000 referrals through a connector of its own, so that the emulators (this
     * JVM) are compiled by the JIT before the timed runs: otherwise their warm-up competes with the
     * connector for the 2 cores during its run, and not during the replay that follows it.
     */
    private void warmEmulators() throws Exception {
        int n = 2000;
        try (Sandbox sandbox = benchSandbox()) {
            Referrals.load(sandbox, 0, n);
            try (ConnectorProcess connector = ConnectorProcess.start(sandbox, options.out().resolve("warm-up"),
                    options.connectorHeap(), BACKFILL_AT_START, "connector-warm-up")) {
                connector.stopMemorySampling();
                awaitUntil("the emulators' warm-up backfill", 300, () -> referralsBackfilled(sandbox, n));
            }
        }
    }

    /**
     * Memory (5): a backfill of its own, not timed: the heap probes (a Prometheus scrape every 500 ms, a
     * jcmd forcing a full GC at each quarter) cost the shared 2 cores 15-20 % of a timed run's wall time.
     */
    private void memory() throws Exception {
        int n = options.memoryBackfill();
        MemoryRun run = new MemoryRun();
        try (Sandbox sandbox = benchSandbox()) {
            Referrals.load(sandbox, 0, n);
            try (ConnectorProcess connector = ConnectorProcess.start(sandbox, options.out().resolve("memory"),
                    options.connectorHeap(), BACKFILL_AT_START, "connector-memory")) {
                // The live set (after a full GC, jcmd) at each quarter of the run: flat = bounded memory.
                int quarter = 1;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(3600);
                while (!referralsBackfilled(sandbox, n)) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("benchmark: backfill of " + n + " referrals not done within 3600 s");
                    }
                    // (a small run can pass two quarters between looks: both get the same sample)
                    long done = sandbox.dataverse().api().count("opportunities");
                    long live = -1;
                    while (quarter < 4 && done >= (long) n * quarter / 4) {
                        live = live < 0 ? connector.liveHeapMb() : live;
                        run.liveMb[quarter - 1] = live;
                        quarter++;
                    }
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(200));
                }
                run.liveMb[3] = connector.liveHeapMb();
                for (; quarter < 4; quarter++) { // a run done before its last look at a quarter
                    run.liveMb[quarter - 1] = run.liveMb[3];
                }
                LockSupport.parkNanos(TimeUnit.SECONDS.toNanos(1));
                List<long[]> samples = connector.heapSamples();
                run.peakHeapMb = samples.stream().mapToLong(s -> s[1]).max().orElse(0) / (1024 * 1024);
                // Heap floor per quarter of the run: the lowest heap used (right after a collection),
                // i.e. what stays live. Flat floors = memory does not grow with the record count.
                int q = Math.max(1, samples.size() / 4);
                for (int i = 0; i < 4 && i * q < samples.size(); i++) {
                    run.heapFloorMb[i] = samples.subList(i * q, Math.min(samples.size(), (i + 1) * q)).stream()
                            .mapToLong(x -> x[1]).min().orElse(0) / (1024 * 1024);
                }
                run.peakRssMb = connector.peakRssKb() / 1024;
            }
        }
        ObjectNode m = results.putObject("memory");
        m.put("records", n);
        m.put("connectorHeapMax", options.connectorHeap());
        m.put("peakHeapUsedMb", run.peakHeapMb);
        m.set("heapFloorPerQuarterMb", JSON.valueToTree(run.heapFloorMb));
        m.set("liveHeapAfterFullGcPerQuarterMb", JSON.valueToTree(run.liveMb));
        m.put("peakRssMb", run.peakRssMb);
        memoryLine = String.format("Connector JVM during a %d-referral backfill (-Xmx%s, not timed): live heap after a full GC "
                + "at 1/4, 1/2, 3/4, end: %d / %d / %d / %d MB; peak heap used %d MB (garbage included); peak RSS %d MB", n,
                options.connectorHeap(), run.liveMb[0], run.liveMb[1], run.liveMb[2], run.liveMb[3], run.peakHeapMb,
                run.peakRssMb);
    }

    private static final class MemoryRun {
        long peakHeapMb;
        long[] heapFloorMb = new long[4];
        long[] liveMb = new long[4];
        long peakRssMb;
    }

    private String memoryLine;

    private static final Map<String, String> BACKFILL_AT_START = Map.of("sync.reconciliation.on-startup", "true",
            "partnercenter.webhook.register-on-startup", "false", "sync.poll-interval-ms", "3600000");

    /**
     * Watched with a row count (O(1)); the full check copies every row, so it runs only once the count is
     * there (copying 10,000 rows every 200 ms slowed the emulators the connector waits for).
     */
    private static boolean referralsBackfilled(Sandbox sandbox, int n) {
        return sandbox.dataverse().api().count("opportunities") >= n && opportunityIdsByReferral(sandbox).size() >= n;
    }

    private void backfillOpportunities() throws Exception {
        int n = options.backfillOpportunities();
        BackfillRun run = backfill("opportunities", sandbox -> {
            for (int i = 0; i < n; i++) {
                seedOpportunity(sandbox, String.format("0b000000-0000-4000-8000-%012d", i), "Backfill deal " + i);
            }
        }, Map.of("partnercenter.webhook.register-on-startup", "false", "sync.poll-interval-ms",
                String.valueOf(options.pollIntervalMs())), sandbox -> sandbox.partnerCenter().referrals().size(sandbox.tenant()) >= n
                        && referralIdsByOpportunity(sandbox).size() >= n && opportunityLinks(sandbox) >= n, n);
        run.write(results.putObject("backfillOpportunities"));
        if (options.backfill() <= 0) {
            table.add("");
            table.add(String.format("%-46s %10s %10s %10s %8s", "Backfill", "connector", "bare", "ratio", "calls"));
        }
        run.row(table, "flagged opportunities -> referrals (" + n + ")");
    }

    private static long opportunityLinks(Sandbox sandbox) {
        return sandbox.dataverse().api().rows("opportunities").stream()
                .filter(o -> !o.path("cosell_referralid").asText("").isEmpty()).count();
    }

    private static final class BackfillRun {
        long connectorMs;
        long bareMs;
        // The second half of the calls (both JVMs warm: the connector starts cold, the replay runs in
        // the benchmark JVM the connector's run has just warmed).
        long connectorSecondHalfMs;
        long bareSecondHalfMs;
        int calls;
        int sameStatus;
        int concurrency;
        int records;
        long connectorCpuMs;
        // This JVM's CPU (the emulators; in the replay also its client) during each run.
        long emulatorCpuMs;
        long bareCpuMs;
        Map<String, Long> connectorCpuByThreadKind = new java.util.TreeMap<>();
        long connectorConnections;
        long bareConnections;
        long jitSettledSeconds = -1; // a running node: how long its JIT took to go idle before the timed run
        Map<String, Long> emulatorCpuByThreadKind = new java.util.TreeMap<>();
        Map<String, Long> bareCpuByThreadKind = new java.util.TreeMap<>();

        void write(ObjectNode b) {
            b.put("records", records);
            b.put("connectorMs", connectorMs);
            b.put("connectorRecordsPerSecond", round(records * 1000.0 / connectorMs));
            b.put("bareReplayMs", bareMs);
            b.put("bareRecordsPerSecond", round(records * 1000.0 / bareMs));
            b.put("ratioConnectorToBare", round((double) connectorMs / bareMs));
            b.put("connectorSecondHalfMs", connectorSecondHalfMs);
            b.put("bareSecondHalfMs", bareSecondHalfMs);
            b.put("ratioSecondHalf", round((double) connectorSecondHalfMs / Math.max(1, bareSecondHalfMs)));
            b.put("calls", calls);
            b.put("connectorCpuMsPerRecord", round((double) connectorCpuMs / records));
            b.put("emulatorCpuMsPerRecordDuringConnectorRun", round((double) emulatorCpuMs / records));
            b.put("emulatorAndClientCpuMsPerRecordDuringReplay", round((double) bareCpuMs / records));
            b.set("connectorCpuMsByThreadKind", JSON.valueToTree(connectorCpuByThreadKind));
            b.set("emulatorCpuMsByThreadKindDuringConnectorRun", JSON.valueToTree(emulatorCpuByThreadKind));
            b.set("benchmarkCpuMsByThreadKindDuringReplay", JSON.valueToTree(bareCpuByThreadKind));
            b.put("connectorConnectionsOpened", connectorConnections);
            if (jitSettledSeconds >= 0) {
                b.put("runningNodeJitIdleAfterSeconds", jitSettledSeconds);
            }
            b.put("bareConnectionsOpened", bareConnections);
            b.put("replayedWithSameStatus", sameStatus);
            b.put("replayConcurrency", concurrency);
        }

        /** e.g. "jit 0.66, camel-threads 0.55": the kinds that used any CPU, largest first. */
        private String perRecord(Map<String, Long> cpuMsByKind) {
            return cpuMsByKind.entrySet().stream().filter(e -> e.getValue() > 0)
                    .sorted(Map.Entry.<String, Long>comparingByValue().reversed())
                    .map(e -> String.format("%s %.2f", e.getKey(), (double) e.getValue() / records))
                    .collect(Collectors.joining(", "));
        }

        void row(List<String> table, String label) {
            table.add(String.format("%-46s %8d ms %7d ms %9.2fx %8d", label, connectorMs, bareMs, (double) connectorMs / bareMs,
                    calls));
            table.add(String.format("  %.0f records/s vs %.0f/s bare; replay: %d of %d calls answered as recorded, "
                    + "%d in flight", records * 1000.0 / connectorMs, records * 1000.0 / bareMs, sameStatus, calls, concurrency));
            table.add(String.format("  the run's second half (its calls, both JVMs warm): %d ms vs %d ms bare, %.2fx", connectorSecondHalfMs,
                    bareSecondHalfMs, (double) connectorSecondHalfMs / Math.max(1, bareSecondHalfMs)));
            table.add(String.format("  CPU per record: connector %.2f ms + emulators %.2f ms; replay (emulators + client) %.2f ms",
                    (double) connectorCpuMs / records, (double) emulatorCpuMs / records, (double) bareCpuMs / records));
            table.add("  CPU ms per record by thread, connector: " + perRecord(connectorCpuByThreadKind)
                    + String.format(" (TLS connections opened: %d; replay %d)", connectorConnections, bareConnections));
            table.add("  ... emulators during the connector run: " + perRecord(emulatorCpuByThreadKind));
            table.add("  ... emulators and client during the replay: " + perRecord(bareCpuByThreadKind));
            if (jitSettledSeconds >= 0) {
                table.add(String.format("  (the node's JIT went idle %d s after its earlier backfill; the timed reconciliation started then)",
                        jitSettledSeconds));
            }
        }
    }

    /**
     * A backfill on a node that is already running (the scheduled reconciliation's case): the connector
     * first backfills the data {@code load} gave (untimed, its JIT warms up), then {@code between} swaps
     * Partner Center's referrals for new ones and {@code start} asks the running connector for a
     * reconciliation, which is timed. The replay does the same: the earlier calls untimed, then the timed ones.
     */
    record RunningNode(java.util.function.Predicate<Sandbox> earlierDone, java.util.function.Consumer<Sandbox> between,
            org.apache.camel.util.function.ThrowingConsumer<ConnectorProcess, Exception> start) {
    }

    private BackfillRun backfill(String name, java.util.function.Consumer<Sandbox> load, Map<String, String> extra,
            java.util.function.Predicate<Sandbox> finished, int records) throws Exception {
        return backfill(name, load, extra, finished, records, null);
    }

    /** A timed backfill (no memory probes: see memory()) and the bare replay of its calls. */
    private BackfillRun backfill(String name, java.util.function.Consumer<Sandbox> load, Map<String, String> extra,
            java.util.function.Predicate<Sandbox> finished, int records, RunningNode runningNode) throws Exception {
        BackfillRun run = new BackfillRun();
        run.records = records;
        List<BareReplay.Call> recorded;
        List<BareReplay.Call> earlier = new ArrayList<>();
        long timedFrom = 0;
        try (Sandbox sandbox = benchSandbox()) {
            load.accept(sandbox);
            sandbox.partnerCenter().calls().capture(true);
            sandbox.dataverse().calls().capture(true);
            try (ConnectorProcess connector = ConnectorProcess.start(sandbox, options.out().resolve("backfill-" + name),
                    options.connectorHeap(), extra, "connector-backfill-" + name)) {
                connector.stopMemorySampling();
                if (runningNode != null) {
                    awaitUntil("the earlier backfill of " + name, 1800, () -> runningNode.earlierDone().test(sandbox));
                    run.jitSettledSeconds = awaitJitIdle(connector);
                    runningNode.between().accept(sandbox);
                    timedFrom = System.nanoTime();
                }
                Map<String, Long> threadsAtStart = connector.cpuByThreadKind();
                long cpuAtStart = connector.cpuMillis(); // start-up (JVM, Camel, routes) left out
                long emulatorCpuAtStart = ConnectorProcess.cpuMillis(ProcessHandle.current());
                Map<String, Long> ownThreadsAtStart = ConnectorProcess.cpuByThreadKind(ProcessHandle.current().pid());
                long connectionsAtStart = connections(sandbox);
                if (runningNode != null) {
                    runningNode.start().accept(connector);
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1800);
                while (!finished.test(sandbox)) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("benchmark: backfill of " + name + " not done within 1800 s");
                    }
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(200));
                }
                run.connectorCpuMs = connector.cpuMillis() - cpuAtStart;
                run.emulatorCpuMs = ConnectorProcess.cpuMillis(ProcessHandle.current()) - emulatorCpuAtStart;
                run.connectorConnections = connections(sandbox) - connectionsAtStart;
                ConnectorProcess.cpuByThreadKind(ProcessHandle.current().pid()).forEach((kind, ms) -> run.emulatorCpuByThreadKind
                        .put(kind, ms - ownThreadsAtStart.getOrDefault(kind, 0L)));
                connector.cpuByThreadKind().forEach((kind, ms) -> run.connectorCpuByThreadKind.put(kind,
                        ms - threadsAtStart.getOrDefault(kind, 0L)));
            }
            sandbox.partnerCenter().calls().capture(false);
            sandbox.dataverse().calls().capture(false);
            recorded = new ArrayList<>();
            for (var c : sandbox.partnerCenter().calls().captured()) {
                if (c.uri().startsWith("/v1.0/")) {
                    recorded.add(new BareReplay.Call(c, true));
                }
            }
            for (var c : sandbox.dataverse().calls().captured()) {
                recorded.add(new BareReplay.Call(c, false));
            }
        }
        recorded.sort(java.util.Comparator.comparingLong(c -> c.captured().startedNanos()));
        if (runningNode != null) { // the calls before the timed reconciliation: replayed untimed, not counted
            long from = timedFrom;
            earlier = recorded.stream().filter(c -> c.captured().startedNanos() < from).toList();
            recorded = new ArrayList<>(recorded.stream().filter(c -> c.captured().startedNanos() >= from).toList());
        }
        // The timeline of the connector's calls (start and end in ms from the first, status, method, path),
        // to see where a run spends its time: in the remote systems or between their answers.
        try (var out = java.nio.file.Files.newBufferedWriter(options.out().resolve("calls-backfill-" + name + ".tsv"))) {
            long t0 = recorded.get(0).captured().startedNanos();
            for (BareReplay.Call c : recorded) {
                String uri = c.captured().uri();
                out.write(String.format("%.1f\t%.1f\t%d\t%s\t%s%n", (c.captured().startedNanos() - t0) / 1e6,
                        (c.captured().endedNanos() - t0) / 1e6, c.captured().status(), c.captured().method(),
                        uri.substring(0, Math.min(uri.length(), 80))));
            }
        }
        // The connector's time: from its first call to the end of its last one (start-up excluded, as
        // for the replay).
        long first = recorded.get(0).captured().startedNanos();
        // Until the end of the last call that is not a Dataverse poll: the polls that find nothing more
        // to do (every poll interval while the benchmark waits) are not part of the work.
        long last = recorded.stream().filter(c -> c.partnerCenter() || !isPollUri(c.captured().method(), c.captured().uri()))
                .mapToLong(c -> c.captured().endedNanos()).max().orElse(first);
        run.connectorMs = (last - first) / 1_000_000;
        // The second half of the connector's run by time, and the same calls in the replay.
        int half = 0;
        while (half < recorded.size() - 1 && recorded.get(half).captured().startedNanos() < first + (last - first) / 2) {
            half++;
        }
        run.connectorSecondHalfMs = (last - recorded.get(half).captured().startedNanos()) / 1_000_000;
        run.calls = recorded.size();
        run.concurrency = BareReplay.concurrency(recorded);
        try (Sandbox fresh = benchSandbox()) {
            load.accept(fresh);
            BareReplay replay = new BareReplay(fresh);
            if (runningNode != null) {
                BareReplay.Result before = replay.replay(earlier, BareReplay.concurrency(earlier), 0);
                if (before.sameStatus() != earlier.size()) {
                    System.err.printf("benchmark: replay of the earlier backfill: %d of %d calls answered as recorded%n",
                            before.sameStatus(), earlier.size());
                }
                runningNode.between().accept(fresh);
            }
            long connectionsBefore = connections(fresh);
            Map<String, Long> ownThreadsBefore = ConnectorProcess.cpuByThreadKind(ProcessHandle.current().pid());
            BareReplay.Result r = replay.replay(recorded, run.concurrency, half);
            run.bareCpuMs = r.cpuMillis();
            run.bareConnections = connections(fresh) - connectionsBefore;
            ConnectorProcess.cpuByThreadKind(ProcessHandle.current().pid()).forEach((kind, ms) -> run.bareCpuByThreadKind
                    .put(kind, ms - ownThreadsBefore.getOrDefault(kind, 0L)));
            run.bareMs = Math.max(1, r.wallMillis());
            run.bareSecondHalfMs = r.secondHalfMillis();
            run.sameStatus = r.sameStatus();
        }
        return run;
    }

    // ------------------------------------------------------------------------------------ helpers

    /**
     * Waits until the connector's JIT compiler threads are idle (under 5 % of a core for a second; the
     * queue of methods to compile drains after the load is gone), at most 120 s: a node that has been
     * running for a while. Returns the seconds waited.
     */
    private static long awaitJitIdle(ConnectorProcess connector) {
        long started = System.nanoTime();
        long deadline = started + TimeUnit.SECONDS.toNanos(120);
        long jit = connector.cpuByThreadKind().getOrDefault("jit", 0L);
        while (System.nanoTime() < deadline) {
            LockSupport.parkNanos(TimeUnit.SECONDS.toNanos(1));
            long now = connector.cpuByThreadKind().getOrDefault("jit", 0L);
            if (now - jit < 50) {
                break;
            }
            jit = now;
        }
        return TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started);
    }

    private static void awaitUntil(String what, int seconds, BooleanSupplier condition) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("benchmark: " + what + " not done within " + seconds
                        + " s (the connector's log is under the output directory)");
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100));
        }
    }

    private static List<Long> minus(List<Long> a, List<Long> b) {
        List<Long> out = new ArrayList<>();
        for (int i = 0; i < a.size() && i < b.size(); i++) {
            out.add(a.get(i) - b.get(i));
        }
        return out;
    }

    static long percentile(List<Long> sorted, double p) {
        if (sorted.isEmpty()) {
            return 0;
        }
        int i = (int) Math.ceil(p * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
    }

    static ObjectNode statsOf(List<Long> values) {
        return stats(values);
    }

    private static ObjectNode stats(List<Long> values) {
        List<Long> s = values.stream().sorted().collect(Collectors.toList());
        ObjectNode n = JSON.createObjectNode();
        n.put("n", s.size());
        n.put("p50", percentile(s, 0.50));
        n.put("p95", percentile(s, 0.95));
        n.put("p99", percentile(s, 0.99));
        n.put("max", s.isEmpty() ? 0 : s.get(s.size() - 1));
        return n;
    }

    private void row(String label, List<Long> values) {
        List<Long> s = values.stream().sorted().toList();
        table.add(String.format("%-46s %7d %7d %7d %7d %6d", label, percentile(s, 0.5), percentile(s, 0.95),
                percentile(s, 0.99), s.isEmpty() ? 0 : s.get(s.size() - 1), s.size()));
    }

    /** Connections opened to the Partner Center and Dataverse emulators so far. */
    private static long connections(Sandbox sandbox) {
        return sandbox.partnerCenter().connectionsOpened() + sandbox.dataverse().connectionsOpened();
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
