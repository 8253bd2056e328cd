package dev.cosell.connector.console;

import java.io.IOException;
import java.io.InputStream;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;

import com.github.mustachejava.DefaultMustacheFactory;
import com.github.mustachejava.Mustache;
import com.github.mustachejava.MustacheFactory;
import dev.cosell.connector.Settings;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.CookieSameSite;
import io.vertx.core.http.HttpMethod;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import io.vertx.ext.web.handler.CSRFHandler;
import io.vertx.ext.web.handler.SessionHandler;
import io.vertx.ext.web.sstore.LocalSessionStore;
import io.vertx.ext.web.sstore.SessionStore;
import org.apache.camel.CamelContext;
import org.apache.camel.StartupListener;
import org.apache.camel.component.platform.http.main.ManagementHttpServer;
import org.apache.camel.component.platform.http.vertx.VertxPlatformHttpRouter;
import org.apache.camel.support.service.ServiceSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator console: server-rendered pages (Mustache templates in {@code console/}, htmx, Chart.js and
 * Pico CSS from their webjars) under {@code console.path} on the management server
 * ({@code camel.management.host}:{@code camel.management.port}, loopback by default).
 *
 * <p>Security: one user from {@code console.user} / {@code console.password-hash} (PBKDF2, see
 * {@link ConsolePassword}); Vert.x Web's session (cookie HttpOnly, SameSite=Strict, Secure with
 * {@code console.secure-cookie}) and CSRF handler (a token on every POST, header {@code X-XSRF-TOKEN} or form
 * field of that name, rotated after each use); every page and action needs a signed-in session (pages
 * redirect to the login, actions answer 401); every action is an audit line naming the user.
 */
public final class OperatorConsole extends ServiceSupport implements StartupListener {

    private static final Logger LOG = LoggerFactory.getLogger(OperatorConsole.class);
    static final String CSRF_HEADER = "X-XSRF-TOKEN";
    static final String CSRF_COOKIE = "XSRF-TOKEN";
    static final String SESSION_COOKIE = "cosell_console_session";

    /** The front-end files served, by the name pages use (all from webjars on the classpath, or console/). */
    private static final Map<String, String[]> ASSETS = Map.of(
            "htmx.min.js", new String[] { "META-INF/resources/webjars/htmx.org/2.0.8/dist/htmx.min.js", "text/javascript" },
            "chart.umd.min.js", new String[] { "META-INF/resources/webjars/chart.js/4.5.1/dist/chart.umd.min.js", "text/javascript" },
            "pico.min.css", new String[] { "META-INF/resources/webjars/picocss__pico/2.1.1/css/pico.min.css", "text/css" },
            "console.js", new String[] { "console/console.js", "text/javascript" },
            "console.css", new String[] { "console/console.css", "text/css" });

    private final CamelContext context;
    private final Settings settings;
    private final Map<String, byte[]> assetCache = new ConcurrentHashMap<>();
    private final MustacheFactory templates = new DefaultMustacheFactory("console");
    private final LoginGuard guard = new LoginGuard();
    private ConsoleViews views;
    private SessionStore sessionStore;
    private String path;
    private String user;
    private String passwordHash;
    private ExecutorService background;

    public OperatorConsole(CamelContext context) {
        this.context = context;
        this.settings = new Settings(context);
    }

    /** Whether the configuration turns the console on (enabled, with a password hash). */
    public static boolean configured(Settings settings) {
        String hash = settings.get("console.password-hash");
        return settings.requireBoolean("console.enabled") && hash != null && !hash.isBlank();
    }

    @Override
    protected void doStart() throws Exception {
        context.addStartupListener(this);
    }

    @Override
    public void onCamelContextFullyStarted(CamelContext ctx, boolean alreadyStarted) {
        mount();
    }

    @Override
    public void onCamelContextStarted(CamelContext ctx, boolean alreadyStarted) {
        // mounted once everything is up (onCamelContextFullyStarted)
    }

