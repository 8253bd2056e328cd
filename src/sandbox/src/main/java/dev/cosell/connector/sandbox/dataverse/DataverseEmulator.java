package dev.cosell.connector.sandbox.dataverse;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.EntraIdEmulator;
import dev.cosell.connector.sandbox.Emulator;
import dev.cosell.connector.sandbox.Faults;
import dev.cosell.connector.sandbox.SandboxPki;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.ext.web.RoutingContext;

/**
 * Emulates a Dataverse environment's Web API ({@code https://{org}.crm.dynamics.com/api/data/v9.2/})
 * over HTTPS on loopback. The bearer token's audience must be this environment's URL, as Entra issues
 * it for the scope {@code <environment URL>/.default}. The work is done by {@link DataverseApi}.
 */
public final class DataverseEmulator extends Emulator {

    private static final String API = "^/api/data/v9\\.2/";

    private final EntraIdEmulator entra;
    private final String tenant;
    private final DataverseApi api;

    public DataverseEmulator(Vertx vertx, SandboxPki pki, EntraIdEmulator entra, String tenant) {
        this(vertx, pki, entra, tenant, DataverseSchema.standard());
    }

    public DataverseEmulator(Vertx vertx, SandboxPki pki, EntraIdEmulator entra, String tenant, DataverseSchema schema) {
        super(vertx, pki);
        this.entra = entra;
        this.tenant = tenant;
        this.api = new DataverseApi(schema, this::baseUrl);
        serviceProtection.registerAdmin(router);
        gate(serviceProtection);
    }

    private final ServiceProtection serviceProtection = new ServiceProtection();

    /** Dataverse's service protection limits (off until set). */
    public ServiceProtection serviceProtection() {
        return serviceProtection;
    }

    @Override
    public String name() {
        return "dataverse";
    }

    /** The environment URL, which is also the token audience ({@code <url>/.default} scope). */
    public String environmentUrl() {
        return baseUrl();
    }

    public DataverseApi api() {
        return api;
    }

    @Override
    protected void routes() {
        apiRegex(HttpMethod.POST, API + "\\$batch$", "/api/data/v9.2/$batch", this::dispatch);
        apiRegex(HttpMethod.GET, API + "WhoAmI$", "/api/data/v9.2/WhoAmI", this::dispatch);
        apiRegex(HttpMethod.POST, API + "(WinOpportunity|LoseOpportunity)$", "/api/data/v9.2/{action}", this::dispatch);
        // The metadata API (before the data routes: EntityDefinitions(...)/Attributes has no closing parenthesis).
        String definitions = API + "EntityDefinitions(?:$|[(/%]).*";
        apiRegex(HttpMethod.GET, definitions, "/api/data/v9.2/EntityDefinitions...", this::dispatch);
        apiRegex(HttpMethod.POST, definitions, "/api/data/v9.2/EntityDefinitions...", this::dispatch);
        apiRegex(HttpMethod.PUT, definitions, "/api/data/v9.2/EntityDefinitions...", this::dispatch);
        apiRegex(HttpMethod.POST, API + "(PublishXml|InsertOptionValue)$", "/api/data/v9.2/{metadataAction}", this::dispatch);
        String keyed = API + "[A-Za-z_]+(?:\\(|%28).*(?:\\)|%29)$";
        apiRegex(HttpMethod.GET, keyed, "/api/data/v9.2/{entitySet}({key})", this::dispatch);
        apiRegex(HttpMethod.PATCH, keyed, "/api/data/v9.2/{entitySet}({key})", this::dispatch);
        apiRegex(HttpMethod.DELETE, keyed, "/api/data/v9.2/{entitySet}({key})", this::dispatch);
        apiRegex(HttpMethod.GET, API + "[A-Za-z_]+$", "/api/data/v9.2/{entitySet}", this::dispatch);
        apiRegex(HttpMethod.POST, API + "[A-Za-z_]+$", "/api/data/v9.2/{entitySet}", this::dispatch);
        admin();
    }

    /** The call-log name suffix of a $batch whose parts are all GETs. */
    public static final String READS_ONLY = "(reads only)";
    private static final java.util.regex.Pattern WRITE_PART = java.util.regex.Pattern.compile("(?m)^(POST|PATCH|PUT|DELETE) ");

