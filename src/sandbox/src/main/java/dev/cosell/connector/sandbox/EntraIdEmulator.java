package dev.cosell.connector.sandbox;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPublicKey;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import io.vertx.ext.web.RoutingContext;

/**
 * Emulates the Microsoft identity platform (Entra ID) v2.0 endpoints that msal4j uses:
 * {@code POST /{tenant}/oauth2/v2.0/token} (client credentials with a secret or a certificate
 * assertion, refresh token, device code), {@code POST /{tenant}/oauth2/v2.0/devicecode} (the device
 * authorization grant), the OpenID configuration, instance discovery and the signing keys.
 * Errors carry the AADSTS codes and the HTTP statuses Entra answers with.
 * <p>
 * Device codes: a code is pending until the admin API approves or denies it (what the user does in a
 * browser at the verification URI); until then a poll answers {@code authorization_pending}, a poll
 * sooner than the interval {@code slow_down} (the interval then grows by 5 s, RFC 8628 §3.5), a poll
 * after {@code expires_in} {@code expired_token}, a denied code {@code authorization_declined} (or
 * {@code access_denied} when the admin call asks for it), an unknown code {@code bad_verification_code}.
 * Public client requests (no secret, no assertion) are accepted only for an app that allows public
 * client flows ({@link #allowPublicClientFlows}), as in the app registration's Authentication page; a
 * refresh token is bound to the kind of client it was issued to.
 */
public final class EntraIdEmulator extends Emulator {

    /** An app registration in a tenant. */
    public static final class App {
        final String tenant;
        final String clientId;
        final Set<String> secrets = ConcurrentHashMap.newKeySet();
        final List<X509Certificate> certificates = new CopyOnWriteArrayList<>();
        /** "Allow public client flows" of the app registration (device code, public refresh). */
        volatile boolean publicClientFlows;

        App(String tenant, String clientId) {
            this.tenant = tenant;
            this.clientId = clientId;
        }
    }

    /**
     * A refresh token granted to a user through an app (the delegated, App+User path); a public one was
     * issued to a public client (device code) and is redeemed without a client credential.
     */
    record Grant(String tenant, String clientId, String userId, String upn, long expiresAt, boolean publicClient) {
    }

    /** A device code between the device authorization request and its redemption. */
    static final class DeviceCodeGrant {
        final String tenant;
        final String clientId;
        final String scope;
        final String userCode;
        final String deviceCode;
        volatile long expiresAtMs;
        volatile long intervalMs;
        volatile long lastPollMs;
        volatile boolean slowDownNext;
        /** pending, approved, denied, redeemed */
        volatile String state = "pending";
        volatile String denial;
        volatile String upn;

        DeviceCodeGrant(String tenant, String clientId, String scope, String userCode, String deviceCode,
                long expiresAtMs, long intervalMs) {
            this.tenant = tenant;
            this.clientId = clientId;
            this.scope = scope;
            this.userCode = userCode;
            this.deviceCode = deviceCode;
            this.expiresAtMs = expiresAtMs;
            this.intervalMs = intervalMs;
        }
    }

    private static final Set<String> RESERVED = Set.of("openid", "profile", "offline_access", "email");

    private final Map<String, App> apps = new ConcurrentHashMap<>();
    private final Map<String, Grant> refreshTokens = new ConcurrentHashMap<>();
    /** Device codes by user code (what the admin API names) and by device code (what the client polls with). */
    private final Map<String, DeviceCodeGrant> deviceCodesByUserCode = new ConcurrentHashMap<>();
    private final Map<String, DeviceCodeGrant> deviceCodes = new ConcurrentHashMap<>();
    /** Entra's defaults: 15 minutes to sign in, poll every 5 seconds. */
    private volatile int deviceCodeExpiresInSeconds = 900;
    private volatile int deviceCodeIntervalSeconds = 5;
    /** Resources (audiences) that exist in the sandbox tenant, e.g. https://api.partner.microsoft.com. */
    private final Set<String> resources = ConcurrentHashMap.newKeySet();
    private final AtomicLong tokensIssued = new AtomicLong();
    private volatile int accessTokenLifetimeSeconds = 3599;

    public EntraIdEmulator(Vertx vertx, SandboxPki pki) {
        super(vertx, pki);
    }

    @Override
    public String name() {
        return "entra";
    }

    // ---------------------------------------------------------------------------------------------
    // set-up used by the sandbox and tests

    public EntraIdEmulator registerApp(String tenant, String clientId, String secret) {
        App app = apps.computeIfAbsent(key(tenant, clientId), k -> new App(tenant, clientId));
        if (secret != null) {
            app.secrets.add(secret);
        }
        return this;
    }

