package dev.cosell.connector;

/**
 * The properties route tests start the connector with ({@code @CamelMainTest(properties = ...)}): the
 * real application.properties and routes/, an in-memory store, no server, no schedule, no remote
 * system — the routes' calls to Partner Center and Dataverse are mocked by each test.
 */
public final class RouteTests {

    public static final String STORE = "store.url=jdbc:h2:mem:route-tests;DB_CLOSE_DELAY=-1;MODE=PostgreSQL;"
            + "DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH";
    public static final String SECRET_KEY = "store.secret-key=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    public static final String TENANT = "auth.tenant-id=00000000-0000-4000-8000-00000000000a";
    public static final String CLIENT = "auth.client-id=00000000-0000-4000-8000-00000000000b";
    public static final String SECRET = "auth.client-secret=route-test-secret";
    public static final String REFRESH_TOKEN = "auth.partnercenter.refresh-token=route-test-refresh-token";
    /** The shipped placeholders (contoso, example.com) are refused at start-up: route tests name their own. */
    public static final String DATAVERSE = "dataverse.url=https://route-tests.crm.dynamics.com";
    public static final String CALLBACK = "partnercenter.webhook.callback-url=https://route-tests.partner.test/webhooks/partner-center";
    public static final String NO_REGISTRATION = "partnercenter.webhook.register-on-startup=false";
    public static final String NO_SERVER_PORT = "camel.server.port=0";
    public static final String NO_MANAGEMENT = "camel.management.enabled=false";
    public static final String NO_POLL = "sync.poll-interval-ms=86400000";
    public static final String NO_SWEEP = "partnercenter.webhook.inbox-sweep-ms=86400000";

    private RouteTests() {
    }
}
