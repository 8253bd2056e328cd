package dev.cosell.connector.auth;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import javax.net.ssl.SSLContext;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.microsoft.aad.msal4j.DeviceCode;
import com.microsoft.aad.msal4j.DeviceCodeFlowParameters;
import com.microsoft.aad.msal4j.IAccount;
import com.microsoft.aad.msal4j.IAuthenticationResult;
import com.microsoft.aad.msal4j.MsalException;
import com.microsoft.aad.msal4j.PublicClientApplication;
import com.microsoft.aad.msal4j.RefreshTokenParameters;

/**
 * The Partner Center user signs in once, by device code (the Microsoft identity platform's device
 * authorization grant, through msal4j's {@code PublicClientApplication}): the code and the verification
 * URL are shown, the user signs in in any browser (MFA and conditional access happen there), and msal4j
 * polls the token endpoint at the interval of the answer. The account and its refresh token land in
 * msal4j's cache, which is kept in the state store, sealed ({@link EntraTokenProvider#signInCacheKey}):
 * the running connector renews from it silently. Any other account of an earlier sign-in is removed.
 * <p>
 * msal4j 1.26 waits on {@code authorization_pending} only and gives up on {@code slow_down}; then the
 * same device code is polled on here, 5 s slower each time as RFC 8628 asks, and the refresh token it
 * yields is redeemed through msal4j, so the cache is msal4j's either way.
 */
public final class DeviceCodeSignIn {

    public enum Outcome { SIGNED_IN, DENIED, EXPIRED, FAILED }

    /** The outcome; the user for SIGNED_IN, else Entra's error code and message. */
    public record Result(Outcome outcome, SignedInUser user, String error, String message) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

    private final EntraTokenProvider.Settings settings;
    private final SSLContext sslContext;
    private final TokenCacheStore store;

    public DeviceCodeSignIn(EntraTokenProvider.Settings settings, SSLContext sslContext, TokenCacheStore store) {
        this.settings = settings;
        this.sslContext = sslContext;
        this.store = store;
    }

    /** Signs in for these scopes; {@code show} gets the code to show as soon as Entra answered it. */
    public Result signIn(Set<String> scopes, Consumer<DeviceCode> show) throws InterruptedException {
        PublicClientApplication app = EntraTokenProvider.userApplication(settings, sslContext, store);
        AtomicReference<DeviceCode> code = new AtomicReference<>();
        IAuthenticationResult result;
        try {
            result = app.acquireToken(DeviceCodeFlowParameters.builder(scopes, c -> {
                code.set(c);
                show.accept(c);
            }).build()).get();
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof MsalException m)) {
                return new Result(Outcome.FAILED, null, null, String.valueOf(e.getCause()));
            }
            if ("slow_down".equals(m.errorCode()) && code.get() != null) {
                return pollOn(app, scopes, code.get());
            }
            return failed(m.errorCode(), m.getMessage());
        }
        return signedIn(app, result);
    }

    /** After slow_down: the same code, polled 5 s slower each time it is said again. */
    private Result pollOn(PublicClientApplication app, Set<String> scopes, DeviceCode code) throws InterruptedException {
        long deadline = System.currentTimeMillis() + code.expiresIn() * 1000L; // at most: it was issued earlier
        long interval = code.interval() + 5;
        HttpClient http = (sslContext == null ? HttpClient.newBuilder() : HttpClient.newBuilder().sslContext(sslContext))
                .connectTimeout(Duration.ofSeconds(10)).build();
        String authority = settings.authority().endsWith("/") ? settings.authority() : settings.authority() + "/";
        String form = form(Map.of("grant_type", DEVICE_CODE_GRANT, "client_id", settings.clientId(),
                "device_code", code.deviceCode()));
        while (System.currentTimeMillis() < deadline) {
            Thread.sleep(interval * 1000L);
            JsonNode answer;
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(authority + "oauth2/v2.0/token"))
                        .timeout(Duration.ofSeconds(30)).header("Content-Type", "application/x-www-form-urlencoded")
                        .header("Accept", "application/json").POST(HttpRequest.BodyPublishers.ofString(form)).build(),
                        HttpResponse.BodyHandlers.ofString());
                answer = JSON.readTree(r.body());
            } catch (java.io.IOException e) {
                return new Result(Outcome.FAILED, null, null, "token endpoint unreachable: " + e.getMessage());
            }
            String error = answer.path("error").asText(null);
            if (error == null) {
                String refreshToken = answer.path("refresh_token").asText(null);
                if (refreshToken == null) {
                    return new Result(Outcome.FAILED, null, null, "no refresh token in the answer (scope offline_access?)");
                }
                try {
                    return signedIn(app, app.acquireToken(RefreshTokenParameters.builder(scopes, refreshToken).build()).get());
                } catch (ExecutionException e) {
                    return e.getCause() instanceof MsalException m ? failed(m.errorCode(), m.getMessage())
                            : new Result(Outcome.FAILED, null, null, String.valueOf(e.getCause()));
                }
            }
            switch (error) {
                case "authorization_pending" -> {
                    // the user has not finished: same interval
                }
                case "slow_down" -> interval += 5;
                default -> {
                    return failed(error, answer.path("error_description").asText(""));
                }
            }
        }
        return new Result(Outcome.EXPIRED, null, "code_expired", "the device code expired before the sign-in");
    }

    private static Result failed(String error, String message) {
        Outcome o = switch (error == null ? "" : error) {
            case "authorization_declined", "access_denied" -> Outcome.DENIED;
            case "expired_token", "code_expired" -> Outcome.EXPIRED;
            default -> Outcome.FAILED;
        };
        return new Result(o, null, error, firstLine(message));
    }

    /** Keeps the one account, records who it is and when the refresh token was issued. */
    private Result signedIn(PublicClientApplication app, IAuthenticationResult result) {
        IAccount account = result.account();
        for (IAccount other : app.getAccounts().join()) {
            if (account != null && !other.homeAccountId().equals(account.homeAccountId())) {
                app.removeAccount(other).join();
            }
        }
        // The id token of the answer (read, not verified: it came straight from Entra over TLS).
        JsonNode claims = idTokenClaims(result.idToken());
        String user = claims.path("preferred_username").asText(claims.path("upn").asText(
                account == null ? null : account.username()));
        String tenant = claims.path("tid").asText(null);
        // The refresh token came with this answer: its id token's issue time (else now).
        Instant issued = claims.path("iat").canConvertToLong() ? Instant.ofEpochSecond(claims.path("iat").asLong())
                : Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
        SignedInUser who = new SignedInUser(user, tenant, issued);
        if (store != null) {
            store.save(EntraTokenProvider.signInRecordKey(settings.clientId()), who.toJson());
        }
        return new Result(Outcome.SIGNED_IN, who, null, null);
    }

    private static JsonNode idTokenClaims(String idToken) {
        try {
            return JSON.readTree(java.util.Base64.getUrlDecoder().decode(idToken.split("\\.")[1]));
        } catch (Exception e) {
            return JSON.createObjectNode();
        }
    }

    private static String firstLine(String m) {
        if (m == null) {
            return "";
        }
        int cut = m.indexOf(" Trace ID");
        return (cut > 0 ? m.substring(0, cut) : m).trim();
    }

    private static String form(Map<String, String> fields) {
        StringBuilder b = new StringBuilder();
        fields.forEach((k, v) -> b.append(b.length() == 0 ? "" : "&").append(k).append('=')
                .append(URLEncoder.encode(v, StandardCharsets.UTF_8)));
        return b.toString();
    }
}
