package dev.cosell.connector;

import java.nio.file.Path;
import java.util.List;

import javax.net.ssl.SSLContext;

import dev.cosell.connector.auth.BearerToken;
import dev.cosell.connector.auth.EntraTokenProvider;
import dev.cosell.connector.auth.TrustStores;
import dev.cosell.connector.health.SyncFreshnessHealthCheck;
import dev.cosell.connector.partnercenter.WebhookRegistrationPlan;
import dev.cosell.connector.sync.AuditTrail;
import dev.cosell.connector.sync.BackfillPage;
import dev.cosell.connector.sync.CustomerMatch;
import dev.cosell.connector.sync.FlaggedOpportunityCustomers;
import dev.cosell.connector.sync.DataverseWebhook;
import dev.cosell.connector.sync.DeadLetters;
import dev.cosell.connector.sync.FieldMappings;
import dev.cosell.connector.sync.HttpAnswers;
import dev.cosell.connector.sync.ODataBatch;
import dev.cosell.connector.sync.ODataResults;
import dev.cosell.connector.sync.PartnerCenterEvents;
import dev.cosell.connector.sync.Reconciliation;
import dev.cosell.connector.sync.ReferralPatch;
import dev.cosell.connector.dataverse.ColumnLimits;
import dev.cosell.connector.dataverse.PollPacing;
import dev.cosell.connector.dataverse.TransactionCurrencies;
import dev.cosell.connector.partnercenter.ReferralSearch;
import dev.cosell.connector.sync.RemoteCircuitBreakers;
import dev.cosell.connector.sync.RetryAfter;
import dev.cosell.connector.sync.SyncCursor;
import dev.cosell.connector.sync.SyncMetrics;
import dev.cosell.connector.sync.SyncLedger;
import org.apache.camel.processor.idempotent.jdbc.JdbcMessageIdRepository;
import dev.cosell.connector.webhook.WebhookSignatureVerifier;
import dev.cosell.connector.store.ConnectorStore;
import dev.cosell.connector.store.JdbcTokenCacheStore;
import dev.cosell.connector.store.SecretBox;
import org.apache.camel.CamelConfiguration;
import org.apache.camel.CamelContext;
import org.apache.camel.component.http.HttpComponent;
import org.apache.camel.support.jsse.KeyStoreParameters;
import org.apache.camel.support.jsse.SSLContextParameters;
import org.apache.camel.support.jsse.TrustManagersParameters;

/**
 * Wires the connector's beans from the properties. The routes in {@code routes/} refer to them by
 * name: {@code dataSource}, {@code partnerCenterToken}, {@code dataverseToken}, ...
 */
public class ConnectorConfiguration implements CamelConfiguration {

