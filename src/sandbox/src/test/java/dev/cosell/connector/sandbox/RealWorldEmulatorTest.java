package dev.cosell.connector.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import dev.cosell.connector.auth.EntraTokenProvider;
import dev.cosell.connector.sandbox.dataverse.ServiceProtection;
import dev.cosell.connector.sandbox.partnercenter.PartnerCenterEmulator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The emulators' real-world behaviour over HTTPS: latency with jitter, Dataverse's service protection
 * (sliding window of requests, execution time, concurrency; documented codes, Retry-After, x-ms-dop-hint,
 * a $batch counted once) and Partner Center's throttling by rate; all off by default.
 */
class RealWorldEmulatorTest {

    static final String TENANT = "tenant-rw";
    static Sandbox sandbox;
    static TestHttp dataverse;
    static TestHttp partnerCenter;
    static TestHttp admin;
    static String api;

    @BeforeAll
    static void start() {
        sandbox = Sandbox.start(new Sandbox.Options(0, 0, 0, TENANT, "rw-app", "rw-secret", "admin@contoso.example", 3599));
        var entra = sandbox.entra();
        EntraTokenProvider tokens = new EntraTokenProvider(new EntraTokenProvider.Settings(entra.baseUrl() + "/" + TENANT
                + "/", "rw-app", "rw-secret", null, null, true, entra.instanceMetadata().toString(),
                entra.issueRefreshToken(TENANT, "rw-app", "admin@contoso.example")), sandbox.pki().clientSslContext(), null);
        String dvScope = sandbox.dataverse().environmentUrl() + "/.default";
        dataverse = new TestHttp(sandbox.pki().clientSslContext(),
                () -> tokens.authorization(dvScope, EntraTokenProvider.Mode.APPLICATION));
        partnerCenter = new TestHttp(sandbox.pki().clientSslContext(), () -> tokens.authorization(
                PartnerCenterEmulator.RESOURCE + "/user_impersonation", EntraTokenProvider.Mode.DELEGATED));
        admin = new TestHttp(sandbox.pki().clientSslContext(), null);
        api = sandbox.dataverse().baseUrl() + "/api/data/v9.2/";
        dataverse.get(api + "WhoAmI"); // tokens fetched before anything is timed
        partnerCenter.get(sandbox.partnerCenter().baseUrl() + "/v1.0/engagements/referrals");
    }

    @AfterAll
    static void stop() {
        sandbox.close();
    }

    @BeforeEach
    void reset() {
        sandbox.dataverse().serviceProtection().limits(ServiceProtection.Limits.off()).resetWindow();
        sandbox.dataverse().serviceProtection().resetCounts();
        sandbox.dataverse().latency().set(0, 0);
        sandbox.partnerCenter().latency().set(0, 0);
        sandbox.partnerCenter().faults().clear();
    }

    @Test
    void offByDefault() {
        for (int i = 0; i < 30; i++) {
            TestHttp.Resp r = dataverse.get(api + "WhoAmI");
            assertEquals(200, r.status());
            assertNull(r.header("x-ms-dop-hint"));
        }
    }

    @Test
    void latencyIsMeanPlusOrMinusJitterPerSystem() {
        sandbox.dataverse().latency().set(60, 20);
        sandbox.partnerCenter().latency().set(150, 50);
        List<Long> dv = new ArrayList<>();
        List<Long> pc = new ArrayList<>();
        for (int i = 0; i < 15; i++) {
            dv.add(timed(() -> dataverse.get(api + "WhoAmI")));
            pc.add(timed(() -> partnerCenter.get(sandbox.partnerCenter().baseUrl() + "/v1.0/engagements/referrals")));
        }
        Collections.sort(dv);
        Collections.sort(pc);
        assertTrue(dv.get(0) >= 40, "no Dataverse answer under 60 - 20 ms: " + dv);
        assertTrue(pc.get(0) >= 100, "no Partner Center answer under 150 - 50 ms: " + pc);
        assertTrue(dv.get(dv.size() - 1) - dv.get(0) >= 5, "Dataverse answers vary (jitter): " + dv);
        assertTrue(dv.get(dv.size() / 2) < 150 && pc.get(pc.size() / 2) < 300, "medians near the means: " + dv + " " + pc);
    }

    @Test
    void latencyAndLimitsCanBeSetOverTheAdminApi() {
        TestHttp.Resp l = admin.send("PUT", sandbox.dataverse().baseUrl() + "/_admin/latency", "{\"meanMs\":80,\"jitterMs\":0}");
        assertEquals(200, l.status(), l.body());
        assertTrue(timed(() -> dataverse.get(api + "WhoAmI")) >= 80);
        TestHttp.Resp s = admin.send("PUT", sandbox.dataverse().baseUrl() + "/_admin/service-protection",
                "{\"enabled\":true,\"requests\":2,\"executionMs\":1200000,\"concurrent\":52,\"windowSeconds\":60,"
                        + "\"dopHint\":4,\"batchOperationMs\":0}");
        assertEquals(200, s.status(), s.body());
        assertEquals(200, dataverse.get(api + "WhoAmI").status());
        assertEquals(200, dataverse.get(api + "WhoAmI").status());
        assertEquals(429, dataverse.get(api + "WhoAmI").status());
        assertEquals(204, admin.send("DELETE", sandbox.dataverse().baseUrl() + "/_admin/service-protection/window", null).status());
        assertEquals(200, dataverse.get(api + "WhoAmI").status());
        assertTrue(admin.get(sandbox.dataverse().baseUrl() + "/_admin/service-protection").json()
                .at("/counts/rejected/0x80072322").asInt() == 1);
    }