    private void mount() {
        path = settings.require("console.path").replaceAll("/+$", "");
        user = settings.require("console.user");
        passwordHash = settings.require("console.password-hash").trim();
        int mgmtPort = settings.requireInt("camel.management.port");
        if (settings.requireBoolean("camel.server.enabled") && mgmtPort == settings.requireInt("camel.server.port")) {
            LOG.warn("Operator console not served: camel.management.port is the webhook server's port; give the management"
                    + " server a port of its own");
            return;
        }
        ManagementHttpServer management = context.hasService(ManagementHttpServer.class);
        VertxPlatformHttpRouter router = management != null ? management.getRouter()
                : VertxPlatformHttpRouter.lookup(context, VertxPlatformHttpRouter.getRouterNameFromPort(mgmtPort));
        if (router == null) {
            LOG.warn("Operator console not served: the management server is off (camel.management.enabled)");
            return;
        }
        Vertx vertx = router.vertx();
        background = context.getExecutorServiceManager().newFixedThreadPool(this, "console", 2);
        views = new ConsoleViews(context, settings, background);
        boolean secure = settings.requireBoolean("console.secure-cookie");
        long timeoutMs = settings.requireInt("console.session-timeout-minutes") * 60_000L;
        sessionStore = LocalSessionStore.create(vertx, "cosell.console.sessions");
        byte[] secret = new byte[32];
        new SecureRandom().nextBytes(secret);

        Router console = Router.router(vertx);
        console.route().handler(this::securityHeaders);
        console.route().handler(SessionHandler.create(sessionStore).setSessionCookieName(SESSION_COOKIE)
                .setSessionCookiePath(path).setCookieHttpOnlyFlag(true).setCookieSameSite(CookieSameSite.STRICT)
                .setCookieSecureFlag(secure).setSessionTimeout(timeoutMs).setMinLength(32));
        console.route().handler(BodyHandler.create(false).setBodyLimit(64 * 1024));
        console.route().handler(CSRFHandler.create(vertx, Base64.getEncoder().encodeToString(secret))
                .setCookieName(CSRF_COOKIE).setHeaderName(CSRF_HEADER).setCookiePath(path).setCookieSecure(secure)
                .setTimeout(timeoutMs));
        console.get("/assets/:name").handler(this::asset);
        console.get("/login").handler(ctx -> page(ctx, "login", loginModel(ctx, null)));
        console.post("/login").blockingHandler(this::login, false);
        console.route().handler(this::requireUser);
        console.post("/logout").handler(this::logout);

        console.get("/").blockingHandler(page("overview", views::overview), false);
        console.get("/records").blockingHandler(page("records", views::records), false);
        console.get("/records/:referralId").blockingHandler(page("record", views::record), false);
        console.get("/records/:referralId/timeline").blockingHandler(page("timeline", views::timeline), false);
        console.post("/records/:referralId/sync").blockingHandler(page("sync-now", views::syncNow), false);
        console.get("/dead-letters").blockingHandler(page("dead-letters", views::deadLetters), false);
        console.get("/dead-letters/:id").blockingHandler(page("dead-letter", views::deadLetter), false);
        console.get("/dead-letters/:id/outcome").blockingHandler(page("replay-outcome", views::replayOutcome), false);
        console.post("/dead-letters/replay-all").blockingHandler(page("replay-all", views::replayAll), false);
        console.post("/dead-letters/:id/replay").blockingHandler(page("replay-outcome", views::replay), false);
        console.post("/dead-letters/:id/discard").blockingHandler(page("discarded", views::discard), false);
        console.get("/backfill").blockingHandler(page("backfill", views::backfill), false);
        console.get("/backfill/progress").blockingHandler(page("backfill-progress", views::progress), false);
        console.post("/backfill/start").blockingHandler(page("backfill-progress", views::startRun), false);
        console.get("/mapping").blockingHandler(page("mapping", views::mapping), false);
        console.errorHandler(403, ctx -> error(ctx, 403, "Refused: the form's security token is missing or out of date."
                + " Reload the page and try again."));
        console.errorHandler(500, ctx -> {
            LOG.warn("Console: {} {} failed", ctx.request().method(), ctx.request().path(), ctx.failure());
            error(ctx, 500, "Something failed: " + (ctx.failure() == null ? "unknown error"
                : ctx.failure().getMessage()));
        });

        // (Vert.x matches /console/ to a route for /console too: only the bare path is sent on)
        router.route(HttpMethod.GET, path).handler(ctx -> {
            if (ctx.request().path().equals(path)) {
                redirect(ctx, path + "/");
            } else {
                ctx.next();
            }
        });
        router.route(path + "/*").subRouter(console);
        LOG.info("Operator console on http://{}:{}{}/ (user {})", settings.require("camel.management.host"), mgmtPort, path, user);
    }

    /** The console's address as configured (for the sandbox demo to print). */
    public static String url(Settings settings) {
        return "http://" + settings.require("camel.management.host") + ":" + settings.require("camel.management.port")
                + settings.require("console.path").replaceAll("/+$", "") + "/";
    }

    // ------------------------------------------------------------------------------------------ security