    private void dispatch(RoutingContext ctx) {
        String rawPath = ctx.request().path();
        String path = URLDecoder.decode(rawPath.substring(DataverseApi.PREFIX.length()).replace("+", "%2B"),
                StandardCharsets.UTF_8);
        Map<String, String> query = new LinkedHashMap<>();
        ctx.queryParams().forEach(e -> query.put(e.getKey(), e.getValue()));
        Map<String, String> headers = new LinkedHashMap<>();
        ctx.request().headers().forEach(e -> headers.put(e.getKey().toLowerCase(Locale.ROOT), e.getValue()));
        Buffer body = ctx.body().buffer();
        if (path.equals("$batch") && body != null && !WRITE_PART.matcher(body.toString(StandardCharsets.UTF_8)).find()) {
            // Counted apart: a $batch of GETs writes nothing (the benchmark's echo count relies on it).
            ctx.put(CALL_TEMPLATE, "POST /api/data/v9.2/$batch " + READS_ONLY);
        }
        DataverseApi.Response r = api.handle(new DataverseApi.Request(ctx.request().method().name(), path, query,
                ctx.request().query(), headers, body == null ? new byte[0] : body.getBytes()));
        var response = ctx.response().setStatusCode(r.status());
        r.headers().forEach(response::putHeader);
        ctx.put(RESPONSE_BODY, r.body());
        response.end(Buffer.buffer(r.body()));
    }

    @Override
    protected String checkToken(RoutingContext ctx) {
        return entra.validate(ctx.request().getHeader("Authorization"), environmentUrl(), ctx);
    }

    @Override
    protected void unauthorized(RoutingContext ctx, String reason) {
        ctx.response().setStatusCode(401)
                .putHeader("WWW-Authenticate", "Bearer authorization_uri=" + entra.baseUrl() + "/" + tenant
                        + "/oauth2/authorize, resource_id=" + environmentUrl() + "/")
                .end();
    }

    @Override
    protected void faultResponse(RoutingContext ctx, Faults.Fault fault) {
        DataverseApi.Response r = switch (fault.status()) {
            case 429 -> DataverseApi.error(429, "0x80072322",
                    "Number of requests exceeded the limit of 6000 over time window of 300 seconds.");
            case 503 -> DataverseApi.error(503, "0x80040216", "The service is temporarily unavailable.");
            default -> DataverseApi.error(fault.status(), "0x80040216", "An unexpected error occurred.");
        };
        var response = ctx.response().setStatusCode(r.status());
        if (fault.retryAfterSeconds() > 0) {
            response.putHeader("Retry-After", String.valueOf(fault.retryAfterSeconds()));
        }
        r.headers().forEach(response::putHeader);
        response.end(Buffer.buffer(r.body()));
    }

    // ----------------------------------------------------------------------------------- admin API

    private void admin() {
        router.post(ADMIN + "/rows/:set").handler(ctx -> {
            JsonNode body;
            try {
                body = JSON.readTree(ctx.body().buffer().getBytes());
            } catch (Exception e) {
                json(ctx, 400, JSON.createObjectNode().put("error", "expected a JSON array of rows"));
                return;
            }
            List<ObjectNode> rows = new ArrayList<>();
            (body.isArray() ? body : JSON.createArrayNode().add(body)).forEach(n -> rows.add((ObjectNode) n));
            List<String> ids = api.seed(ctx.pathParam("set"), rows);
            json(ctx, 201, JSON.valueToTree(ids));
        });
        router.get(ADMIN + "/rows/:set").handler(ctx -> json(ctx, 200, JSON.valueToTree(api.rows(ctx.pathParam("set")))));
        router.get(ADMIN + "/rows/:set/:id").handler(ctx -> {
            ObjectNode row = api.row(ctx.pathParam("set"), ctx.pathParam("id"));
            if (row == null) {
                ctx.response().setStatusCode(404).end();
            } else {
                json(ctx, 200, row);
            }
        });
        router.put(ADMIN + "/change-tracking/:set").handler(ctx -> {
            api.setChangeTracking(ctx.pathParam("set"), !"false".equals(ctx.queryParam("enabled").stream().findFirst()
                    .orElse("true")));
            ctx.response().setStatusCode(204).end();
        });
        router.delete(ADMIN + "/rows").handler(ctx -> {
            api.clear();
            ctx.response().setStatusCode(204).end();
        });
        router.get(ADMIN + "/tables").handler(ctx -> json(ctx, 200, JSON.valueToTree(api.tableSizes())));
    }
}