    @Test
    void requestLimitOverASlidingWindowAnswers429WithTheDocumentedCodeAndRetryAfter() throws Exception {
        sandbox.dataverse().serviceProtection().limits(ServiceProtection.Limits.documented().withRequests(5, 2).withDopHint(8));
        for (int i = 0; i < 5; i++) {
            TestHttp.Resp ok = dataverse.get(api + "WhoAmI");
            assertEquals(200, ok.status());
            assertEquals("8", ok.header("x-ms-dop-hint"), "Dataverse's recommended degree of parallelism on every answer");
        }
        TestHttp.Resp limited = dataverse.get(api + "WhoAmI");
        assertEquals(429, limited.status());
        assertEquals(ServiceProtection.REQUESTS_EXCEEDED, limited.json().at("/error/code").asText());
        assertTrue(limited.json().at("/error/message").asText().startsWith("Number of requests exceeded the limit of 5"));
        int retryAfter = Integer.parseInt(limited.header("Retry-After"));
        assertTrue(retryAfter >= 1 && retryAfter <= 2, "Retry-After: until the oldest request leaves the window, " + retryAfter);
        Thread.sleep(2100);
        assertEquals(200, dataverse.get(api + "WhoAmI").status(), "the window slid on");
    }

    @Test
    void aBatchIsOneRequestAndItsOperationsCountForExecutionTime() {
        sandbox.dataverse().serviceProtection().limits(ServiceProtection.Limits.documented().withRequests(2, 60)
                .withExecutionMs(150).withBatchOperationMs(50));
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            b.append("--batch_rw\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n")
                    .append("GET ").append(api).append("WhoAmI HTTP/1.1\r\nAccept: application/json\r\n\r\n");
        }
        b.append("--batch_rw--\r\n");
        long ms = timed(() -> assertEquals(200, dataverse.send("POST", api + "$batch", b.toString(), "Content-Type",
                "multipart/mixed; boundary=batch_rw").status()));
        assertTrue(ms >= 200, "four operations of 50 ms: " + ms);
        assertEquals(1, sandbox.dataverse().serviceProtection().counts().get("requestsInWindow"), "one request for the limit");
        TestHttp.Resp over = dataverse.get(api + "WhoAmI");
        assertEquals(429, over.status(), "its 200 ms of execution time are over the 150 ms limit");
        assertEquals(ServiceProtection.EXECUTION_TIME_EXCEEDED, over.json().at("/error/code").asText());
        assertTrue(Integer.parseInt(over.header("Retry-After")) >= 1);
    }

    @Test
    void concurrentRequestsOverTheLimitAnswer429() throws Exception {
        sandbox.dataverse().serviceProtection().limits(ServiceProtection.Limits.documented().withConcurrent(2));
        sandbox.dataverse().latency().set(400, 0);
        ExecutorService pool = Executors.newFixedThreadPool(5);
        try {
            List<CompletableFuture<TestHttp.Resp>> answers = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                answers.add(CompletableFuture.supplyAsync(() -> dataverse.get(api + "WhoAmI"), pool));
            }
            long ok = 0;
            long limited = 0;
            for (var a : answers) {
                TestHttp.Resp r = a.get();
                if (r.status() == 200) {
                    ok++;
                } else {
                    assertEquals(429, r.status());
                    assertEquals(ServiceProtection.CONCURRENCY_EXCEEDED, r.json().at("/error/code").asText());
                    assertTrue(r.json().at("/error/message").asText().contains("concurrent requests exceeded the limit of 2"));
                    assertEquals("1", r.header("Retry-After"));
                    limited++;
                }
            }
            assertEquals(2, ok, "two in flight at most");
            assertEquals(3, limited);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void partnerCenterThrottlesByRateFromSandboxProperties() {
        RealWorld.apply(sandbox, Map.of("sandbox.partnercenter.rate-limit-requests", "3",
                "sandbox.partnercenter.rate-limit-window-seconds", "5", "sandbox.latency.partnercenter-ms", "20"));
        String url = sandbox.partnerCenter().baseUrl() + "/v1.0/engagements/referrals";
        for (int i = 0; i < 3; i++) {
            assertEquals(200, partnerCenter.get(url).status());
        }
        TestHttp.Resp r = partnerCenter.get(url);
        assertEquals(429, r.status());
        int retryAfter = Integer.parseInt(r.header("Retry-After"));
        assertTrue(retryAfter >= 1 && retryAfter <= 5, "Retry-After " + retryAfter);
        assertEquals(20, sandbox.partnerCenter().latency().setting().meanMs());
    }

    private static long timed(Runnable call) {
        long t = System.nanoTime();
        call.run();
        return (System.nanoTime() - t) / 1_000_000;
    }
}