    private void securityHeaders(RoutingContext ctx) {
        ctx.response().putHeader("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self';"
                + " img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
                .putHeader("X-Content-Type-Options", "nosniff").putHeader("Referrer-Policy", "same-origin")
                .putHeader("X-Frame-Options", "DENY");
        ctx.next();
    }

    private void requireUser(RoutingContext ctx) {
        if (ctx.session() != null && ctx.session().get("user") != null) {
            ctx.next();
        } else if (ctx.request().method() == HttpMethod.GET && ctx.request().getHeader("HX-Request") == null) {
            redirect(ctx, path + "/login");
        } else {
            error(ctx, 401, "Sign in first.");
        }
    }

    private void login(RoutingContext ctx) {
        String name = ctx.request().getFormAttribute("username");
        String password = ctx.request().getFormAttribute("password");
        String refused = guard.refusal();
        if (refused != null) {
            page(ctx, 429, "login", loginModel(ctx, refused));
            return;
        }
        // Both compared every time (no early return on a wrong user name: the same time either way).
        boolean passwordOk = ConsolePassword.matches(password == null ? "" : password, passwordHash);
        boolean ok = passwordOk & user.equals(name);
        if (!ok) {
            guard.failed();
            // (never the name typed: a password typed into the user field must not reach the log)
            LOG.warn("Console: sign-in refused ({})", user.equals(name) ? "wrong password" : "unknown user name");
            page(ctx, 401, "login", loginModel(ctx, "Wrong user name or password."));
            return;
        }
        guard.succeeded();
        ctx.session().regenerateId();
        ctx.session().put("user", user);
        views.audit(user, null, null, "console-sign-in", "signed in to the operator console", null);
        redirect(ctx, path + "/");
    }

    private void logout(RoutingContext ctx) {
        ctx.session().destroy();
        redirect(ctx, path + "/login");
    }

    private Map<String, Object> loginModel(RoutingContext ctx, String error) {
        Map<String, Object> m = new HashMap<>();
        m.put("error", error);
        return m;
    }

    /** Five wrong passwords within a minute: sign-in refused for a minute (whoever tries). */
    static final class LoginGuard {
        private final java.util.Deque<Long> failures = new java.util.ArrayDeque<>();

        synchronized String refusal() {
            long now = System.currentTimeMillis();
            failures.removeIf(t -> t < now - 60_000);
            return failures.size() >= 5 ? "Too many failed sign-ins: wait a minute." : null;
        }

        synchronized void failed() {
            failures.add(System.currentTimeMillis());
        }

        synchronized void succeeded() {
            failures.clear();
        }
    }

    // ------------------------------------------------------------------------------------------ rendering

    /** A page handler: the view makes the model from the request (user, path, CSRF token added), the template shows it. */
    private Handler<RoutingContext> page(String template, java.util.function.Function<ConsoleViews.Request, Map<String, Object>> view) {
        return ctx -> {
            ConsoleViews.Request request = new ConsoleViews.Request(ctx.session().get("user"), ctx.pathParams(),
                    key -> ctx.request().method() == HttpMethod.POST ? ctx.request().getFormAttribute(key) : ctx.request().getParam(key),
                    ctx.request().getHeader("HX-Request") != null);
            Map<String, Object> model = view.apply(request);
            Object status = model.getOrDefault("status", 200);
            page(ctx, (Integer) status, template, model);
        };
    }

    private void page(RoutingContext ctx, String template, Map<String, Object> model) {
        page(ctx, 200, template, model);
    }

    private void page(RoutingContext ctx, int status, String template, Map<String, Object> model) {
        Map<String, Object> scope = new HashMap<>(model);
        scope.put("base", path);
        scope.put("csrf", ctx.get(CSRF_HEADER));
        scope.put("csrfName", CSRF_HEADER);
        scope.put("user", ctx.session() == null ? null : ctx.session().get("user"));
        scope.put("now", Instant.now().toString().substring(0, 19).replace('T', ' ') + " UTC");
        scope.put("nav-" + template, true);
        StringWriter out = new StringWriter();
        Mustache m = templates.compile(template + ".mustache");
        m.execute(out, scope);
        ctx.response().setStatusCode(status).putHeader("Content-Type", "text/html; charset=utf-8")
                .putHeader("Cache-Control", "no-store").end(out.toString());
    }

    private void error(RoutingContext ctx, int status, String message) {
        if (ctx.response().ended()) {
            return;
        }
        ctx.response().setStatusCode(status).putHeader("Content-Type", "text/html; charset=utf-8")
                .putHeader("Cache-Control", "no-store").end("<article class=\"error\"><p>" + ConsoleViews.escape(message)
                        + "</p></article>");
    }

    private static void redirect(RoutingContext ctx, String to) {
        ctx.response().setStatusCode(303).putHeader("Location", to).putHeader("Cache-Control", "no-store").end();
    }

    private void asset(RoutingContext ctx) {
        String[] asset = ASSETS.get(ctx.pathParam("name"));
        if (asset == null) {
            ctx.response().setStatusCode(404).end();
            return;
        }
        byte[] bytes = assetCache.computeIfAbsent(asset[0], OperatorConsole::read);
        ctx.response().putHeader("Content-Type", asset[1] + "; charset=utf-8").putHeader("Cache-Control", "max-age=3600")
                .end(io.vertx.core.buffer.Buffer.buffer(bytes));
    }

    private static byte[] read(String resource) {
        try (InputStream in = OperatorConsole.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("missing on the classpath: " + resource);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    protected void doStop() {
        if (sessionStore != null) {
            sessionStore.close();
        }
        if (background != null) {
            context.getExecutorServiceManager().shutdownNow(background);
        }
    }
}
