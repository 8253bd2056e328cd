package dev.cosell.connector.sync;

import java.util.Map;
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

    /** A body larger than any Partner Center event (sync.webhook.max-body-bytes); answered 413. */
    public static final class PayloadTooLargeException extends RuntimeException {
        public PayloadTooLargeException(String message) {
            super(message);
        }
    }

    private final int maxBodyBytes;

    public PartnerCenterEvents(int maxBodyBytes) {
        this.maxBodyBytes = maxBodyBytes;
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
