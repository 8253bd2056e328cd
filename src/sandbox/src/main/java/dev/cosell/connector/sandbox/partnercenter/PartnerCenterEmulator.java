package dev.cosell.connector.sandbox.partnercenter;

import java.security.cert.CertificateEncodingException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.Emulator;
import dev.cosell.connector.sandbox.EntraIdEmulator;
import dev.cosell.connector.sandbox.Faults;
import dev.cosell.connector.sandbox.SandboxPki;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.ext.web.RoutingContext;

/**
 * Emulates Partner Center for the connector: the Referrals API
 * ({@code https://api.partner.microsoft.com/v1.0/engagements/referrals}) and the Webhooks API
 * ({@code https://api.partnercenter.microsoft.com/webhooks/v1/registration}), both on this one
 * loopback server, plus the signing certificate webhook receivers download
 * ({@value #CERTIFICATE_PATH}, standing in for Microsoft's blob storage host).
 * <p>
 * Tokens must be issued by the Entra emulator for the resource {@code https://api.partner.microsoft.com};
 * listing referrals needs an App+User (delegated) token, as documented. Each partner tenant (the
 * token's {@code tid}) has its own referrals and webhook registration. Referral writes through the
 * API or through the admin API (as Microsoft) publish {@code referral-created} / {@code referral-updated}
 * to the tenant's registration, signed.
 */
public final class PartnerCenterEmulator extends Emulator {

    /** Audience of the Referrals API (api.partner.microsoft.com). */
    public static final String RESOURCE = "https://api.partner.microsoft.com";
    /** Audience of the Webhooks API: the webhooks page asks for a token for api.partnercenter.microsoft.com. */
    public static final String WEBHOOKS_RESOURCE = "https://api.partnercenter.microsoft.com";
    public static final String CERTIFICATE_PATH = "/certificates/partner-center-webhooks.cer";
    static final String IMPOSTOR_CERTIFICATE_PATH = "/certificates/impostor.cer";
    static final String TARPIT_PATH = "/certificates/slow";
    private final java.util.concurrent.atomic.AtomicInteger tarpitRequests = new java.util.concurrent.atomic.AtomicInteger();
    static final String REFERRALS = "/v1.0/engagements/referrals";
    static final String WEBHOOKS = "/webhooks/v1/registration";
    static final List<String> EVENTS = List.of("test-created", "referral-created", "referral-updated",
            "related-referral-created", "related-referral-updated", "subscription-updated", "usagerecords-thresholdExceeded",
            "azure-billing-updated");

    private final EntraIdEmulator entra;
    private final ReferralBook referrals;
    private final WebhookDispatcher webhooks;
    private final Map<String, List<Long>> validationCalls = new ConcurrentHashMap<>();
    private volatile String resourceUriBase = "https://api.partnercenter.microsoft.com";
    private volatile boolean requireUserForList = true;

    public PartnerCenterEmulator(Vertx vertx, SandboxPki pki, EntraIdEmulator entra) {
        super(vertx, pki);
        this.entra = entra;
        this.referrals = new ReferralBook(RESOURCE);
        this.webhooks = new WebhookDispatcher(pki.signingKey(), pki.clientSslContext());
    }

    @Override
    public String name() {
        return "partnercenter";
    }

    @Override
    public PartnerCenterEmulator start(int port) {
        super.start(port);
        webhooks.setCertificateUrl(baseUrl() + CERTIFICATE_PATH);
        return this;
    }

    public ReferralBook referrals() {
        return referrals;
    }

    public WebhookDispatcher webhooks() {
        return webhooks;
    }

    /** Host part of event ResourceUris (Partner Center writes {@code https://api.partnercenter.microsoft.com}). */
    public void setResourceUriBase(String base) {
        this.resourceUriBase = base;
    }

    public String certificateUrl() {
        return baseUrl() + CERTIFICATE_PATH;
    }

