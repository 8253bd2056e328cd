package dev.cosell.connector;

import java.util.List;

import javax.net.ssl.SSLContext;

import dev.cosell.connector.auth.BearerToken;
import dev.cosell.connector.auth.EntraTokenProvider;
import dev.cosell.connector.auth.TrustStores;
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

        // The state store is a bean of routes/beans.camel.yaml (created when the routes are read, before
        // this runs); it is closed with the context. Its secret key also encrypts the token cache.
        ConnectorStore dataSource = registry.lookupByNameAndType("dataSource", ConnectorStore.class);
        context.addService(dataSource, true, true);
        SecretBox secrets = new SecretBox(settings.require("store.secret-key"));

        // Where the connector's own Dataverse columns are (dataverse.column.<role>): data calls are translated on the wire.
        registry.bind("dataverseColumnNames", new dev.cosell.connector.dataverse.DataverseColumnNames(
                dev.cosell.connector.dataverse.ColumnContract.load(settings.require("sync.mappings-dir")), settings::get));

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
        EntraTokenProvider tokens = new EntraTokenProvider(authSettings(settings), sslContext,
                new JdbcTokenCacheStore(dataSource, secrets));
        registry.bind("entraTokens", tokens);
        // Partner Center: App+User (delegated) asks for user_impersonation, App-only for .default.
        EntraTokenProvider.Mode pcMode = EntraTokenProvider.Mode.of(settings.require("auth.partnercenter.mode"));
        boolean delegated = pcMode == EntraTokenProvider.Mode.DELEGATED;
        registry.bind("partnerCenterToken", new BearerToken(tokens, settings.require(
                delegated ? "partnercenter.user-scope" : "partnercenter.scope"), pcMode));
        // The Webhooks API is another resource (api.partnercenter.microsoft.com, its page says): its own token.
        registry.bind("partnerCenterWebhooksToken", new BearerToken(tokens, settings.require(
                delegated ? "partnercenter.webhooks-user-scope" : "partnercenter.webhooks-scope"), pcMode));
        registry.bind("dataverseToken", new BearerToken(tokens, settings.require("dataverse.scope"),
                EntraTokenProvider.Mode.APPLICATION));

        // Partner Center webhooks: how incoming posts are verified (the certificate chain, with our trust).
        registry.bind("webhookSignatureVerifier", new WebhookSignatureVerifier(
                List.of(settings.require("partnercenter.webhook.certificate-hosts").split(",")),
                settings.get("partnercenter.webhook.certificate-organization"), sslContext,
                TrustStores.load(trustStore, trustStorePassword)));

        // Answers the webhook's own errors (413, 503 while the intake route is not serving) at the server.
        var serverErrors = new dev.cosell.connector.webhook.WebhookServerErrors(settings.requireInt(
                "partnercenter.webhook.max-body-bytes"), settings.require("partnercenter.webhook.path"),
                settings.requireInt("camel.server.port"));
        context.getManagementStrategy().addEventNotifier(serverErrors);
        org.apache.camel.support.service.ServiceHelper.startService(serverErrors);
        // Page-parallel pools of the opportunity changes and the reconciliation.
        registry.bind("opportunityChangePool", context.getExecutorServiceManager().newFixedThreadPool(this,
                "opportunity-changes", settings.requireInt("sync.concurrency")));
        registry.bind("reconciliationPool", context.getExecutorServiceManager().newFixedThreadPool(this,
                "reconciliation", settings.requireInt("sync.concurrency")));
        // A page's $batch calls sent at once (dataverse-batches); the adaptive limit decides how many go out.
        registry.bind("dataverseBatchPool", context.getExecutorServiceManager().newFixedThreadPool(this,
                "dataverse-batches", settings.requireInt("sync.concurrency.dataverse.max")));

        // Several nodes on PostgreSQL: Quartz's clustered JDBC job store makes each scheduled route
        // (Dataverse poll, reconciliation) fire on one node at a time, and another node take over
        // within a check-in interval when one dies.
        if (settings.requireBoolean("sync.cluster.enabled")) {
            clusterQuartz(context, settings, dataSource);
        }

        // JMX operations (register webhook, ...), registered once the management agent is up.
        context.addService(new ConnectorOperations(context), true, true);

        // The operator console on the management server, once a password hash is configured.
        if (dev.cosell.connector.console.OperatorConsole.configured(settings)) {
            context.addService(new dev.cosell.connector.console.OperatorConsole(context), true, true);
        } else if (settings.requireBoolean("console.enabled")) {
            org.slf4j.LoggerFactory.getLogger(ConnectorConfiguration.class).info("Operator console off: set console.password-hash"
                    + " (CONSOLE_PASSWORD_HASH; make one with java -cp cosell-connector.jar"
                    + " dev.cosell.connector.console.ConsolePassword)");
        }
    }

    /** The {@code auth.*} properties for msal4j (the connector's, and the sign-in command's). */
    public static EntraTokenProvider.Settings authSettings(Settings settings) {
        return new EntraTokenProvider.Settings(settings.require("auth.authority"), settings.require("auth.client-id"),
                settings.get("auth.client-secret"), settings.get("auth.certificate-path"),
                settings.get("auth.certificate-password"), settings.requireBoolean("auth.instance-discovery"),
                settings.get("auth.instance-discovery-metadata"), settings.get("auth.partnercenter.refresh-token"));
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
        q.put("org.quartz.jobStore.clusterCheckinInterval", settings.require("sync.cluster.checkin-interval-ms"));
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