    @Override
    public void configure(CamelContext context) throws Exception {
        Settings settings = new Settings(context);
        var registry = context.getRegistry();

        // State store: pool + schema migrations, closed with the context. The key that encrypts what the
        // store keeps of secrets is required; an embedded H2 file without a configured password gets one
        // derived from it (none is stored).
        SecretBox secrets = new SecretBox(settings.require("store.secret-key"));
        String storeUrl = settings.require("store.url");
        String storePassword = settings.get("store.password");
        if (storePassword == null && storeUrl.startsWith("jdbc:h2:file:")) {
            storePassword = secrets.derivePassword("cosell-h2-store");
        }
        ConnectorStore store = ConnectorStore.open(new ConnectorStore.Settings(storeUrl,
                settings.get("store.user"), storePassword, settings.getInt("store.pool-size", 8)));
        registry.bind("connectorStore", store);
        registry.bind("dataSource", store.dataSource());
        context.addService(store, true, true);

        // TLS trust for every outbound call (JDK CAs unless tls.truststore is set).
        String trustStore = settings.get("tls.truststore");
        String trustStorePassword = settings.get("tls.truststore-password");
        SSLContext sslContext = TrustStores.sslContext(trustStore, trustStorePassword);
        if (trustStore != null) {
            SSLContextParameters ssl = sslContextParameters(trustStore, trustStorePassword);
            for (String scheme : new String[] { "http", "https" }) {
                context.getComponent(scheme, HttpComponent.class).setSslContextParameters(ssl);
            }
        }
        registry.bind("connectorSslContext", sslContext == null ? defaultSslContext() : sslContext);

        // Entra ID tokens through msal4j, one provider for both resources.
        EntraTokenProvider tokens = new EntraTokenProvider(new EntraTokenProvider.Settings(
                settings.require("auth.authority"), settings.require("auth.client-id"),
                settings.get("auth.client-secret"), settings.get("auth.certificate-path"),
                settings.get("auth.certificate-password"), settings.getBoolean("auth.instance-discovery", true),
                settings.get("auth.instance-discovery-metadata"), settings.get("auth.partnercenter.refresh-token")),
                sslContext, new JdbcTokenCacheStore(store.dataSource(), secrets));
        registry.bind("entraTokens", tokens);
        // Partner Center: App+User (delegated) asks for user_impersonation, App-only for .default.
        EntraTokenProvider.Mode pcMode = EntraTokenProvider.Mode.of(settings.get("auth.partnercenter.mode", "delegated"));
        boolean delegated = pcMode == EntraTokenProvider.Mode.DELEGATED;
        registry.bind("partnerCenterToken", new BearerToken(tokens, settings.require(
                delegated ? "partnercenter.user-scope" : "partnercenter.scope"), pcMode));
        // The Webhooks API is another resource (api.partnercenter.microsoft.com, its page says): its own token.
        registry.bind("partnerCenterWebhooksToken", new BearerToken(tokens, settings.require(
                delegated ? "partnercenter.webhooks-user-scope" : "partnercenter.webhooks-scope"), pcMode));
        registry.bind("dataverseToken", new BearerToken(tokens, settings.require("dataverse.scope"),
                EntraTokenProvider.Mode.APPLICATION));

        // Partner Center webhooks: what we register, and how incoming posts are verified.
        registry.bind("webhookRegistration", new WebhookRegistrationPlan(
                settings.require("partnercenter.webhook.callback-url"),
                List.of(settings.get("partnercenter.webhook.events", "referral-created,referral-updated").split(","))));
        registry.bind("webhookSignatureVerifier", new WebhookSignatureVerifier(
                List.of(settings.require("partnercenter.webhook.certificate-hosts").split(",")),
                settings.get("partnercenter.webhook.certificate-organization"), sslContext,
                TrustStores.load(trustStore, trustStorePassword)));

        // Sync beans used by the flows in routes/.
        var dataSource = store.dataSource();
        Path mappingsDir = Path.of(settings.get("sync.mappings-dir", "routes/mappings"));
        TransactionCurrencies currencies = new TransactionCurrencies(java.time.Duration.ofSeconds(
                settings.getInt("dataverse.currency-refresh-seconds", 60)));
        registry.bind("transactionCurrencies", currencies);
        FieldMappings mappings = new FieldMappings(mappingsDir, settings.require("partnercenter.referral-link"),
                settings.getBoolean("sync.checkmark", true), currencies);
        mappings.setCurrency(settings.get("sync.default-currency", "USD"));
        registry.bind("fieldMappings", mappings);
        ColumnLimits columnLimits = new ColumnLimits(mappingsDir.resolve("dataverse-columns.json"));
        registry.bind("columnLimits", columnLimits);
        ReferralPatch merge = new ReferralPatch(mappingsDir.resolve("field-owners.json"));
        registry.bind("referralPatch", merge);
        registry.bind("referralSearch", new ReferralSearch());
        SyncMetrics metrics = new SyncMetrics(context);
        registry.bind("syncMetrics", metrics);
        SyncLedger ledger = new SyncLedger(dataSource, merge, metrics);
        registry.bind("syncLedger", ledger);
        SyncCursor cursor = new SyncCursor(dataSource);
        registry.bind("syncCursor", cursor);
        registry.bind("dataverseWebhook", new DataverseWebhook(settings.get("dataverse.webhook.key")));
        JdbcMessageIdRepository changes = new JdbcMessageIdRepository(dataSource, "dynamics-365-to-partner-center");
        changes.setCreateTableIfNotExists(false);
        registry.bind("opportunityChangeRepository", changes);
        context.addService(changes, true, true);
        AuditTrail auditTrail = new AuditTrail(settings.getInt("sync.audit-max-length", 4000));
        registry.bind("auditTrail", auditTrail);
        CustomerMatch customerMatch = new CustomerMatch(List.of(settings.get("sync.account-match", "duns,name-country")
                .split(",")));
        registry.bind("customerMatch", customerMatch);
        registry.bind("newCustomers", new dev.cosell.connector.sync.NewCustomers(dataSource));
        registry.bind("partnerCenterEvents", new PartnerCenterEvents(settings.getInt("partnercenter.webhook.max-body-bytes",
                65536), List.of(settings.get("partnercenter.webhook.events", "referral-created,referral-updated").split(","))));
        registry.bind("webhookResponseHeaders", new dev.cosell.connector.webhook.OwnResponseHeaders());
        var serverErrors = new dev.cosell.connector.webhook.WebhookServerErrors(settings.getInt(
                "partnercenter.webhook.max-body-bytes", 65536), settings.get("partnercenter.webhook.path",
                        "/webhooks/partner-center"), settings.getInt("camel.server.port", 8080));
        context.getManagementStrategy().addEventNotifier(serverErrors);
        org.apache.camel.support.service.ServiceHelper.startService(serverErrors);
        registry.bind("webhookInbox", new dev.cosell.connector.webhook.WebhookInbox(
                java.time.Duration.ofMillis(settings.getInt("partnercenter.webhook.inbox-requeue-after-ms", 600_000)),
                java.time.Duration.ofDays(settings.getInt("partnercenter.webhook.inbox-retention-days", 30))));
        registry.bind("odataResults", new ODataResults());
        ODataBatch odataBatch = new ODataBatch(settings.get("dataverse.api-path", "/api/data/v9.2"));
        registry.bind("odataBatch", odataBatch);
        registry.bind("httpAnswers", new HttpAnswers());
        registry.bind("retryAfter", new RetryAfter(settings.getInt("sync.retry.max-delay-ms", 30000), metrics));
        registry.bind("pollPacing", new PollPacing(settings.getInt("sync.retry.max-delay-ms", 30000)));
        registry.bind("remoteCircuitBreakers", new RemoteCircuitBreakers(new RemoteCircuitBreakers.Settings(
                settings.getBoolean("sync.circuit-breaker.enabled", true),
                settings.getInt("sync.circuit-breaker.failure-rate-percent", 50),
                settings.getInt("sync.circuit-breaker.window-calls", 20),
                settings.getInt("sync.circuit-breaker.minimum-calls", 10),
                settings.getInt("sync.circuit-breaker.open-ms", 15000),
                settings.getInt("sync.circuit-breaker.half-open-calls", 3)), metrics));
        registry.bind("deadLetters", new DeadLetters(dataSource, context));
        // Camel's JDBC idempotent repository on camel_messageprocessed (created by Flyway).
        JdbcMessageIdRepository events = new JdbcMessageIdRepository(dataSource, "partner-center-to-dynamics-365");
        events.setCreateTableIfNotExists(false);
        registry.bind("partnerCenterEventRepository", events);
        context.addService(events, true, true);

        // What a referral or an opportunity needs: one decision table per direction, used by every path.
        var decisions = new dev.cosell.connector.decision.SyncDecisions(settings.getBoolean("sync.cosell-only", true));
        registry.bind("syncDecisions", decisions);
        // Backfill / reconciliation progress and plan; its page-parallel pool.
        registry.bind("reconciliation", new Reconciliation(settings.get("sync.reconciliation.referral-filter"), 100, cursor,
                decisions));
        registry.bind("backfillPage", new BackfillPage(ledger, mappings, customerMatch, odataBatch, auditTrail, columnLimits,
                decisions));
        registry.bind("flaggedOpportunityCustomers", new FlaggedOpportunityCustomers(odataBatch));
        registry.bind("opportunityChangePool", context.getExecutorServiceManager().newFixedThreadPool(this,
                "opportunity-changes", settings.getInt("sync.concurrency", 4)));
        registry.bind("reconciliationPool", context.getExecutorServiceManager().newFixedThreadPool(this,
                "reconciliation", settings.getInt("sync.concurrency", 4)));

        // Several nodes on PostgreSQL: Quartz's clustered JDBC job store makes each scheduled route
        // (Dataverse poll, reconciliation) fire on one node at a time, and another node take over
        // within a check-in interval when one dies.
        if (settings.getBoolean("sync.cluster.enabled", false)) {
            clusterQuartz(context, settings, dataSource);
        }

        // Custom health checks (registered with Camel's health check registry by ConnectorOperations).
        registry.bind("syncFreshness", new SyncFreshnessHealthCheck(java.time.Duration.ofSeconds(
                settings.getInt("sync.health.max-poll-age-seconds", 120))));

        // JMX operations (register webhook, ...), registered once the management agent is up.
        context.addService(new ConnectorOperations(context), true, true);
    }