    /** A certificate URL on the emulator's own (allowed) host that never answers; {@link #tarpitRequests} counts its downloads. */
    public String tarpitCertificateUrl(String name) {
        return baseUrl() + TARPIT_PATH + "/" + name + ".cer";
    }

    public int tarpitRequests() {
        return tarpitRequests.get();
    }

    /**
     * Signs events with the sandbox's impostor certificate (its subject names the organisation, its issuer
     * does not), or again with the genuine one: the documented issuer check must refuse the first.
     */
    public void signAsImpostor(boolean impostor) {
        webhooks.signWith(impostor ? pki.impostorSigningKey() : pki.signingKey(),
                baseUrl() + (impostor ? IMPOSTOR_CERTIFICATE_PATH : CERTIFICATE_PATH));
    }

    // ------------------------------------------------------------------------------ Microsoft's side

    /** Creates a referral as Microsoft does for a partner (a co-sell invitation) and fires referral-created. */
    public ObjectNode createAsMicrosoft(String tenant, ObjectNode referral) {
        ObjectNode body = referral.deepCopy();
        if (!body.has("inviteContext")) {
            body.putObject("inviteContext").put("notes", "Co-sell opportunity from Microsoft")
                    .putObject("invitedBy").put("organizationId", "msft").put("organizationName", "Microsoft");
        }
        ObjectNode created = referrals.create(tenant, body, partnerOrganization(tenant), "Contoso Partner (sandbox)", "Incoming");
        publish(tenant, "referral-created", created);
        return created;
    }

    /**
     * Creates a referral the published contract does not describe (say, an enum value Microsoft added
     * later) and fires referral-created: how a connector copes with a service newer than its contract.
     * Its answers are not counted as the emulator's contract violations.
     */
    public ObjectNode createBeyondContract(String tenant, ObjectNode referral) {
        ObjectNode created = referrals.loadBeyondContract(tenant, referral, partnerOrganization(tenant));
        publish(tenant, "referral-created", created);
        return created;
    }

    /** Changes a referral as Microsoft would (merge patch) and fires referral-updated. */
    public ObjectNode updateAsMicrosoft(String tenant, String id, ObjectNode patch) {
        ObjectNode updated = referrals.merge(tenant, id, patch);
        publish(tenant, "referral-updated", updated);
        return updated;
    }

    private void publish(String tenant, String event, ObjectNode referral) {
        webhooks.publish(tenant, event, "referral", resourceUriBase + "/engagements/v1/referrals/"
                + referral.path("id").asText(), UUID.randomUUID().toString());
    }

    private static String partnerOrganization(String tenant) {
        return UUID.nameUUIDFromBytes(("org:" + tenant).getBytes()).toString();
    }

    // ------------------------------------------------------------------------------ routes

    @Override
    protected void routes() {
        router.get(CERTIFICATE_PATH).handler(ctx -> certificate(ctx, pki.signingCertificate(), pki.issuingCertificate()));
        router.get(IMPOSTOR_CERTIFICATE_PATH).handler(ctx -> certificate(ctx, pki.impostorSigningCertificate()));
        // A tarpit on the certificate host: answers nothing for a minute (what an attacker's URL on an
        // allowed host would do to a receiver that downloads on the request thread).
        router.get(TARPIT_PATH + "/:name").handler(ctx -> {
            tarpitRequests.incrementAndGet();
            vertx.setTimer(60_000, t -> {
                if (!ctx.response().ended() && !ctx.response().closed()) {
                    ctx.response().setStatusCode(404).end();
                }
            });
        });
        api(HttpMethod.GET, REFERRALS, this::list);
        api(HttpMethod.POST, REFERRALS, this::create);
        api(HttpMethod.GET, REFERRALS + "/:id", this::get);
        api(HttpMethod.PUT, REFERRALS + "/:id", this::replace);
        api(HttpMethod.PATCH, REFERRALS + "/:id", this::patch);
        api(HttpMethod.GET, WEBHOOKS + "/events", ctx -> json(ctx, 200, JSON.valueToTree(EVENTS)));
        api(HttpMethod.GET, WEBHOOKS, this::getRegistration);
        api(HttpMethod.POST, WEBHOOKS, ctx -> writeRegistration(ctx, true));
        api(HttpMethod.PUT, WEBHOOKS, ctx -> writeRegistration(ctx, false));
        api(HttpMethod.DELETE, WEBHOOKS, this::deleteRegistration);
        api(HttpMethod.POST, WEBHOOKS + "/validationEvents", this::validationEvent);
        api(HttpMethod.GET, WEBHOOKS + "/validationEvents/:correlationId", this::validationStatus);
        admin();
    }