    public EntraIdEmulator registerAppCertificate(String tenant, String clientId, X509Certificate certificate) {
        apps.computeIfAbsent(key(tenant, clientId), k -> new App(tenant, clientId)).certificates.add(certificate);
        return this;
    }

    /** Turns on "Allow public client flows" for the app (device code sign-in, public client refresh). */
    public EntraIdEmulator allowPublicClientFlows(String tenant, String clientId) {
        apps.computeIfAbsent(key(tenant, clientId), k -> new App(tenant, clientId)).publicClientFlows = true;
        return this;
    }

    /** Lifetime and polling interval of the device codes issued from now on (Entra: 900 s, 5 s). */
    public EntraIdEmulator setDeviceCodeTiming(int expiresInSeconds, int intervalSeconds) {
        this.deviceCodeExpiresInSeconds = expiresInSeconds;
        this.deviceCodeIntervalSeconds = intervalSeconds;
        return this;
    }

    public EntraIdEmulator registerResource(String resource) {
        resources.add(stripSlash(resource));
        return this;
    }

    /** Issues a refresh token for a user, as a one-time interactive sign-in would (valid 90 days). */
    public String issueRefreshToken(String tenant, String clientId, String upn) {
        return issueRefreshToken(tenant, clientId, upn, false);
    }

    private String issueRefreshToken(String tenant, String clientId, String upn, boolean publicClient) {
        String rt = "0.sandbox-rt." + UUID.randomUUID() + UUID.randomUUID();
        refreshTokens.put(rt, new Grant(tenant, clientId, userId(upn), upn,
                Instant.now().plusSeconds(90L * 24 * 3600).getEpochSecond(), publicClient));
        return rt;
    }

    private static String userId(String upn) {
        return UUID.nameUUIDFromBytes(upn.getBytes(StandardCharsets.UTF_8)).toString();
    }

    public void revokeRefreshTokens() {
        refreshTokens.clear();
    }

    /**
     * Revokes every refresh token of a user, as an admin's "revoke sessions" or a password change does;
     * returns how many there were. Access tokens already issued stay valid until they expire, as in Entra.
     */
    public int revokeRefreshTokens(String upn) {
        int before = refreshTokens.size();
        refreshTokens.values().removeIf(g -> g.upn().equalsIgnoreCase(upn));
        return before - refreshTokens.size();
    }

    /** The user codes of device codes not redeemed yet, oldest first. */
    public List<String> pendingUserCodes() {
        return deviceCodesByUserCode.values().stream().filter(d -> "pending".equals(d.state))
                .sorted(java.util.Comparator.comparingLong(d -> d.expiresAtMs)).map(d -> d.userCode).toList();
    }

    /** The user signs in at the verification URI with this code and consents: the next poll gets tokens. */
    public boolean approveDeviceCode(String userCode, String upn) {
        DeviceCodeGrant d = deviceCodesByUserCode.get(userCode);
        if (d == null || !"pending".equals(d.state)) {
            return false;
        }
        d.upn = upn;
        d.state = "approved";
        return true;
    }

    /** The user declines: the next poll answers {@code authorization_declined} (or {@code access_denied}). */
    public boolean denyDeviceCode(String userCode, String error) {
        DeviceCodeGrant d = deviceCodesByUserCode.get(userCode);
        if (d == null || !"pending".equals(d.state)) {
            return false;
        }
        d.denial = "access_denied".equals(error) ? "access_denied" : "authorization_declined";
        d.state = "denied";
        return true;
    }

    /** The code's time is up now (instead of after expires_in). */
    public boolean expireDeviceCode(String userCode) {
        DeviceCodeGrant d = deviceCodesByUserCode.get(userCode);
        if (d == null) {
            return false;
        }
        d.expiresAtMs = System.currentTimeMillis() - 1;
        return true;
    }

    /** The next poll with this code answers {@code slow_down}, however long the client waited. */
    public boolean slowDownDeviceCode(String userCode) {
        DeviceCodeGrant d = deviceCodesByUserCode.get(userCode);
        if (d == null) {
            return false;
        }
        d.slowDownNext = true;
        return true;
    }

    public void setAccessTokenLifetimeSeconds(int seconds) {
        this.accessTokenLifetimeSeconds = seconds;
    }

    public long tokensIssued() {
        return tokensIssued.get();
    }

    public PublicKey tokenSigningKey() {
        return pki.tokenSigningKeys().getPublic();
    }

