package dev.cosell.connector.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cosell.connector.auth.EntraTokenProvider.Mode;
import dev.cosell.connector.sandbox.EntraIdEmulator;
import dev.cosell.connector.sandbox.SandboxPki;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** msal4j for real, over HTTPS, against the Entra ID emulator's token endpoint. */
class EntraTokenProviderTest {

    static final String TENANT = "11111111-aaaa-4bbb-8ccc-000000000001";
    static final String PC_SCOPE = "https://api.partner.microsoft.com/.default";
    static final String PC_USER_SCOPE = "https://api.partner.microsoft.com/user_impersonation";
    static Vertx vertx;
    static SandboxPki pki;
    static EntraIdEmulator entra;

    @BeforeAll
    static void start() {
        vertx = Vertx.vertx();
        pki = SandboxPki.generate();
        entra = (EntraIdEmulator) new EntraIdEmulator(vertx, pki).start(0);
        entra.registerApp(TENANT, "connector-app", "right-secret").registerResource("https://api.partner.microsoft.com");
    }

    @AfterAll
    static void stop() {
        entra.close();
        vertx.close();
    }

    @BeforeEach
    void reset() {
        entra.calls().reset();
        entra.setAccessTokenLifetimeSeconds(3599);
    }

    private EntraTokenProvider provider(String secret, String certPath, String refreshToken, TokenCacheStore store) {
        return new EntraTokenProvider(new EntraTokenProvider.Settings(entra.baseUrl() + "/" + TENANT + "/",
                "connector-app", secret, certPath, certPath == null ? null : "pw", true,
                entra.instanceMetadata().toString(), refreshToken), pki.clientSslContext(), store);
    }

    private long tokenCalls() {
        return entra.calls().count("POST /:tenant/oauth2/v2.0/token");
    }

    @Test
    void clientCredentialsTokenIsCachedUntilNearExpiry() {
        EntraTokenProvider p = provider("right-secret", null, null, null);
        String first = p.accessToken(PC_SCOPE, Mode.APPLICATION);
        for (int i = 0; i < 5; i++) {
            assertEquals(first, p.accessToken(PC_SCOPE, Mode.APPLICATION));
        }
        assertEquals(1, tokenCalls(), "one token request for six uses");
        JsonNode claims = claims(first);
        assertEquals("https://api.partner.microsoft.com", claims.get("aud").asText());
        assertEquals(TENANT, claims.get("tid").asText());
        assertEquals("app", claims.get("idtyp").asText());
    }

    @Test
    void tokenCloseToExpiryIsRenewed() {
        // msal4j renews tokens that expire within five minutes: a 2-minute token is renewed on every use
        entra.setAccessTokenLifetimeSeconds(120);
        EntraTokenProvider p = provider("right-secret", null, null, null);
        String first = p.accessToken(PC_SCOPE, Mode.APPLICATION);
        String second = p.accessToken(PC_SCOPE, Mode.APPLICATION);
        assertNotEquals(first, second);
        assertEquals(2, tokenCalls());
    }

    @Test
    void wrongSecretIsInvalidClientAndTheMessageHoldsNoSecret() {
        EntraTokenProvider p = provider("wrong-secret", null, null, null);
        EntraTokenProvider.TokenException e = assertThrows(EntraTokenProvider.TokenException.class,
                () -> p.accessToken(PC_SCOPE, Mode.APPLICATION));
        assertEquals("invalid_client", e.errorCode());
        assertEquals(401, e.status());
        assertTrue(e.getMessage().contains("AADSTS7000215"), e.getMessage());
        assertFalse(e.getMessage().contains("wrong-secret"));
        assertFalse(provider("right-secret", null, "rt-value", null).toString().contains("right-secret"));
    }

    @Test
    void unknownResourceIsInvalidResource() {
        EntraTokenProvider p = provider("right-secret", null, null, null);
        EntraTokenProvider.TokenException e = assertThrows(EntraTokenProvider.TokenException.class,
                () -> p.accessToken("https://unknown.example.com/.default", Mode.APPLICATION));
        assertEquals("invalid_resource", e.errorCode());
    }

    @Test
    void certificateCredentialSignsAClientAssertion(@TempDir Path dir) {
        Path pfx = dir.resolve("app.p12");
        entra.registerAppCertificate(TENANT, "connector-app", pki.writeClientCertificate(pfx, "connector-app", "pw"));
        EntraTokenProvider p = provider(null, pfx.toString(), null, null);
        assertNotNull(p.accessToken(PC_SCOPE, Mode.APPLICATION));
        assertEquals(1, tokenCalls());

        Path stranger = dir.resolve("other.p12");
        pki.writeClientCertificate(stranger, "someone-else", "pw");
        EntraTokenProvider.TokenException e = assertThrows(EntraTokenProvider.TokenException.class,
                () -> provider(null, stranger.toString(), null, null).accessToken(PC_SCOPE, Mode.APPLICATION));
        assertEquals("invalid_client", e.errorCode());
    }

