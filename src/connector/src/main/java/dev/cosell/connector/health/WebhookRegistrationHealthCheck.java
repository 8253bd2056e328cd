package dev.cosell.connector.health;

import java.util.Map;

import org.apache.camel.ProducerTemplate;
import org.apache.camel.health.HealthCheckResultBuilder;
import org.apache.camel.impl.health.AbstractHealthCheck;

/**
 * The Partner Center webhook registration points at this connector: runs the registration flow's
 * read-only check (direct:partner-center-webhook-registration-check) and is DOWN on a missing or
 * foreign registration.
 */
public final class WebhookRegistrationHealthCheck extends AbstractHealthCheck {

    private final ProducerTemplate template;

    public WebhookRegistrationHealthCheck(ProducerTemplate template) {
        super("cosell", "webhook-registration");
        this.template = template;
    }

    @Override
    public boolean isLiveness() {
        return false;
    }

    @Override
    protected void doCall(HealthCheckResultBuilder builder, Map<String, Object> options) {
        try {
            String state = template.requestBody("direct:partner-center-webhook-registration-check", null, String.class);
            builder.detail("registration", state);
            if ("ours".equals(state)) {
                builder.up();
            } else {
                builder.down().message("webhook registration is " + state + ": run --register-webhook");
            }
        } catch (Exception e) {
            builder.down().message("cannot read the webhook registration: " + e.getMessage());
        }
    }
}