    /** The certificate, then the CAs that issued it (PEM, one after the other). */
    private void certificate(RoutingContext ctx, java.security.cert.X509Certificate... chain) {
        try {
            StringBuilder pem = new StringBuilder();
            for (var c : chain) {
                pem.append("-----BEGIN CERTIFICATE-----\n").append(java.util.Base64.getMimeEncoder(64, "\n".getBytes())
                        .encodeToString(c.getEncoded())).append("\n-----END CERTIFICATE-----\n");
            }
            ctx.response().putHeader("Content-Type", "application/x-pem-file").end(pem.toString());
        } catch (CertificateEncodingException e) {
            ctx.response().setStatusCode(500).end();
        }
    }

    private static String tenantOf(RoutingContext ctx) {
        JsonNode claims = ctx.get("claims");
        return claims.path("tid").asText();
    }

    private void list(RoutingContext ctx) {
        JsonNode claims = ctx.get("claims");
        if (requireUserForList && !claims.has("scp")) {
            error(ctx, 403, "Forbidden", "Listing referrals requires App+User credentials; an App-only token was sent.");
            return;
        }
        if (refuseListFilters && first(ctx, "$filter", null) != null) {
            error(ctx, 400, "InvalidFilter", "The $filter option is not supported for this request.");
            return;
        }
        try {
            ReferralBook.ListQuery query = new ReferralBook.ListQuery(first(ctx, "$filter", null), first(ctx, "$orderby", null),
                    integer(ctx, "$top"), integer(ctx, "$skip"), "true".equalsIgnoreCase(first(ctx, "$count", null)),
                    first(ctx, "$skiptoken", null));
            json(ctx, 200, referrals.list(tenantOf(ctx), query, baseUrl() + REFERRALS));
        } catch (ReferralBook.ReferralException e) {
            error(ctx, e);
        }
    }

    private static Integer integer(RoutingContext ctx, String name) {
        String v = first(ctx, name, null);
        try {
            return v == null ? null : Integer.valueOf(v.trim());
        } catch (NumberFormatException e) {
            throw new ReferralBook.ReferralException(400, "InvalidInput", name + " must be a whole number, not '" + v + "'.");
        }
    }

    private void get(RoutingContext ctx) {
        try {
            json(ctx, 200, referrals.get(tenantOf(ctx), ctx.pathParam("id")));
        } catch (ReferralBook.ReferralException e) {
            error(ctx, e);
        }
    }

    private void create(RoutingContext ctx) {
        JsonNode body = anyJsonBody(ctx);
        if (body == null) {
            error(ctx, 400, "InvalidInput", "The request body must be a JSON referral.");
            return;
        }
        // CreateReferral answers 200 with the referral (the swagger declares 200 only).
        referralWrite(ctx, 200, () -> {
            String tenant = tenantOf(ctx);
            ObjectNode created = referrals.create(tenant, body, partnerOrganization(tenant), "Contoso Partner (sandbox)");
            publish(tenant, "referral-created", created);
            return created;
        });
    }

