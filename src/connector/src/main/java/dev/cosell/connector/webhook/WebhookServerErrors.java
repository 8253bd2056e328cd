package dev.cosell.connector.webhook;

import org.apache.camel.CamelContext;
import org.apache.camel.spi.CamelEvent;
import org.apache.camel.support.EventNotifierSupport;
import org.apache.camel.component.platform.http.vertx.VertxPlatformHttpRouter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the webhook server answers before a route sees a request, answered and logged like the routes'
 * own refusals:
 * <ul>
 * <li>a body over {@code camel.server.max-body-size} (Vert.x stops reading it) is a 413 with one WARN
 * line, instead of Vert.x's "Unhandled exception in router" at ERROR;</li>
 * <li>a post to the webhook path while its route is not serving (the server listens about a second
 * before the routes have started, and still while they stop) is a 503 with Retry-After, not a 404:
 * Partner Center delivers it again, and its delivery log does not say the URL is wrong.</li>
 * </ul>
 * Installed on the server's router as soon as the routes start (Camel's RoutesStarting event).
 */
public final class WebhookServerErrors extends EventNotifierSupport {

    private static final Logger LOG = LoggerFactory.getLogger(WebhookServerErrors.class);

    private final long maxBodyBytes;
    private final String webhookPath;
    private final int serverPort;
    private volatile boolean installed;

    /** @param serverPort camel.server.port: the server's router is named after it */
    public WebhookServerErrors(long maxBodyBytes, String webhookPath, int serverPort) {
        this.maxBodyBytes = maxBodyBytes;
        this.webhookPath = webhookPath;
        this.serverPort = serverPort;
    }

    @Override
    public boolean isEnabled(CamelEvent event) {
        return !installed && (event.getType() == CamelEvent.Type.RoutesStarting
                || event.getType() == CamelEvent.Type.CamelContextStarted);
    }

    @Override
    public void notify(CamelEvent event) {
        install(((CamelEvent.CamelContextEvent) event).getContext());
    }

    private synchronized void install(CamelContext context) {
        VertxPlatformHttpRouter router = VertxPlatformHttpRouter.lookup(context,
                VertxPlatformHttpRouter.getRouterNameFromPort(serverPort));
        if (installed || router == null) {
            return; // not yet, or no webhook server (camel.server.enabled=false)
        }
        installed = true;
        router.errorHandler(413, ctx -> {
            LOG.warn("Webhook rejected (413): {} {}: the body is larger than {} bytes (refused before it was read)",
                    ctx.request().method(), ctx.request().path(), maxBodyBytes);
            if (!ctx.response().ended()) {
                ctx.response().setStatusCode(413).putHeader("Content-Type", "text/plain; charset=utf-8")
                        .end("the body is larger than " + maxBodyBytes + " bytes");
            }
        });
        // Last in order: the webhook route's own handler, while it serves, comes first.
        router.post(webhookPath).last().handler(ctx -> {
            if (!ctx.response().ended()) {
                ctx.response().setStatusCode(503).putHeader("Retry-After", "5")
                        .putHeader("Content-Type", "text/plain; charset=utf-8").end("not taking events at the moment");
            }
        });
        LOG.debug("413 and 503 handlers on the webhook server's router {}", router.getName());
    }
}
