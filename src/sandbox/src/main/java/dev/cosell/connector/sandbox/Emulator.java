package dev.cosell.connector.sandbox;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.JksOptions;
import io.vertx.ext.web.Route;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Base of the three emulators: one HTTPS server on loopback per emulated service.
 * <p>
 * Every emulated API route goes through the same pre-handler, in this order: count the call (per
 * method and route template), apply injected faults (429/5xx, delay, dropped connection), check the
 * bearer token's audience and expiry, then run the handler on a worker thread. The admin API
 * (seed, inspect, faults, counters) lives under {@value #ADMIN} and is neither counted nor faulted.
 */
public abstract class Emulator implements AutoCloseable {

    public static final String ADMIN = "/_admin";
    protected static final ObjectMapper JSON = new ObjectMapper();

    protected final Logger log = LoggerFactory.getLogger(getClass());
    protected final Vertx vertx;
    protected final SandboxPki pki;
    protected final Router router;
    protected final CallLog calls = new CallLog();
    protected final Faults faults = new Faults();
    /** Service time per request (off by default): see {@link Latency}. */
    protected final Latency latency = new Latency();
    /** The service's own admission control (service protection); open by default. */
    private volatile RequestGate gate = RequestGate.OPEN;
    private HttpServer server;
    private final java.util.concurrent.atomic.AtomicLong connectionsOpened = new java.util.concurrent.atomic.AtomicLong();
    private String baseUrl;

    protected Emulator(Vertx vertx, SandboxPki pki) {
        this.vertx = vertx;
        this.pki = pki;
        this.router = Router.router(vertx);
        router.route().handler(BodyHandler.create().setBodyLimit(maxBodyBytes()));
        registerAdmin();
    }

    /** Short name used in logs and the admin API ("entra", "partnercenter", "dataverse"). */
    public abstract String name();

    /** The API routes of the emulated service. */
    protected abstract void routes();

    /** Body size the emulated service accepts (413 beyond). */
    protected long maxBodyBytes() {
        return 16L * 1024 * 1024;
    }

    /**
     * Validates the bearer token of an API request; returns null when valid, else the reason.
     * Emulators of protected APIs override this.
     */
    protected String checkToken(RoutingContext ctx) {
        return null;
    }

    /** Writes the service's own 401 response. */
    protected void unauthorized(RoutingContext ctx, String reason) {
        ctx.response().setStatusCode(401).putHeader("WWW-Authenticate", "Bearer").end();
    }

    /** Writes the service's own error for an injected fault status. */
    protected void faultResponse(RoutingContext ctx, Faults.Fault fault) {
        ctx.response().setStatusCode(fault.status()).end();
    }

    public Emulator start(int port) {
        routes();
        router.route().last().handler(this::notFound);
        HttpServerOptions options = new HttpServerOptions().setHost("127.0.0.1").setPort(port).setSsl(true)
                .setKeyCertOptions(keyStoreOptions()).setCompressionSupported(false);
        server = await(vertx.createHttpServer(options).requestHandler(router)
                .connectionHandler(connection -> connectionsOpened.incrementAndGet()).listen().toCompletionStage()
                .toCompletableFuture());
        baseUrl = "https://127.0.0.1:" + server.actualPort();
        log.info("{} emulator listening on {}", name(), baseUrl);
        return this;
    }

    protected void notFound(RoutingContext ctx) {
        ctx.response().setStatusCode(404).end();
    }

    private JksOptions keyStoreOptions() {
        try {
            java.security.KeyStore ks = java.security.KeyStore.getInstance("JKS");
            ks.load(null, null);
            ks.setKeyEntry("tls", pki.tlsKey(), SandboxPki.STORE_PASSWORD.toCharArray(),
                    new java.security.cert.X509Certificate[] { pki.tlsCertificate(), pki.caCertificate() });
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            ks.store(out, SandboxPki.STORE_PASSWORD.toCharArray());
            return new JksOptions().setValue(Buffer.buffer(out.toByteArray())).setPassword(SandboxPki.STORE_PASSWORD);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    public String baseUrl() {
        return baseUrl;
    }

    public int port() {
        return server.actualPort();
    }

    /** TLS connections clients opened so far (a client that does not keep connections alive pays a handshake per call). */
    public long connectionsOpened() {
        return connectionsOpened.get();
    }

    public CallLog calls() {
        return calls;
    }

    public Faults faults() {
        return faults;
    }

    /** Registers an emulated API route that needs a valid bearer token. */
    protected void api(HttpMethod method, String path, Handler<RoutingContext> handler) {
        wire(router.route(method, path), method.name() + " " + path, true, handler);
    }

    /** An API route on a plain path; {@code authenticated=false} for the few public endpoints. */
    protected void api(HttpMethod method, String path, boolean authenticated, Handler<RoutingContext> handler) {
        wire(router.route(method, path), method.name() + " " + path, authenticated, handler);
    }

    /** An API route matched by a regular expression (OData keys in parentheses), counted under {@code template}. */
    protected void apiRegex(HttpMethod method, String regex, String template, Handler<RoutingContext> handler) {
        wire(router.routeWithRegex(method, regex), method.name() + " " + template, true, handler);
    }

    private void wire(Route route, String template, boolean authenticated, Handler<RoutingContext> handler) {
        route.handler(ctx -> {
            long started = System.nanoTime();
            ctx.addEndHandler(done -> {
                String counted = ctx.get(CALL_TEMPLATE);
                calls.record(counted != null ? counted : template, ctx.request().method().name(), ctx.request().uri(),
                        Boolean.TRUE.equals(ctx.get("dropped")) ? 0 : ctx.response().getStatusCode(),
                        System.nanoTime() - started);
                if (calls.capturing()) {
                    capture(ctx, started);
                }
            });
            Faults.Fault fault = faults.next(ctx.request().method().name(), ctx.request().path());
            if (fault == null) {
                serve(ctx, authenticated);
                return;
            }
            Runnable apply = () -> {
                if (fault.drop()) {
                    ctx.put("dropped", true);
                    ctx.request().connection().close();
                } else if (fault.status() > 0) {
                    faultResponse(ctx, fault);
                } else {
                    serve(ctx, authenticated);
                }
            };
            if (fault.delayMs() > 0) {
                vertx.setTimer(fault.delayMs(), t -> apply.run());
            } else {
                apply.run();
            }
        });
        route.blockingHandler(ctx -> {
            try {
                handler.handle(ctx);
            } catch (RuntimeException e) {
                log.error("{} emulator failed on {} {}", name(), ctx.request().method(), ctx.request().uri(), e);
                if (!ctx.response().ended()) {
                    ctx.response().setStatusCode(500).end();
                }
            }
        }, false);
    }

    /**
     * The service's gate, then its latency (plus any service time the gate asks for), then the token check
     * and the handler; a request the gate rejects gets its answer after the latency too.
     */
    private void serve(RoutingContext ctx, boolean authenticated) {
        RequestGate.Admission admission = gate.admit(ctx);
        long delay = latency.sampleMs() + admission.extraMs();
        Runnable go = admission.rejection() != null ? () -> admission.rejection().accept(ctx)
                : () -> authorize(ctx, authenticated);
        if (delay <= 0) {
            go.run();
        } else {
            vertx.setTimer(delay, t -> go.run());
        }
    }

    public Latency latency() {
        return latency;
    }

    /** Puts a service's admission control in front of the API routes ({@link RequestGate#OPEN} removes it). */
    public void gate(RequestGate gate) {
        this.gate = gate == null ? RequestGate.OPEN : gate;
    }

    private void authorize(RoutingContext ctx, boolean authenticated) {
        if (authenticated) {
            String problem = checkToken(ctx);
            if (problem != null) {
                unauthorized(ctx, problem);
                return;
            }
        }
        ctx.next();
    }

    // ---------------------------------------------------------------------------------------------
    // Admin API shared by all emulators: counters, request log, faults

    private void registerAdmin() {
        router.get(ADMIN + "/calls").handler(ctx -> json(ctx, 200, JSON.valueToTree(calls.counts())));
        router.delete(ADMIN + "/calls").handler(ctx -> {
            calls.reset();
            ctx.response().setStatusCode(204).end();
        });
        router.get(ADMIN + "/requests").handler(ctx -> json(ctx, 200, JSON.valueToTree(calls.entries())));
        router.get(ADMIN + "/faults").handler(ctx -> json(ctx, 200, JSON.valueToTree(faults.rules())));
        router.post(ADMIN + "/faults").handler(ctx -> {
            try {
                Faults.Rule rule = JSON.readValue(ctx.body().asString(), Faults.Rule.class);
                faults.add(rule);
                ctx.response().setStatusCode(201).end();
            } catch (Exception e) {
                json(ctx, 400, JSON.createObjectNode().put("error", "bad fault rule: " + e.getMessage()));
            }
        });
        router.delete(ADMIN + "/faults").handler(ctx -> {
            faults.clear();
            ctx.response().setStatusCode(204).end();
        });
        router.get(ADMIN + "/latency").handler(ctx -> json(ctx, 200, JSON.valueToTree(latency.setting())));
        router.put(ADMIN + "/latency").handler(ctx -> {
            try {
                Latency.Setting s = JSON.readValue(ctx.body().asString(), Latency.Setting.class);
                latency.set(s.meanMs(), s.jitterMs());
                json(ctx, 200, JSON.valueToTree(latency.setting()));
            } catch (Exception e) {
                json(ctx, 400, JSON.createObjectNode().put("error", "bad latency: " + e.getMessage()));
            }
        });
    }

    // ---------------------------------------------------------------------------------------------
    // helpers

    protected static void json(RoutingContext ctx, int status, JsonNode body) {
        json(ctx, status, body, Map.of());
    }

    private static final List<String> CAPTURED_REQUEST_HEADERS = List.of("If-Match", "If-None-Match", "Prefer",
            "Content-Type");
    private static final List<String> CAPTURED_RESPONSE_HEADERS = List.of("OData-EntityId", "ETag", "Location");

    /** Keeps the whole request and answer for the benchmark's replay (only while capturing). */
    private void capture(RoutingContext ctx, long started) {
        Map<String, String> request = new java.util.LinkedHashMap<>();
        for (String h : CAPTURED_REQUEST_HEADERS) {
            String v = ctx.request().getHeader(h);
            if (v != null) {
                request.put(h, v);
            }
        }
        Map<String, String> response = new java.util.LinkedHashMap<>();
        for (String h : CAPTURED_RESPONSE_HEADERS) {
            String v = ctx.response().headers().get(h);
            if (v != null) {
                response.put(h, v);
            }
        }
        Buffer body = ctx.body() == null ? null : ctx.body().buffer();
        byte[] answer = ctx.get(RESPONSE_BODY);
        calls.keep(new CallLog.Captured(0, started, System.nanoTime(), ctx.request().method().name(),
                ctx.request().uri(), request, body == null ? null : body.toString(java.nio.charset.StandardCharsets.UTF_8),
                ctx.response().getStatusCode(), response,
                answer == null ? null : new String(answer, java.nio.charset.StandardCharsets.UTF_8)));
    }

    /** Context key: a handler's more precise name for the call in the call log (e.g. a read-only $batch). */
    protected static final String CALL_TEMPLATE = "cosell.callTemplate";

    /** Context key under which an answer's body is left for {@link #capture}. */
    protected static final String RESPONSE_BODY = "cosell.responseBody";

    protected static void json(RoutingContext ctx, int status, JsonNode body, Map<String, String> headers) {
        var response = ctx.response().setStatusCode(status);
        headers.forEach(response::putHeader);
        try {
            byte[] bytes = JSON.writeValueAsBytes(body);
            ctx.put(RESPONSE_BODY, bytes);
            response.putHeader("Content-Type", "application/json; charset=utf-8")
                    .end(Buffer.buffer(bytes));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Parses the request body as a JSON object, or returns null (caller answers 400). */
    protected static ObjectNode jsonBody(RoutingContext ctx) {
        try {
            Buffer b = ctx.body().buffer();
            if (b == null || b.length() == 0) {
                return null;
            }
            JsonNode node = JSON.readTree(b.getBytes());
            return node instanceof ObjectNode o ? o : null;
        } catch (Exception e) {
            return null;
        }
    }

    protected static <T> T await(CompletableFuture<T> f) {
        try {
            return f.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        if (server != null) {
            await(server.close().toCompletionStage().toCompletableFuture());
            server = null;
        }
    }
}