    /** The deprecated PUT (UpdateReferralById): the whole referral, If-Match required. */
    private void replace(RoutingContext ctx) {
        JsonNode body = anyJsonBody(ctx);
        if (body == null) {
            error(ctx, 400, "InvalidInput", "The request body must be the whole JSON referral.");
            return;
        }
        referralWrite(ctx, 200, () -> {
            String tenant = tenantOf(ctx);
            ObjectNode updated = referrals.replace(tenant, ctx.pathParam("id"), body, ctx.request().getHeader("If-Match"));
            publish(tenant, "referral-updated", updated);
            return updated;
        });
    }

    /**
     * PatchReferralById (and the deal registration operations on the same path): a JSON Patch; 204 without
     * a body, or 200 with the updated referral when asked with {@code Prefer: return=representation}.
     */
    private void patch(RoutingContext ctx) {
        JsonNode body = anyJsonBody(ctx);
        if (body == null) {
            error(ctx, 400, "InvalidInput", "The request body must be a JSON Patch document.");
            return;
        }
        boolean representation = !patchAlways204 && String.valueOf(ctx.request().getHeader("Prefer")).contains("return=representation");
        referralWrite(ctx, representation ? 200 : 204, () -> {
            String tenant = tenantOf(ctx);
            ObjectNode updated = referrals.patch(tenant, ctx.pathParam("id"), body, ctx.request().getHeader("If-Match"));
            publish(tenant, "referral-updated", updated);
            return updated;
        });
    }

    private void referralWrite(RoutingContext ctx, int status, java.util.function.Supplier<ObjectNode> write) {
        try {
            ObjectNode answer = write.get();
            if (status == 204) {
                ctx.response().setStatusCode(204).end();
            } else {
                json(ctx, status, answer);
            }
        } catch (ReferralBook.ReferralException e) {
            if (e.getMessage().contains(" contract: ")) {
                refused.add(ctx.request().method().name() + " " + ctx.request().path() + ": " + e.getMessage());
            }
            error(ctx, e);
        }
    }

    /** Request bodies refused because they broke the published contract (the tests expect none from the connector). */
    private final List<String> refused = new CopyOnWriteArrayList<>();
    /** Referrals API requests without an MS-CorrelationId that is a UUID. */
    private final List<String> uncorrelated = new CopyOnWriteArrayList<>();
    private final List<String> correlationIds = new CopyOnWriteArrayList<>();

    /**
     * What broke the published contract so far: request bodies refused for it, answers served outside it,
     * Referrals API requests without a UUID {@code MS-CorrelationId}. Empty when both sides kept to it.
     */
    public List<String> contractViolations() {
        List<String> out = new ArrayList<>(refused);
        out.addAll(referrals.contractViolations());
        uncorrelated.forEach(r -> out.add(r + ": no MS-CorrelationId (a UUID)"));
        return out;
    }

    /** The MS-CorrelationId of each Referrals API request, in arrival order. */
    public List<String> correlationIds() {
        return List.copyOf(correlationIds);
    }

    private static final java.util.regex.Pattern UUID_TEXT = java.util.regex.Pattern.compile(
            "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");

    private void noteCorrelation(RoutingContext ctx) {
        if (!ctx.request().path().startsWith(REFERRALS)) {
            return;
        }
        String id = ctx.request().getHeader("MS-CorrelationId");
        if (id == null || !UUID_TEXT.matcher(id.trim()).matches()) {
            uncorrelated.add(ctx.request().method().name() + " " + ctx.request().path());
        } else if (correlationIds.size() < 100_000) {
            correlationIds.add(id.trim());
        }
    }

    /** Any JSON value (PATCH bodies are arrays), or null when the body is missing or not JSON. */
    private static JsonNode anyJsonBody(RoutingContext ctx) {
        try {
            var b = ctx.body().buffer();
            return b == null || b.length() == 0 ? null : JSON.readTree(b.getBytes());
        } catch (Exception e) {
            return null;
        }
    }

    // ------------------------------------------------------------------------------ webhooks API