    public String issuer(String tenant) {
        return baseUrl() + "/" + tenant + "/v2.0";
    }

    /** Checks an access token for an API: signature by this issuer, expiry, audience. Null when valid. */
    public String validate(String authorizationHeader, String audience, RoutingContext ctx) {
        if (authorizationHeader == null || !authorizationHeader.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return "missing bearer token";
        }
        SandboxJwt.Parsed jwt = SandboxJwt.parse(authorizationHeader.substring(7).trim());
        if (jwt == null || !"RS256".equals(jwt.alg()) || !jwt.verify(tokenSigningKey())) {
            return "invalid token signature";
        }
        if (jwt.expired(Instant.now().getEpochSecond())) {
            return "token expired";
        }
        if (!stripSlash(audience).equals(stripSlash(jwt.claims().path("aud").asText()))) {
            return "token audience " + jwt.claims().path("aud").asText() + " is not " + audience;
        }
        if (ctx != null) {
            ctx.put("claims", jwt.claims());
        }
        return null;
    }

    // ---------------------------------------------------------------------------------------------
    // endpoints

    @Override
    protected void routes() {
        api(HttpMethod.POST, "/:tenant/oauth2/v2.0/token", false, this::token);
        api(HttpMethod.POST, "/:tenant/oauth2/v2.0/devicecode", false, this::deviceAuthorization);
        // Where a user signs in with the code: a page that takes the code and a user name and approves it
        // (the sandbox's stand-in for Microsoft's sign-in and MFA); tests use the admin API instead.
        router.get("/devicelogin").handler(ctx -> ctx.response().putHeader("Content-Type", "text/html; charset=utf-8")
                .end("<!doctype html><title>Sandbox sign-in</title><h1>Sandbox: sign in with a device code</h1>"
                        + "<form method=post><label>Code <input name=user_code autofocus></label> "
                        + "<label>User <input name=upn value='referrals.admin@contoso-sandbox.example'></label> "
                        + "<button>Sign in</button></form><p>Tests approve with POST " + ADMIN
                        + "/device-codes/{user_code}/approve.</p>"));
        router.post("/devicelogin").handler(ctx -> {
            String code = String.valueOf(ctx.request().getFormAttribute("user_code")).trim();
            String upn = ctx.request().getFormAttribute("upn");
            boolean ok = approveDeviceCode(code, upn == null || upn.isBlank() ? "referrals.admin@contoso-sandbox.example" : upn.trim());
            ctx.response().setStatusCode(ok ? 200 : 400).putHeader("Content-Type", "text/html; charset=utf-8")
                    .end(ok ? "<!doctype html><p>Signed in. You can close this page and go back to the command.</p>"
                            : "<!doctype html><p>Unknown or expired code. <a href=/devicelogin>Try again</a>.</p>");
        });
        api(HttpMethod.GET, "/:tenant/v2.0/.well-known/openid-configuration", false, this::openIdConfiguration);
        api(HttpMethod.GET, "/common/discovery/instance", false, this::instanceDiscovery);
        api(HttpMethod.GET, "/:tenant/discovery/v2.0/keys", false, this::keys);
        router.post(ADMIN + "/refresh-tokens").handler(ctx -> {
            ObjectNode body = jsonBody(ctx);
            if (body == null) {
                json(ctx, 400, JSON.createObjectNode().put("error", "expected {tenant, clientId, upn}"));
                return;
            }
            String rt = issueRefreshToken(body.path("tenant").asText(), body.path("clientId").asText(),
                    body.path("upn").asText("referrals.admin@sandbox.example"));
            json(ctx, 201, JSON.createObjectNode().put("refresh_token", rt));
        });
        // Revoke a user's refresh tokens ({"upn": ...}; without one, everybody's): "revoke sessions".
        router.post(ADMIN + "/refresh-tokens/revoke").handler(ctx -> {
            ObjectNode body = jsonBody(ctx);
            String upn = body == null ? null : body.path("upn").asText(null);
            int revoked;
            if (upn == null) {
                revoked = refreshTokens.size();
                revokeRefreshTokens();
            } else {
                revoked = revokeRefreshTokens(upn);
            }
            json(ctx, 200, JSON.createObjectNode().put("revoked", revoked));
        });
        // What the user does in the browser with a device code: approve ({"upn": ...}) or deny
        // ({"error": "access_denied"}, else authorization_declined); and test aids: expire, slow-down.
        router.get(ADMIN + "/device-codes").handler(ctx -> {
            ArrayNode list = JSON.createArrayNode();
            deviceCodesByUserCode.values().forEach(d -> list.addObject().put("user_code", d.userCode)
                    .put("tenant", d.tenant).put("client_id", d.clientId).put("scope", d.scope).put("state", d.state)
                    .put("expires_at", Instant.ofEpochMilli(d.expiresAtMs).toString()));
            json(ctx, 200, list);
        });
        router.post(ADMIN + "/device-codes/:userCode/:action").handler(ctx -> {
            String userCode = ctx.pathParam("userCode");
            ObjectNode body = jsonBody(ctx);
            boolean done = switch (ctx.pathParam("action")) {
                case "approve" -> approveDeviceCode(userCode,
                        body == null ? "referrals.admin@sandbox.example" : body.path("upn").asText("referrals.admin@sandbox.example"));
                case "deny" -> denyDeviceCode(userCode, body == null ? null : body.path("error").asText(null));
                case "expire" -> expireDeviceCode(userCode);
                case "slow-down" -> slowDownDeviceCode(userCode);
                default -> {
                    ctx.put("unknownAction", true);
                    yield false;
                }
            };
            if (Boolean.TRUE.equals(ctx.get("unknownAction"))) {
                json(ctx, 404, JSON.createObjectNode().put("error", "actions: approve, deny, expire, slow-down"));
            } else if (!done) {
                json(ctx, 409, JSON.createObjectNode().put("error", "no pending device code " + userCode));
            } else {
                ctx.response().setStatusCode(204).end();
            }
        });
        router.get(ADMIN + "/stats").handler(ctx -> json(ctx, 200,
                JSON.createObjectNode().put("tokensIssued", tokensIssued.get()).put("apps", apps.size())));
    }