    @Test
    void delegatedPathRedeemsTheRefreshTokenOnceThenRenewsSilentlyAndPersistsTheCache() {
        String rt = entra.issueRefreshToken(TENANT, "connector-app", "referrals.admin@contoso.example");
        Map<String, String> saved = new HashMap<>();
        TokenCacheStore store = new TokenCacheStore() {
            @Override
            public String load(String key) {
                return saved.get(key);
            }

            @Override
            public void save(String key, String serializedCache) {
                saved.put(key, serializedCache);
            }
        };
        EntraTokenProvider p = provider("right-secret", null, rt, store);
        String token = p.accessToken(PC_USER_SCOPE, Mode.DELEGATED);
        JsonNode claims = claims(token);
        assertEquals("referrals.admin@contoso.example", claims.get("upn").asText());
        assertEquals("user_impersonation", claims.get("scp").asText());
        assertEquals(token, p.accessToken(PC_USER_SCOPE, Mode.DELEGATED), "cached");
        assertEquals(1, tokenCalls());
        assertTrue(saved.containsKey("connector-app"), "the cache with the rotated refresh token is kept");

        // A restart with the configured refresh token revoked still signs in from the persisted cache.
        entra.setAccessTokenLifetimeSeconds(60);
        EntraTokenProvider restarted = provider("right-secret", null, "revoked-or-stale", store);
        assertNotNull(restarted.accessToken(PC_USER_SCOPE, Mode.DELEGATED));
    }

    @Test
    void aRefusalOnlyASignInFixesIsRememberedUntilTheStoredSignInChanges() {
        entra.setAccessTokenLifetimeSeconds(120); // under msal4j's 5-minute margin: renewed at each use
        String user = "revoked.admin@contoso.example";
        Map<String, String> saved = new HashMap<>();
        int[] loads = { 0 };
        TokenCacheStore store = new TokenCacheStore() {
            @Override
            public String load(String key) {
                loads[0]++;
                return saved.get(key);
            }

            @Override
            public void save(String key, String serializedCache) {
                saved.put(key, serializedCache);
            }
        };
        EntraTokenProvider p = provider("right-secret", null, entra.issueRefreshToken(TENANT, "connector-app", user), store);
        assertNotNull(p.accessToken(PC_USER_SCOPE, Mode.DELEGATED));
        entra.revokeRefreshTokens(user); // a password change
        EntraTokenProvider.TokenException refused = assertThrows(EntraTokenProvider.TokenException.class,
                () -> p.accessToken(PC_USER_SCOPE, Mode.DELEGATED));
        assertEquals("invalid_grant", refused.errorCode());
        assertTrue(refused.signInNeeded());
        assertTrue(EntraTokenProvider.TokenException.signInNeeded(new RuntimeException("wrapped", refused)));

        // Flows retrying meanwhile: one look at the stored sign-in each, no msal4j round (no cache
        // reload, no renewal attempt, no log line).
        int before = loads[0];
        for (int i = 0; i < 5; i++) {
            assertTrue(assertThrows(EntraTokenProvider.TokenException.class,
                    () -> p.accessToken(PC_USER_SCOPE, Mode.DELEGATED)).signInNeeded());
        }
        assertEquals(before + 5, loads[0]);
        // Someone signed in (the stored sign-in changed): asked again, through msal4j.
        store.save(EntraTokenProvider.signInCacheKey("connector-app"), "{}");
        before = loads[0];
        assertThrows(EntraTokenProvider.TokenException.class, () -> p.accessToken(PC_USER_SCOPE, Mode.DELEGATED));
        assertTrue(loads[0] > before + 1, (loads[0] - before) + " loads");
    }

    @Test
    void delegatedWithoutRefreshTokenSaysWhatToConfigure() {
        EntraTokenProvider p = provider("right-secret", null, null, null);
        EntraTokenProvider.TokenException e = assertThrows(EntraTokenProvider.TokenException.class,
                () -> p.accessToken(PC_USER_SCOPE, Mode.DELEGATED));
        assertTrue(e.getMessage().contains("auth.partnercenter.refresh-token"), e.getMessage());
    }

    private static JsonNode claims(String jwt) {
        try {
            return new ObjectMapper().readTree(Base64.getUrlDecoder().decode(jwt.split("\\.")[1]));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