    private void getRegistration(RoutingContext ctx) {
        WebhookDispatcher.Registration r = webhooks.registration(tenantOf(ctx));
        if (r == null) {
            error(ctx, 404, "RegistrationNotFound", "No webhook registration exists for this partner.");
            return;
        }
        json(ctx, 200, registrationJson(r));
    }

    private void writeRegistration(RoutingContext ctx, boolean create) {
        ObjectNode body = jsonBody(ctx);
        String tenant = tenantOf(ctx);
        String url = body == null ? null : field(body, "WebhookUrl");
        JsonNode events = body == null ? null : node(body, "WebhookEvents");
        if (url == null || !url.startsWith("https://") && !url.startsWith("http://")) {
            error(ctx, 400, "InvalidInput", "WebhookUrl must be an absolute URL.");
            return;
        }
        if (events == null || !events.isArray() || events.isEmpty()) {
            error(ctx, 400, "InvalidInput", "WebhookEvents must list at least one event.");
            return;
        }
        List<String> names = new ArrayList<>();
        for (JsonNode e : events) {
            String name = EVENTS.stream().filter(x -> x.equalsIgnoreCase(e.asText())).findFirst().orElse(null);
            if (name == null) {
                error(ctx, 400, "InvalidInput", "Unknown webhook event '" + e.asText() + "'. Known: " + EVENTS + ".");
                return;
            }
            names.add(name);
        }
        WebhookDispatcher.Registration existing = webhooks.registration(tenant);
        if (create && existing != null) {
            error(ctx, 409, "Conflict", "Registration already exists, use the PUT method to update a registration.");
            return;
        }
        if (!create && existing == null) {
            error(ctx, 404, "RegistrationNotFound", "No webhook registration exists for this partner.");
            return;
        }
        boolean msHeader = "true".equalsIgnoreCase(field(body, "SignatureTokenToMsSignatureHeader"));
        json(ctx, 200, registrationJson(webhooks.put(tenant, url, names, msHeader)));
    }

    private void deleteRegistration(RoutingContext ctx) {
        if (!webhooks.remove(tenantOf(ctx))) {
            error(ctx, 404, "RegistrationNotFound", "No webhook registration exists for this partner.");
            return;
        }
        ctx.response().setStatusCode(204).end();
    }

    private void validationEvent(RoutingContext ctx) {
        String tenant = tenantOf(ctx);
        WebhookDispatcher.Registration r = webhooks.registration(tenant);
        if (r == null || !r.webhookEvents().contains("test-created")) {
            error(ctx, 400, "InvalidInput", "Register the test-created event to send a validation event.");
            return;
        }
        // Documented limit: two validation events per minute.
        List<Long> recent = validationCalls.computeIfAbsent(tenant, t -> new CopyOnWriteArrayList<>());
        long now = System.currentTimeMillis();
        recent.removeIf(t -> t < now - 60_000);
        if (recent.size() >= 2) {
            long wait = (recent.get(0) + 60_000 - now + 999) / 1000;
            throttled(ctx, (int) Math.max(1, wait));
            return;
        }
        recent.add(now);
        String correlationId = UUID.randomUUID().toString();
        webhooks.publish(tenant, "test-created", "test", resourceUriBase + "/webhooks/v1/registration/validationEvents/"
                + correlationId, correlationId);
        json(ctx, 200, JSON.createObjectNode().put("correlationId", correlationId));
    }