    private void token(RoutingContext ctx) {
        String tenant = ctx.pathParam("tenant");
        String contentType = ctx.request().getHeader("Content-Type");
        if (contentType == null || !contentType.startsWith("application/x-www-form-urlencoded")) {
            error(ctx, 400, "invalid_request", 900144,
                    "The request body must contain the following parameter: 'grant_type'.");
            return;
        }
        MultiMap form = ctx.request().formAttributes();
        String grantType = form.get("grant_type");
        if (grantType == null) {
            error(ctx, 400, "invalid_request", 900144,
                    "The request body must contain the following parameter: 'grant_type'.");
            return;
        }
        if (apps.keySet().stream().noneMatch(k -> k.startsWith(tenant + "|"))) {
            error(ctx, 400, "invalid_request", 90002, "Tenant '" + tenant + "' not found.");
            return;
        }
        String clientId = form.get("client_id");
        String secret = form.get("client_secret");
        String basic = ctx.request().getHeader("Authorization");
        if (basic != null && basic.startsWith("Basic ")) {
            String[] pair = new String(Base64.getDecoder().decode(basic.substring(6)), StandardCharsets.UTF_8)
                    .split(":", 2);
            clientId = pair[0];
            secret = pair.length > 1 ? pair[1] : null;
        }
        App app = registeredApp(ctx, tenant, clientId);
        if (app == null) {
            return;
        }
        // A public client (device code, or refreshing what it got that way) presents no credential.
        boolean publicClient = secret == null && form.get("client_assertion") == null
                && app.publicClientFlows && !"client_credentials".equals(grantType);
        if (!publicClient) {
            String authProblem = authenticateClient(ctx, app, secret, form);
            if (authProblem != null) {
                return;
            }
        }
        switch (grantType) {
            case "client_credentials" -> clientCredentials(ctx, app, form.get("scope"));
            case "refresh_token" -> refreshToken(ctx, app, form.get("refresh_token"), form.get("scope"), publicClient);
            // The documented value, and the short one msal4j sends (Entra takes both).
            case "urn:ietf:params:oauth:grant-type:device_code", "device_code" ->
                deviceCodeToken(ctx, app, form.get("device_code"), publicClient);
            default -> error(ctx, 400, "unsupported_grant_type", 70003,
                    "The app requested an unsupported grant type '" + grantType + "'.");
        }
    }

    /** The app the request names, or null once Entra's answer for a missing or unknown client id is sent. */
    private App registeredApp(RoutingContext ctx, String tenant, String clientId) {
        if (clientId == null) {
            error(ctx, 400, "invalid_request", 900144,
                    "The request body must contain the following parameter: 'client_id'.");
            return null;
        }
        App app = apps.get(key(tenant, clientId));
        if (app == null) {
            error(ctx, 400, "unauthorized_client", 700016, "Application with identifier '" + clientId
                    + "' was not found in the directory '" + tenant + "'.");
        }
        return app;
    }

