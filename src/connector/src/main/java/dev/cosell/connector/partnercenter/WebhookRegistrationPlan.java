package dev.cosell.connector.partnercenter;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * What the connector wants registered with Partner Center webhooks (its callback URL and the referral
 * events), and whether an existing registration already says exactly that. Used by
 * {@code routes/partner-center-webhook-registration.camel.yaml}.
 */
public final class WebhookRegistrationPlan {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String callbackUrl;
    private final List<String> events;

    /** @param events comma-separated (partnercenter.webhook.events) */
    public WebhookRegistrationPlan(String callbackUrl, String events) {
        if (callbackUrl == null || callbackUrl.isBlank()) {
            throw new IllegalArgumentException("partnercenter.webhook.callback-url must be set to this connector's public URL");
        }
        this.callbackUrl = callbackUrl.trim();
        this.events = dev.cosell.connector.Settings.commaList(events);
    }

    public String callbackUrl() {
        return callbackUrl;
    }

    /** The POST/PUT body, with the documented PascalCase names. */
    public String desiredBody() {
        ObjectNode body = JSON.createObjectNode().put("WebhookUrl", callbackUrl);
        events.forEach(body.putArray("WebhookEvents")::add);
        return body.toString();
    }

    /** True when the current registration has our URL and exactly our events (any order, any case of names). */
    public boolean sameAsDesired(Map<String, Object> current) {
        Object url = property(current, "WebhookUrl");
        Object registered = property(current, "WebhookEvents");
        if (url == null || !callbackUrl.equals(url.toString()) || !(registered instanceof Collection<?> list)) {
            return false;
        }
        List<String> names = new ArrayList<>();
        list.forEach(e -> names.add(String.valueOf(e).toLowerCase(Locale.ROOT)));
        return new TreeSet<>(names).equals(new TreeSet<>(events.stream().map(e -> e.toLowerCase(Locale.ROOT)).toList()));
    }

    /** The URL a registration currently points at (for the conflict report). */
    public String currentUrl(Map<String, Object> current) {
        Object url = property(current, "WebhookUrl");
        return url == null ? "(none)" : url.toString();
    }

    private static Object property(Map<String, Object> map, String name) {
        if (map == null) {
            return null;
        }
        for (var e : map.entrySet()) {
            if (e.getKey().equalsIgnoreCase(name)) {
                return e.getValue();
            }
        }
        return null;
    }
}