    private void validationStatus(RoutingContext ctx) {
        WebhookDispatcher.Delivery d = webhooks.delivery(ctx.pathParam("correlationId"));
        if (d == null || !d.tenant.equals(tenantOf(ctx))) {
            error(ctx, 404, "NotFound", "No validation event with this correlation id.");
            return;
        }
        ObjectNode out = JSON.createObjectNode().put("correlationId", d.correlationId)
                .put("partnerId", tenantOf(ctx)).put("status", "completed".equals(d.status) || "offline".equals(d.status)
                        ? "completed" : "pending")
                .put("callbackUrl", d.url);
        ArrayNode results = out.putArray("results");
        for (WebhookDispatcher.Attempt a : d.attempts) {
            results.addObject().put("responseCode", a.status() == 0 ? "NoResponse" : statusName(a.status()))
                    .put("responseMessage", a.error() == null ? "" : a.error()).put("systemError", a.error() != null)
                    .put("dateTimeUtc", a.at().toString());
        }
        json(ctx, 200, out);
    }

    private static String statusName(int status) {
        return switch (status) {
            case 200 -> "OK";
            case 202 -> "Accepted";
            case 204 -> "NoContent";
            case 400 -> "BadRequest";
            case 401 -> "Unauthorized";
            case 404 -> "NotFound";
            case 500 -> "InternalServerError";
            case 503 -> "ServiceUnavailable";
            default -> String.valueOf(status);
        };
    }

    private static ObjectNode registrationJson(WebhookDispatcher.Registration r) {
        ObjectNode o = JSON.createObjectNode().put("SubscriberId", r.subscriberId()).put("WebhookUrl", r.webhookUrl());
        o.set("WebhookEvents", JSON.valueToTree(r.webhookEvents()));
        return o;
    }

    // ------------------------------------------------------------------------------ auth, errors

    @Override
    protected String checkToken(RoutingContext ctx) {
        noteCorrelation(ctx);
        // Two APIs, two audiences: the Referrals API and the Webhooks API (see their pages).
        String audience = ctx.request().path().startsWith("/webhooks/") ? WEBHOOKS_RESOURCE : RESOURCE;
        return entra.validate(ctx.request().getHeader("Authorization"), audience, ctx);
    }

    @Override
    protected void unauthorized(RoutingContext ctx, String reason) {
        ctx.response().setStatusCode(401).putHeader("WWW-Authenticate", "Bearer realm=\"" + RESOURCE + "\"")
                .putHeader("Content-Type", "application/json; charset=utf-8")
                .end(errorBody("Unauthorized", "Authentication failed: " + reason + ".").toString());
    }

    @Override
    protected void faultResponse(RoutingContext ctx, Faults.Fault fault) {
        if (fault.status() == 429) {
            throttled(ctx, Math.max(1, fault.retryAfterSeconds()));
            return;
        }
        var response = ctx.response().setStatusCode(fault.status());
        if (fault.retryAfterSeconds() > 0) {
            response.putHeader("Retry-After", String.valueOf(fault.retryAfterSeconds()));
        }
        response.putHeader("Content-Type", "application/json; charset=utf-8")
                .end(errorBody(fault.status() == 503 ? "ServiceUnavailable" : "InternalServerError",
                        "The service is unavailable. Please retry later.").toString());
    }

    private static void throttled(RoutingContext ctx, int retryAfterSeconds) {
        json(ctx, 429, JSON.createObjectNode().put("statusCode", 429).put("message",
                "Rate limit is exceeded. Try again in " + retryAfterSeconds + " seconds."),
                Map.of("Retry-After", String.valueOf(retryAfterSeconds)));
    }

    private static ObjectNode errorBody(String code, String description) {
        ObjectNode e = JSON.createObjectNode().put("code", code).put("description", description);
        e.putArray("data");
        e.put("source", "PartnerCenter.Referrals");
        return e;
    }

    private static void error(RoutingContext ctx, int status, String code, String description) {
        json(ctx, status, errorBody(code, description));
    }

    private static void error(RoutingContext ctx, ReferralBook.ReferralException e) {
        error(ctx, e.status, e.code, e.getMessage());
    }

    private static String first(RoutingContext ctx, String name, String fallback) {
        List<String> v = ctx.queryParam(name);
        return v.isEmpty() ? fallback : v.get(0);
    }

