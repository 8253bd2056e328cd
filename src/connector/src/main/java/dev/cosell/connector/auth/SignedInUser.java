package dev.cosell.connector.auth;

import java.time.Instant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Who signed in with {@code cosell-connector sign-in}, in which tenant, and when Entra issued the
 * refresh token the connector's chain starts from (the sign-in's answer). Kept in the store beside the
 * token cache ({@link EntraTokenProvider#signInRecordKey}); shown by the command and the health check.
 */
public record SignedInUser(String user, String tenant, Instant refreshTokenIssuedAt) {

    private static final ObjectMapper JSON = new ObjectMapper();

    public String toJson() {
        return JSON.createObjectNode().put("user", user).put("tenant", tenant)
                .put("refreshTokenIssuedAt", refreshTokenIssuedAt.toString()).toString();
    }

    /** The record, or null for none (or one this version cannot read). */
    public static SignedInUser parse(String json) {
        if (json == null || json.isBlank()) {
            return null;
        }
        try {
            JsonNode n = JSON.readTree(json);
            return new SignedInUser(n.path("user").asText(null), n.path("tenant").asText(null),
                    Instant.parse(n.path("refreshTokenIssuedAt").asText()));
        } catch (Exception e) {
            return null;
        }
    }
}