    /** POST /{tenant}/oauth2/v2.0/devicecode: client_id and scope; answers the codes to show and poll with. */
    private void deviceAuthorization(RoutingContext ctx) {
        String tenant = ctx.pathParam("tenant");
        String contentType = ctx.request().getHeader("Content-Type");
        MultiMap form = contentType != null && contentType.startsWith("application/x-www-form-urlencoded")
                ? ctx.request().formAttributes() : MultiMap.caseInsensitiveMultiMap();
        if (apps.keySet().stream().noneMatch(k -> k.startsWith(tenant + "|"))) {
            error(ctx, 400, "invalid_request", 90002, "Tenant '" + tenant + "' not found.");
            return;
        }
        String clientId = form.get("client_id");
        App app = registeredApp(ctx, tenant, clientId);
        if (app == null) {
            return;
        }
        String scope = form.get("scope");
        if (scope == null || scope.isBlank()) {
            error(ctx, 400, "invalid_request", 900144,
                    "The request body must contain the following parameter: 'scope'.");
            return;
        }
        String userCode = newUserCode();
        String deviceCode = "DAQABAAEAAAD-sandbox-" + UUID.randomUUID() + UUID.randomUUID();
        int expiresIn = deviceCodeExpiresInSeconds;
        int interval = deviceCodeIntervalSeconds;
        DeviceCodeGrant d = new DeviceCodeGrant(tenant, clientId, scope, userCode, deviceCode,
                System.currentTimeMillis() + expiresIn * 1000L, interval * 1000L);
        deviceCodes.put(deviceCode, d);
        deviceCodesByUserCode.put(userCode, d);
        String verification = baseUrl() + "/devicelogin";
        json(ctx, 200, JSON.createObjectNode().put("user_code", userCode).put("device_code", deviceCode)
                .put("verification_uri", verification).put("expires_in", expiresIn).put("interval", interval)
                .put("message", "To sign in, use a web browser to open the page " + verification + " and enter the code "
                        + userCode + " to authenticate."), noStore());
    }

    private static final String USER_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