    /** Case-insensitive property lookup (the webhook API documents PascalCase, clients send either). */
    private static JsonNode node(ObjectNode body, String name) {
        for (var it = body.fields(); it.hasNext();) {
            var e = it.next();
            if (e.getKey().equalsIgnoreCase(name)) {
                return e.getValue();
            }
        }
        return null;
    }

    private static String field(ObjectNode body, String name) {
        JsonNode n = node(body, name);
        return n == null || n.isNull() ? null : n.asText();
    }

    // ------------------------------------------------------------------------------ admin API

    private void admin() {
        router.post(ADMIN + "/tenants/:tenant/referrals").handler(ctx -> {
            ObjectNode body = jsonBody(ctx);
            if (body == null) {
                json(ctx, 400, JSON.createObjectNode().put("error", "expected a referral JSON object"));
                return;
            }
            adminWrite(ctx, () -> createAsMicrosoft(ctx.pathParam("tenant"), body), 201);
        });
        router.patch(ADMIN + "/tenants/:tenant/referrals/:id").handler(ctx -> {
            ObjectNode body = jsonBody(ctx);
            if (body == null) {
                json(ctx, 400, JSON.createObjectNode().put("error", "expected a JSON merge patch"));
                return;
            }
            adminWrite(ctx, () -> updateAsMicrosoft(ctx.pathParam("tenant"), ctx.pathParam("id"), body), 200);
        });
        router.get(ADMIN + "/tenants/:tenant/referrals").handler(ctx ->
                json(ctx, 200, JSON.valueToTree(referrals.all(ctx.pathParam("tenant")))));
        router.get(ADMIN + "/deliveries").handler(ctx -> {
            ArrayNode out = JSON.createArrayNode();
            for (WebhookDispatcher.Delivery d : webhooks.deliveries()) {
                ObjectNode o = out.addObject().put("id", d.id).put("tenant", d.tenant).put("eventName", d.eventName)
                        .put("resourceUri", d.resourceUri).put("url", d.url).put("status", d.status)
                        .put("body", d.body);
                o.set("attempts", JSON.valueToTree(d.attempts.stream()
                        .map(a -> Map.of("at", a.at().toString(), "status", a.status(),
                                "error", a.error() == null ? "" : a.error())).toList()));
            }
            json(ctx, 200, out);
        });
        router.post(ADMIN + "/deliveries/:id/redeliver").handler(ctx -> {
            var d = webhooks.deliveries().stream().filter(x -> x.id.equals(ctx.pathParam("id"))).findFirst();
            if (d.isEmpty()) {
                ctx.response().setStatusCode(404).end();
                return;
            }
            webhooks.redeliver(d.get());
            ctx.response().setStatusCode(202).end();
        });
        router.delete(ADMIN + "/referrals").handler(ctx -> {
            referrals.clear();
            webhooks.clear();
            ctx.response().setStatusCode(204).end();
        });
    }

    private static void adminWrite(RoutingContext ctx, java.util.function.Supplier<ObjectNode> write, int status) {
        try {
            json(ctx, status, write.get());
        } catch (ReferralBook.ReferralException e) {
            error(ctx, e);
        }
    }

    private volatile boolean refuseListFilters;
    private volatile boolean patchAlways204;

    /**
     * Used by tests: PATCH answers 204 without a body even when asked for the referral (the swagger
     * declares 204 only; the patch page documents the body with Prefer: return=representation).
     */
    public void setPatchAlways204(boolean always) {
        this.patchAlways204 = always;
    }

    /** Used by tests: a service that refuses every list $filter (400), to check what a client falls back to. */
    public void setRefuseListFilters(boolean refuse) {
        this.refuseListFilters = refuse;
    }

    /** Used by tests: whether listing needs a delegated token (documented: yes). */
    public void setRequireUserForList(boolean require) {
        this.requireUserForList = require;
    }

    @Override
    public void close() {
        webhooks.close();
        super.close();
    }
}
