package dev.cosell.connector.partnercenter;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads Partner Center webhook events ({@code EventName, ResourceUri, ResourceName, AuditUri,
 * ResourceChangeUtcDate}): checks the fields the connector needs and derives the referral id and
 * the event's identity (the idempotency key: the same event delivered again has the same key).
 */
public final class PartnerCenterEvents {

    /** A body that is not a usable Partner Center event; answered 400. */
    public static final class MalformedEventException extends RuntimeException {
        public MalformedEventException(String message) {
            super(message);
        }
    }

    /** Not JSON (a form post, say); answered 415. */
    public static final class UnsupportedMediaTypeException extends RuntimeException {
        public UnsupportedMediaTypeException(String message) {
            super(message);
        }
    }

    /** A body larger than any Partner Center event (sync.webhook.max-body-bytes); answered 413. */
    public static final class PayloadTooLargeException extends RuntimeException {
        public PayloadTooLargeException(String message) {
            super(message);
        }
    }

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    private final int maxBodyBytes;
    private final Set<String> events;

    /**
     * @param events the event names taken (the registered ones, partnercenter.webhook.events); any
     *        other name is refused (400) instead of being processed like an update
     */
    public PartnerCenterEvents(int maxBodyBytes, String events) {
        this.maxBodyBytes = maxBodyBytes;
        this.events = Set.copyOf(dev.cosell.connector.Settings.commaList(events));
    }

    /** Events are JSON: a form post or any other type is refused before its body is read. */
    public void checkContentType(String contentType) {
        String type = contentType == null ? "" : contentType.split(";")[0].trim();
        if (!type.equalsIgnoreCase("application/json")) {
            throw new UnsupportedMediaTypeException("Content-Type must be application/json, not '"
                    + (contentType == null ? "" : contentType) + "'");
        }
    }

    /**
     * The event in a (verified) body: a JSON object whose EventName is one we registered and whose
     * ResourceUri names a referral. Anything else is a {@link MalformedEventException} with the reason.
     */
    @SuppressWarnings("unchecked")
    public Map<String, Object> parse(byte[] body) {
        Object event;
        try {
            event = JSON.readValue(body, Object.class);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new MalformedEventException("the body is not JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw new MalformedEventException("the body cannot be read: " + e.getMessage());
        }
        if (!(event instanceof Map<?, ?> map)) {
            throw new MalformedEventException("the body is not a JSON object");
        }
        Map<String, Object> e = (Map<String, Object>) map;
        if (!(e.get("EventName") instanceof String name)) {
            throw new MalformedEventException("EventName is missing or not a text");
        }
        if (!events.contains(name)) {
            throw new MalformedEventException("unknown event '" + name + "' (taken: " + new java.util.TreeSet<>(events) + ")");
        }
        if (!(e.get("ResourceUri") instanceof String)) {
            throw new MalformedEventException("ResourceUri is missing or not a text");
        }
        referralId(e);
        return e;
    }

    /** Refuses bodies over the limit before anything else looks at them. */
    public void checkSize(byte[] body) {
        if (body == null || body.length == 0) {
            throw new MalformedEventException("the body is empty");
        }
        if (body.length > maxBodyBytes) {
            throw new PayloadTooLargeException("the body has " + body.length + " bytes, more than the " + maxBodyBytes
                    + " a Partner Center event can have");
        }
    }

    private static final Pattern REFERRAL_ID = Pattern.compile("/referrals/([0-9A-Za-z-]{1,64})/?$");

    /** The referral id from the event's ResourceUri (any host: Partner Center writes its own). */
    public String referralId(Map<String, Object> event) {
        String uri = text(event, "ResourceUri");
        Matcher m = REFERRAL_ID.matcher(uri);
        if (!m.find()) {
            throw new MalformedEventException("ResourceUri is not a referral: " + uri);
        }
        return m.group(1);
    }

    /** EventName, checked. */
    public String eventName(Map<String, Object> event) {
        return text(event, "EventName");
    }

    /** Event identity: name, resource and change time. */
    public String eventKey(Map<String, Object> event) {
        String changed = event.get("ResourceChangeUtcDate") == null ? "" : event.get("ResourceChangeUtcDate").toString();
        return eventName(event) + "|" + referralId(event) + "|" + changed;
    }

    private static String text(Map<String, Object> event, String field) {
        if (event == null) {
            throw new MalformedEventException("the body is not a JSON object");
        }
        Object v = event.get(field);
        if (v == null || v.toString().isBlank()) {
            throw new MalformedEventException("the event has no " + field);
        }
        return v.toString();
    }
}
