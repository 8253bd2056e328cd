package dev.cosell.connector.webhook;

import org.apache.camel.CamelContext;
import org.apache.camel.StartupListener;
import org.apache.camel.component.platform.http.vertx.VertxPlatformHttpRouter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the webhook server refuses before a route sees it, answered and logged like the routes' own
 * refusals: a body over {@code camel.server.max-body-size} (Vert.x stops reading it) is a 413 with one
 * WARN line, instead of Vert.x's "Unhandled exception in router" at ERROR.
 */
public final class WebhookServerErrors implements StartupListener {

    private static final Logger LOG = LoggerFactory.getLogger(WebhookServerErrors.class);

    private final long maxBodyBytes;

    public WebhookServerErrors(long maxBodyBytes) {
        this.maxBodyBytes = maxBodyBytes;
    }

    @Override
    public void onCamelContextStarted(CamelContext context, boolean alreadyStarted) {
        // the server's router exists once the context has started
    }

    @Override
    public void onCamelContextFullyStarted(CamelContext context, boolean alreadyStarted) {
        VertxPlatformHttpRouter router = VertxPlatformHttpRouter.lookup(context);
        if (router == null) {
            LOG.debug("No platform-http router: the webhook server is off");
            return; // no webhook server (camel.server.enabled=false)
        }
        LOG.debug("413 handler on the webhook server's router {}", router.getName());
        router.errorHandler(413, ctx -> {
            LOG.warn("Webhook rejected (413): {} {}: the body is larger than {} bytes (refused before it was read)",
                    ctx.request().method(), ctx.request().path(), maxBodyBytes);
            if (!ctx.response().ended()) {
                ctx.response().setStatusCode(413).putHeader("Content-Type", "text/plain; charset=utf-8")
                        .end("the body is larger than " + maxBodyBytes + " bytes");
            }
        });
    }
}