    private String newUserCode() {
        while (true) {
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < 9; i++) {
                b.append(USER_CODE_LETTERS.charAt(RANDOM.nextInt(USER_CODE_LETTERS.length())));
            }
            if (!deviceCodesByUserCode.containsKey(b.toString())) {
                return b.toString();
            }
        }
    }

    /** The client polls with its device code: the answers of the identity platform's device code page. */
    private void deviceCodeToken(RoutingContext ctx, App app, String deviceCode, boolean publicClient) {
        DeviceCodeGrant d = deviceCode == null ? null : deviceCodes.get(deviceCode);
        if (d == null || !d.clientId.equals(app.clientId) || !d.tenant.equals(app.tenant)) {
            error(ctx, 400, "bad_verification_code", 70019, "The provided value for the input parameter 'device_code'"
                    + " is not valid.");
            return;
        }
        synchronized (d) {
            long now = System.currentTimeMillis();
            long last = d.lastPollMs;
            d.lastPollMs = now;
            if ("redeemed".equals(d.state)) {
                error(ctx, 400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry"
                        + " with a new valid code or use an existing refresh token.");
                return;
            }
            if (now >= d.expiresAtMs) {
                error(ctx, 400, "expired_token", 70020, "The provided value for the input parameter 'device_code' is"
                        + " not valid. This device code has expired.");
                return;
            }
            if ("denied".equals(d.state)) {
                error(ctx, 400, d.denial, 70000, "The user declined the sign-in request.");
                return;
            }
            if (d.slowDownNext || (last > 0 && now - last < d.intervalMs)) {
                // Polled too often: wait 5 s longer from now on (RFC 8628 §3.5).
                d.slowDownNext = false;
                d.intervalMs += 5000;
                error(ctx, 400, "slow_down", 70016, "The client is polling too frequently; increase the interval by 5"
                        + " seconds.");
                return;
            }
            if ("pending".equals(d.state)) {
                error(ctx, 400, "authorization_pending", 70016, "The provided request has not yet been authorized by"
                        + " the user. The user must input their code.");
                return;
            }
            d.state = "redeemed";
        }
        String resource = resourceOf(d.scope);
        if (resource == null || !resources.contains(stripSlash(resource))) {
            error(ctx, 400, "invalid_resource", 500011, "The resource principal named " + resource
                    + " was not found in the tenant named " + app.tenant + ".");
            return;
        }
        userTokens(ctx, app, d.upn, resource, d.scope.contains("offline_access"), publicClient);
    }

    /** Writes the error and returns a non-null reason when the client fails to authenticate. */
    private String authenticateClient(RoutingContext ctx, App app, String secret, MultiMap form) {
        String assertion = form.get("client_assertion");
        if (assertion != null) {
            if (!"urn:ietf:params:oauth:client-assertion-type:jwt-bearer".equals(form.get("client_assertion_type"))) {
                error(ctx, 400, "invalid_request", 50027, "Invalid client_assertion_type.");
                return "assertion type";
            }
            String problem = checkAssertion(app, assertion, ctx);
            if (problem != null) {
                error(ctx, 401, "invalid_client", 700027, "Client assertion failed signature validation. " + problem);
                return problem;
            }
            return null;
        }
        if (secret == null) {
            error(ctx, 401, "invalid_client", 7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
            return "no credential";
        }
        if (!app.secrets.contains(secret)) {
            error(ctx, 401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent"
                    + " in the request is the client secret value, not the client secret ID, for a secret added to app '"
                    + app.clientId + "'.");
            return "bad secret";
        }
        return null;
    }

    private String checkAssertion(App app, String assertion, RoutingContext ctx) {
        SandboxJwt.Parsed jwt = SandboxJwt.parse(assertion);
        if (jwt == null) {
            return "The assertion is not a JWT.";
        }
        X509Certificate cert = null;
        for (X509Certificate c : app.certificates) {
            // compare bytes: msal4j writes x5t#S256 in standard base64, the JWS spec says base64url
            if (sameDigest(c, "SHA-1", jwt.header().path("x5t").asText())
                    || sameDigest(c, "SHA-256", jwt.header().path("x5t#S256").asText())) {
                cert = c;
            }
        }
        if (cert == null) {
            return "No certificate with this thumbprint is registered for the app.";
        }
        if (!jwt.verify(cert.getPublicKey())) {
            return "Signature does not verify.";
        }
        long now = Instant.now().getEpochSecond();
        if (jwt.expired(now)) {
            return "The assertion has expired.";
        }
        String expectedAudience = baseUrl() + "/" + app.tenant + "/oauth2/v2.0/token";
        String aud = jwt.claims().path("aud").asText();
        if (!stripSlash(aud).equals(stripSlash(expectedAudience)) && !aud.startsWith(baseUrl() + "/" + app.tenant)) {
            return "The audience '" + aud + "' is not the token endpoint.";
        }
        if (!app.clientId.equals(jwt.claims().path("iss").asText())
                || !app.clientId.equals(jwt.claims().path("sub").asText())) {
            return "iss and sub must be the client id.";
        }
        return null;
    }

    private void clientCredentials(RoutingContext ctx, App app, String scope) {
        if (scope == null || scope.isBlank()) {
            error(ctx, 400, "invalid_request", 900144,
                    "The request body must contain the following parameter: 'scope'.");
            return;
        }
        // msal4j always adds the reserved OpenID scopes; Entra ignores them for client credentials
        String[] scopes = java.util.Arrays.stream(scope.trim().split("\\s+")).filter(x -> !RESERVED.contains(x))
                .toArray(String[]::new);
        if (scopes.length != 1 || !scopes[0].endsWith("/.default")) {
            error(ctx, 400, "invalid_scope", 1002012, "The provided value for scope " + scope + " is not valid."
                    + " Client credential flows must have a scope value with /.default suffixed to the resource"
                    + " identifier (application ID URI).");
            return;
        }
        String resource = scopes[0].substring(0, scopes[0].length() - "/.default".length());
        if (!resources.contains(stripSlash(resource))) {
            error(ctx, 400, "invalid_resource", 500011, "The resource principal named " + resource
                    + " was not found in the tenant named " + app.tenant + ".");
            return;
        }
        ObjectNode claims = baseClaims(app, resource);
        claims.put("idtyp", "app").put("oid", UUID.nameUUIDFromBytes(app.clientId.getBytes(StandardCharsets.UTF_8))
                .toString());
        claims.putArray("roles").add("Referrals.ReadWrite.All");
        ObjectNode body = JSON.createObjectNode().put("token_type", "Bearer")
                .put("expires_in", accessTokenLifetimeSeconds).put("ext_expires_in", accessTokenLifetimeSeconds)
                .put("access_token", SandboxJwt.sign(header(), claims, pki.tokenSigningKeys().getPrivate()));
        tokensIssued.incrementAndGet();
        json(ctx, 200, body, noStore());
    }

    private void refreshToken(RoutingContext ctx, App app, String refreshToken, String scope, boolean publicClient) {
        Grant grant = refreshToken == null ? null : refreshTokens.get(refreshToken);
        if (grant == null || !grant.clientId().equals(app.clientId) || !grant.tenant().equals(app.tenant)) {
            error(ctx, 400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.");
            return;
        }
        if (grant.expiresAt() <= Instant.now().getEpochSecond()) {
            error(ctx, 400, "invalid_grant", 700082, "The refresh token has expired due to inactivity.");
            return;
        }
        // A refresh token stays with the kind of client it was issued to.
        if (grant.publicClient() && !publicClient) {
            error(ctx, 401, "invalid_client", 700025, "Client is public so neither 'client_assertion' nor"
                    + " 'client_secret' should be presented.");
            return;
        }
        if (!grant.publicClient() && publicClient) {
            error(ctx, 401, "invalid_client", 7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
            return;
        }
        String resource = resourceOf(scope);
        if (resource == null || !resources.contains(stripSlash(resource))) {
            error(ctx, 400, "invalid_resource", 500011, "The resource principal named " + resource
                    + " was not found in the tenant named " + app.tenant + ".");
            return;
        }
        // Entra rotates refresh tokens: the new one is returned, the old one keeps working until it expires.
        userTokens(ctx, app, grant.upn(), resource, true, grant.publicClient());
    }

    /** The resource of the first scope naming one (".../.default" or ".../permission"), or null. */
    private static String resourceOf(String scope) {
        String resource = null;
        if (scope != null) {
            for (String s : scope.trim().split("\\s+")) {
                if (s.contains("/")) {
                    resource = s.endsWith("/.default") ? s.substring(0, s.length() - 9) : s.substring(0, s.lastIndexOf('/'));
                }
            }
        }
        return resource;
    }

    /** A user's token answer: access token for the resource, id token, client_info, and a new refresh token. */
    private void userTokens(RoutingContext ctx, App app, String upn, String resource, boolean refreshToken,
            boolean publicClient) {
        String userId = userId(upn);
        ObjectNode claims = baseClaims(app, resource);
        claims.put("oid", userId).put("upn", upn).put("scp", "user_impersonation");
        long now = Instant.now().getEpochSecond();
        ObjectNode idClaims = JSON.createObjectNode().put("aud", app.clientId).put("iss", issuer(app.tenant))
                .put("tid", app.tenant).put("oid", userId).put("preferred_username", upn)
                .put("name", upn).put("iat", now).put("exp", now + 3600).put("ver", "2.0");
        String clientInfo = Base64.getUrlEncoder().withoutPadding().encodeToString(JSON.createObjectNode()
                .put("uid", userId).put("utid", app.tenant).toString().getBytes(StandardCharsets.UTF_8));
        ObjectNode body = JSON.createObjectNode().put("token_type", "Bearer")
                .put("scope", resource + "/user_impersonation")
                .put("expires_in", accessTokenLifetimeSeconds).put("ext_expires_in", accessTokenLifetimeSeconds)
                .put("access_token", SandboxJwt.sign(header(), claims, pki.tokenSigningKeys().getPrivate()));
        if (refreshToken) {
            body.put("refresh_token", issueRefreshToken(app.tenant, app.clientId, upn, publicClient));
        }
        body.put("id_token", SandboxJwt.unsigned(idClaims)).put("client_info", clientInfo);
        tokensIssued.incrementAndGet();
        json(ctx, 200, body, noStore());
    }

    private ObjectNode baseClaims(App app, String resource) {
        long now = Instant.now().getEpochSecond();
        return JSON.createObjectNode().put("aud", resource).put("iss", issuer(app.tenant)).put("iat", now)
                .put("nbf", now).put("exp", now + accessTokenLifetimeSeconds).put("tid", app.tenant)
                .put("appid", app.clientId).put("azp", app.clientId).put("ver", "2.0")
                .put("uti", UUID.randomUUID().toString());
    }

    private ObjectNode header() {
        return JSON.createObjectNode().put("kid", kid());
    }

    private void openIdConfiguration(RoutingContext ctx) {
        String tenant = ctx.pathParam("tenant");
        String base = baseUrl() + "/" + tenant;
        ObjectNode doc = JSON.createObjectNode()
                .put("token_endpoint", base + "/oauth2/v2.0/token")
                .put("authorization_endpoint", base + "/oauth2/v2.0/authorize")
                .put("device_authorization_endpoint", base + "/oauth2/v2.0/devicecode")
                .put("jwks_uri", base + "/discovery/v2.0/keys")
                .put("issuer", base + "/v2.0")
                .put("tenant_region_scope", "EU")
                .put("cloud_instance_name", "sandbox");
        doc.putArray("token_endpoint_auth_methods_supported").add("client_secret_post").add("private_key_jwt")
                .add("client_secret_basic");
        doc.putArray("response_types_supported").add("code").add("id_token").add("code id_token");
        doc.putArray("scopes_supported").add("openid").add("profile").add("email").add("offline_access");
        doc.putArray("id_token_signing_alg_values_supported").add("RS256");
        json(ctx, 200, doc);
    }

    private void instanceDiscovery(RoutingContext ctx) {
        json(ctx, 200, instanceMetadata());
    }

    /**
     * The instance discovery document. Aliases name the host with and without the port. msal4j stores
     * cached tokens under {@code preferred_cache} and, when it renews a cached account silently, sends
     * the request to that name: so it is host:port here (Entra's names carry no port), or a silent
     * renewal would go to port 443. {@code preferred_network} is a bare host, msal4j keeps the port.
     */
    public ObjectNode instanceMetadata() {
        ObjectNode doc = JSON.createObjectNode().put("tenant_discovery_endpoint",
                baseUrl() + "/common/v2.0/.well-known/openid-configuration").put("api-version", "1.1");
        ObjectNode entry = doc.putArray("metadata").addObject().put("preferred_network", "127.0.0.1")
                .put("preferred_cache", "127.0.0.1:" + port());
        entry.putArray("aliases").add("127.0.0.1:" + port()).add("127.0.0.1");
        return doc;
    }

    private void keys(RoutingContext ctx) {
        RSAPublicKey key = (RSAPublicKey) tokenSigningKey();
        ObjectNode doc = JSON.createObjectNode();
        ArrayNode keys = doc.putArray("keys");
        keys.addObject().put("kty", "RSA").put("use", "sig").put("kid", kid())
                .put("n", SandboxJwt.base64Url(unsigned(key.getModulus().toByteArray())))
                .put("e", SandboxJwt.base64Url(key.getPublicExponent().toByteArray()));
        json(ctx, 200, doc);
    }

    private void error(RoutingContext ctx, int status, String error, int aadsts, String description) {
        String traceId = UUID.randomUUID().toString();
        String correlationId = UUID.randomUUID().toString();
        String now = Instant.now().toString();
        ObjectNode body = JSON.createObjectNode().put("error", error)
                .put("error_description", "AADSTS" + aadsts + ": " + description + " Trace ID: " + traceId
                        + " Correlation ID: " + correlationId + " Timestamp: " + now);
        body.putArray("error_codes").add(aadsts);
        body.put("timestamp", now).put("trace_id", traceId).put("correlation_id", correlationId)
                .put("error_uri", baseUrl() + "/error?code=" + aadsts);
        json(ctx, status, body, noStore());
    }

    @Override
    protected void faultResponse(RoutingContext ctx, Faults.Fault fault) {
        var response = ctx.response().setStatusCode(fault.status());
        if (fault.retryAfterSeconds() > 0) {
            response.putHeader("Retry-After", String.valueOf(fault.retryAfterSeconds()));
        }
        error(ctx, fault.status(), fault.status() == 429 ? "temporarily_unavailable" : "server_error",
                fault.status() == 429 ? 50196 : 90033, "The server is temporarily unavailable (injected fault).");
    }

    private static Map<String, String> noStore() {
        return Map.of("Cache-Control", "no-store, no-cache", "Pragma", "no-cache");
    }

    private String kid() {
        return thumbprint(pki.caCertificate(), "SHA-1");
    }

    private static boolean sameDigest(X509Certificate cert, String algorithm, String encoded) {
        if (encoded == null || encoded.isEmpty()) {
            return false;
        }
        try {
            byte[] claimed = Base64.getUrlDecoder().decode(encoded.replace('+', '-').replace('/', '_').replace("=", ""));
            return MessageDigest.isEqual(claimed, MessageDigest.getInstance(algorithm).digest(cert.getEncoded()));
        } catch (Exception e) {
            return false;
        }
    }

    static String thumbprint(X509Certificate cert, String algorithm) {
        try {
            return SandboxJwt.base64Url(MessageDigest.getInstance(algorithm).digest(cert.getEncoded()));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] unsigned(byte[] twosComplement) {
        if (twosComplement.length > 1 && twosComplement[0] == 0) {
            byte[] out = new byte[twosComplement.length - 1];
            System.arraycopy(twosComplement, 1, out, 0, out.length);
            return out;
        }
        return twosComplement;
    }

    private static String key(String tenant, String clientId) {
        return tenant + "|" + clientId;
    }

    private static String stripSlash(String s) {
        return s != null && s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
    }
}