    private static void clusterQuartz(CamelContext context, Settings settings, javax.sql.DataSource dataSource) {
        String url = settings.require("store.url");
        if (!url.startsWith("jdbc:postgresql:")) {
            throw new IllegalArgumentException("sync.cluster.enabled needs a shared database: set store.url to PostgreSQL");
        }
        // Quartz asks its DBConnectionManager for connections by name: hand it the store's pool.
        String provider = "cosell-store-" + System.identityHashCode(context);
        org.quartz.utils.DBConnectionManager.getInstance().addConnectionProvider(provider, new org.quartz.utils.ConnectionProvider() {
            @Override
            public java.sql.Connection getConnection() throws java.sql.SQLException {
                return dataSource.getConnection();
            }

            @Override
            public void shutdown() {
                // the pool is closed with the store
            }

            @Override
            public void initialize() {
                // nothing to do
            }
        });
        java.util.Properties q = new java.util.Properties();
        q.put("org.quartz.scheduler.instanceName", "cosell-connector");
        q.put("org.quartz.scheduler.instanceId", "AUTO");
        q.put("org.quartz.scheduler.skipUpdateCheck", "true");
        q.put("org.quartz.threadPool.threadCount", "4");
        q.put("org.quartz.jobStore.class", "org.quartz.impl.jdbcjobstore.JobStoreTX");
        q.put("org.quartz.jobStore.driverDelegateClass", "org.quartz.impl.jdbcjobstore.PostgreSQLDelegate");
        q.put("org.quartz.jobStore.dataSource", provider);
        q.put("org.quartz.jobStore.tablePrefix", "QRTZ_");
        q.put("org.quartz.jobStore.isClustered", "true");
        q.put("org.quartz.jobStore.clusterCheckinInterval", settings.get("sync.cluster.checkin-interval-ms", "5000"));
        q.put("org.quartz.jobStore.misfireThreshold", "10000");
        var quartz = context.getComponent("quartz", org.apache.camel.component.quartz.QuartzComponent.class);
        quartz.setProperties(q);
        quartz.setPrefixInstanceName(false);
    }

    private static SSLContextParameters sslContextParameters(String trustStore, String password) {
        KeyStoreParameters ks = new KeyStoreParameters();
        ks.setResource("file:" + trustStore);
        ks.setType("PKCS12");
        ks.setPassword(password);
        TrustManagersParameters tm = new TrustManagersParameters();
        tm.setKeyStore(ks);
        SSLContextParameters ssl = new SSLContextParameters();
        ssl.setTrustManagers(tm);
        return ssl;
    }

    private static SSLContext defaultSslContext() {
        try {
            return SSLContext.getDefault();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
