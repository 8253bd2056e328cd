package dev.cosell.connector.bench;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import dev.cosell.connector.CosellConnector;
import dev.cosell.connector.sandbox.Sandbox;

/**
 * The connector as a production-like child JVM (its own heap, its own RSS) pointed at the sandbox.
 * While it runs, its Prometheus endpoint is scraped for heap figures and /proc for its resident set.
 */
final class ConnectorProcess implements AutoCloseable {

    private static final Pattern HEAP_USED = Pattern.compile("^jvm_memory_used_bytes\\{[^}]*area=\"heap\"[^}]*} ([0-9.E+-]+)",
            Pattern.MULTILINE);
    private static final Pattern LIVE_DATA = Pattern.compile("^jvm_gc_live_data_size_bytes(?:\\{[^}]*})? ([0-9.E+-]+)",
            Pattern.MULTILINE);

    private final Process process;
    private final int managementPort;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "bench-memory-sampler");
        t.setDaemon(true);
        return t;
    });
    private final List<long[]> heapSamples = new ArrayList<>(); // {millis, heap used, live data after GC}
    private volatile long peakRssKb;

    private final Path workDir;
    private final String heap;
    private final Map<String, String> props;
    private final int webhookPort;
    private final Path log;

    private ConnectorProcess(Process process, Path workDir, String heap, Map<String, String> props, int webhookPort, Path log) {
        this.process = process;
        this.managementPort = Integer.parseInt(props.get("camel.management.port"));
        this.workDir = workDir;
        this.heap = heap;
        this.props = props;
        this.webhookPort = webhookPort;
        this.log = log;
    }

    /** Starts the connector JVM with the sandbox's properties plus {@code extra}, and waits until it serves. */
    static ConnectorProcess start(Sandbox sandbox, Path workDir, String heap, Map<String, String> extra, String name)
            throws Exception {
        // A fresh store each run: tokens cached by an earlier run were signed by another sandbox.
        if (Files.exists(workDir)) {
            try (var files = Files.walk(workDir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
        Files.createDirectories(workDir);
        int webhookPort = freePort();
        Map<String, String> props = new java.util.LinkedHashMap<>(sandbox.connectorProperties(workDir, webhookPort));
        props.put("store.url", "jdbc:h2:file:" + workDir.toAbsolutePath().resolve("store") + ";MODE=PostgreSQL;"
                + "DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH");
        // e.g. BENCH_STORE_URL=jdbc:postgresql://127.0.0.1:5432/test?currentSchema=bench (an empty schema: the
        // production store; store.user from BENCH_STORE_USER)
        String storeUrl = System.getenv("BENCH_STORE_URL");
        if (storeUrl != null && !storeUrl.isBlank()) {
            props.put("store.url", storeUrl);
            props.put("store.user", System.getenv().getOrDefault("BENCH_STORE_USER", "postgres"));
        }
        props.put("camel.management.port", String.valueOf(freePort()));
        props.putAll(extra);
        return launch(workDir, heap, props, webhookPort, name, true);
    }

    private static ConnectorProcess launch(Path workDir, String heap, Map<String, String> props, int webhookPort,
            String name, boolean sample) throws Exception {
        // BENCH_CONNECTOR_JAVA_HOME: the connector on another JDK than the benchmark's (e.g. one with an AOT cache)
        String javaHome = System.getenv().getOrDefault("BENCH_CONNECTOR_JAVA_HOME", System.getProperty("java.home"));
        List<String> cmd = new ArrayList<>(List.of(Path.of(javaHome, "bin", "java").toString(), "-Xmx" + heap));
        // e.g. BENCH_CONNECTOR_JVM_OPTS="-XX:StartFlightRecording=filename=target/bench/connector.jfr,settings=profile"
        // Unset: what bin/cosell-connector chooses when JAVA_OPTS is unset (C1 only on 2 CPUs or fewer).
        String jvmOptions = System.getenv("BENCH_CONNECTOR_JVM_OPTS");
        if (jvmOptions == null && Runtime.getRuntime().availableProcessors() <= 2) {
            jvmOptions = "-XX:TieredStopAtLevel=1";
        }
        if (jvmOptions != null && !jvmOptions.isBlank()) {
            cmd.addAll(List.of(jvmOptions.trim().split("\\s+")));
        }
        // On Java 25 or newer (an experiment; bin/cosell-connector keeps no cache): the AOT cache next to the
        // runs' folders is used when there, else this run records it (written when it stops). The latency run's throw-away connector
        // (warmRemotes) records it afresh, so the measured one starts from a cache of the same build.
        Path aotCache = aotCache(workDir);
        if (featureVersion(Path.of(javaHome)) >= 25) {
            cmd.add(Files.exists(aotCache) ? "-XX:AOTCache=" + aotCache : "-XX:AOTCacheOutput=" + aotCache);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), CosellConnector.class.getName(), "--config",
                "application.properties"));
        props.forEach((k, v) -> {
            cmd.add("--set");
            cmd.add(k + "=" + v);
        });
        Path log = workDir.resolve(name + ".log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        ConnectorProcess c = new ConnectorProcess(p, workDir, heap, props, webhookPort, log);
        c.awaitServing();
        if (sample) {
            c.sampler.scheduleAtFixedRate(c::sample, 0, 500, TimeUnit.MILLISECONDS);
        }
        return c;
    }

    /**
     * The same connector started again after {@link #kill}: same store, ports and properties (a restart
     * by a supervisor). Waits until it serves.
     */
    ConnectorProcess restart(String name) throws Exception {
        if (process.isAlive()) {
            throw new IllegalStateException("restart after kill, not beside a running node");
        }
        return launch(workDir, heap, props, webhookPort, name, true);
    }

    /** SIGKILL: no shutdown hook, no graceful stop, as a crash or an OOM killer would end it. */
    void kill() throws InterruptedException {
        sampler.shutdownNow();
        process.destroyForcibly();
        process.waitFor();
    }

    String webhookUrl() {
        return "http://127.0.0.1:" + webhookPort + props.getOrDefault("partnercenter.webhook.path", "/webhooks/partner-center");
    }

    Path log() {
        return log;
    }

    boolean alive() {
        return process.isAlive();
    }

    private void awaitServing() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("connector exited with " + process.exitValue() + " (see its log)");
            }
            try {
                http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + managementPort + "/observe/health"))
                        .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.discarding());
                return;
            } catch (IOException notYet) {
                Thread.sleep(200);
            }
        }
        throw new IllegalStateException("connector did not start within 90 s");
    }

    private void sample() {
        try {
            String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + managementPort
                    + "/observe/metrics")).timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString())
                    .body();
            long heap = 0;
            Matcher m = HEAP_USED.matcher(metrics);
            while (m.find()) {
                heap += (long) Double.parseDouble(m.group(1));
            }
            Matcher live = LIVE_DATA.matcher(metrics);
            long liveBytes = live.find() ? (long) Double.parseDouble(live.group(1)) : 0;
            synchronized (heapSamples) {
                heapSamples.add(new long[] { System.currentTimeMillis(), heap, liveBytes });
            }
            peakRssKb = Math.max(peakRssKb, rssKb("VmHWM"));
        } catch (Exception ignored) {
            // the next sample will do
        }
    }

    private long rssKb(String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + process.pid() + "/status"))) {
                if (line.startsWith(field + ":")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | NumberFormatException e) {
            // not Linux, or the process is gone
        }
        return 0;
    }

    /** The live set: heap in use right after a full GC (jcmd GC.class_histogram forces one), in MB. */
    long liveHeapMb() {
        try {
            Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                    String.valueOf(process.pid()), "GC.class_histogram").redirectErrorStream(true).start();
            String out = new String(jcmd.getInputStream().readAllBytes());
            jcmd.waitFor(60, TimeUnit.SECONDS);
            Matcher m = Pattern.compile("^Total\\s+\\d+\\s+(\\d+)", Pattern.MULTILINE).matcher(out);
            return m.find() ? Long.parseLong(m.group(1)) / (1024 * 1024) : -1;
        } catch (Exception e) {
            return -1;
        }
    }

    /**
     * Invokes one of the connector's JMX operations (ConnectorOperations, no arguments) as an operator
     * would, through the JDK's attach API and the JVM's local management agent.
     */
    String invoke(String operation) throws Exception {
        com.sun.tools.attach.VirtualMachine vm = com.sun.tools.attach.VirtualMachine.attach(String.valueOf(process.pid()));
        try {
            String address = vm.startLocalManagementAgent();
            try (javax.management.remote.JMXConnector jmx = javax.management.remote.JMXConnectorFactory
                    .connect(new javax.management.remote.JMXServiceURL(address))) {
                var server = jmx.getMBeanServerConnection();
                var names = server.queryNames(new javax.management.ObjectName(
                        "org.apache.camel:type=services,name=ConnectorOperations,*"), null);
                if (names.isEmpty()) {
                    throw new IllegalStateException("no ConnectorOperations MBean in the connector (camel.main.jmx-enabled?)");
                }
                return String.valueOf(server.invoke(names.iterator().next(), operation, new Object[0], new String[0]));
            }
        } finally {
            vm.detach();
        }
    }

    List<long[]> heapSamples() {
        synchronized (heapSamples) {
            return List.copyOf(heapSamples);
        }
    }

    /**
     * CPU (ms, user + system) of the connector's threads so far, summed by kind: JIT compiler, GC and VM,
     * Camel threads, Vert.x threads, database background, main, other (Linux /proc; empty elsewhere). Shows where a run's CPU goes,
     * including what a Java profiler does not sample (compiler and GC threads, native I/O).
     */
    Map<String, Long> cpuByThreadKind() {
        return cpuByThreadKind(process.pid());
    }

    /** As {@link #cpuByThreadKind()}, for any JVM on this machine (the benchmark's own: its pid). */
    static Map<String, Long> cpuByThreadKind(long pid) {
        Map<String, Long> out = new java.util.TreeMap<>();
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path task : tasks.toList()) {
                try {
                    String comm = Files.readString(task.resolve("comm")).trim();
                    String stat = Files.readString(task.resolve("stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime (fields 14, 15)
                    out.merge(threadKind(comm), ticks * 10, Long::sum); // USER_HZ = 100 on Linux
                } catch (IOException | RuntimeException threadGone) {
                    // ended between list and read
                }
            }
        } catch (IOException notLinux) {
            return Map.of();
        }
        return out;
    }

    private static String threadKind(String comm) {
        if (comm.startsWith("C1 Compiler") || comm.startsWith("C2 Compiler")) {
            return "jit";
        }
        if (comm.startsWith("GC Thread") || comm.startsWith("G1 ") || comm.startsWith("VM Thread")) {
            return "gc-vm";
        }
        if (comm.startsWith("vert.x")) {
            return "vertx-threads";
        }
        if (comm.startsWith("Camel")) {
            return "camel-threads";
        }
        if (comm.startsWith("H2") || comm.startsWith("MVStore") || comm.startsWith("HikariPool")) {
            return "database-background";
        }
        if (comm.equals("java") || comm.startsWith("main")) {
            return "main";
        }
        return "other";
    }

    long peakRssKb() {
        return peakRssKb;
    }

    /** No more heap samples: each scrapes the whole Prometheus page, CPU the latency runs should not pay. */
    void stopMemorySampling() {
        sampler.shutdownNow();
    }

    /** CPU time the connector JVM has used so far (user + system, all its threads), in ms. */
    long cpuMillis() {
        return cpuMillis(process.toHandle());
    }

    /** CPU time a process has used so far, in ms (the benchmark's own: {@code ProcessHandle.current()}). */
    static long cpuMillis(ProcessHandle process) {
        return process.info().totalCpuDuration().map(Duration::toMillis).orElse(-1L);
    }

    @Override
    public void close() throws Exception {
        sampler.shutdownNow();
        sample();
        process.destroy(); // SIGTERM: graceful stop
        if (!process.waitFor(40, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
    }

    /** Where the connectors of one benchmark run keep their AOT cache (Java 25 or newer). */
    static Path aotCache(Path workDir) {
        return workDir.toAbsolutePath().getParent().resolve("connector.aot");
    }

    /** The JDK's feature version from its release file (17 when unreadable: no AOT cache). */
    static int featureVersion(Path javaHome) {
        try {
            Matcher m = Pattern.compile("JAVA_VERSION=\"(\\d+)").matcher(Files.readString(javaHome.resolve("release")));
            return m.find() ? Integer.parseInt(m.group(1)) : 17;
        } catch (IOException | RuntimeException e) {
            return 17;
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
