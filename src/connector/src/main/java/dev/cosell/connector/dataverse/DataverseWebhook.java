package dev.cosell.connector.dataverse;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The optional push from Dataverse: a webhook service endpoint registered with authentication
 * "WebhookKey" (sent as {@code ?code=<key>}) or "HttpHeader" ({@code x-cosell-key: <key>}), posting
 * the {@code RemoteExecutionContext} of an opportunity Create/Update step.
 */
public final class DataverseWebhook {

    private static final ObjectMapper JSON = new ObjectMapper();
    private final byte[] key;

    public DataverseWebhook(String key) {
        this.key = key == null ? new byte[0] : key.getBytes(StandardCharsets.UTF_8);
    }

    /** True when the post carries the shared key (compared in constant time); never true without a configured key. */
    public boolean authorized(Map<String, Object> headers) {
        if (key.length == 0) {
            return false;
        }
        Object given = null;
        for (var e : headers.entrySet()) {
            if (e.getKey().equalsIgnoreCase("code") || e.getKey().equalsIgnoreCase("x-cosell-key")) {
                given = e.getValue();
            }
        }
        return given != null && MessageDigest.isEqual(key, given.toString().getBytes(StandardCharsets.UTF_8));
    }

    /** PrimaryEntityId of an opportunity RemoteExecutionContext. */
    public String opportunityId(String body) throws Exception {
        JsonNode ctx = JSON.readTree(body);
        if (ctx == null || !"opportunity".equalsIgnoreCase(ctx.path("PrimaryEntityName").asText())) {
            throw new IllegalArgumentException("not an opportunity RemoteExecutionContext");
        }
        String id = ctx.path("PrimaryEntityId").asText("");
        if (!id.matches("[0-9a-fA-F-]{36}")) {
            throw new IllegalArgumentException("PrimaryEntityId is not a GUID: " + id);
        }
        return id.toLowerCase();
    }
}
