package dev.cosell.connector.sandbox;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import dev.cosell.connector.sandbox.dataverse.DataverseEmulator;
import dev.cosell.connector.sandbox.partnercenter.PartnerCenterEmulator;
import io.vertx.core.Vertx;

/**
 * The three emulators together, wired to each other as the real services are: one Entra tenant with
 * the connector's app registration and a Referrals-admin user, Partner Center and one Dataverse
 * environment as resources. {@link #connectorProperties} gives the properties that point an unchanged
 * connector at them (only URLs, identities and the trust store differ from production).
 */
public final class Sandbox implements AutoCloseable {

    /** Who and where: ports (0 = any free port), tenant, app registration, the signed-in user. */
    public record Options(int entraPort, int partnerCenterPort, int dataversePort, String tenant, String clientId,
            String clientSecret, String user, int tokenLifetimeSeconds, String dataverseSchema) {

        /** With the Dataverse tables as provisioned (sandbox.dataverse.schema=provisioned). */
        public Options(int entraPort, int partnerCenterPort, int dataversePort, String tenant, String clientId,
                String clientSecret, String user, int tokenLifetimeSeconds) {
            this(entraPort, partnerCenterPort, dataversePort, tenant, clientId, clientSecret, user, tokenLifetimeSeconds,
                    "provisioned");
        }

        /** The same with the Dataverse tables starting as {@code provisioned} or {@code empty} (sandbox.dataverse.schema). */
        public Options withDataverseSchema(String schema) {
            return new Options(entraPort, partnerCenterPort, dataversePort, tenant, clientId, clientSecret, user,
                    tokenLifetimeSeconds, schema);
        }

        public static Options defaults() {
            return new Options(0, 0, 0, "6f1a2b3c-0000-4000-8000-00000000c0de", "3d4e5f60-0000-4000-8000-0000000c11e7",
                    "sandbox-only-client-secret", "referrals.admin@contoso-sandbox.example", 3599);
        }
    }

    private final Options options;
    private final Vertx vertx;
    private final SandboxPki pki;
    private final EntraIdEmulator entra;
    private final PartnerCenterEmulator partnerCenter;
    private final DataverseEmulator dataverse;
    private final String secretKey = dev.cosell.connector.store.SecretBox.newKey();

    private Sandbox(Options options) {
        this.options = options;
        this.vertx = Vertx.vertx();
        this.pki = SandboxPki.generate();
        this.entra = (EntraIdEmulator) new EntraIdEmulator(vertx, pki).start(options.entraPort());
        entra.registerApp(options.tenant(), options.clientId(), options.clientSecret());
        // "Allow public client flows": cosell-connector sign-in (device code) works against the sandbox too.
        entra.allowPublicClientFlows(options.tenant(), options.clientId());
        entra.setAccessTokenLifetimeSeconds(options.tokenLifetimeSeconds());
        this.partnerCenter = new PartnerCenterEmulator(vertx, pki, entra).start(options.partnerCenterPort());
        entra.registerResource(PartnerCenterEmulator.RESOURCE);
        entra.registerResource(PartnerCenterEmulator.WEBHOOKS_RESOURCE);
        this.dataverse = (DataverseEmulator) new DataverseEmulator(vertx, pki, entra, options.tenant(),
                dev.cosell.connector.sandbox.dataverse.DataverseSchema.named(options.dataverseSchema()))
                .start(options.dataversePort());
        entra.registerResource(dataverse.environmentUrl());
    }

    public static Sandbox start(Options options) {
        return new Sandbox(options);
    }

    public Options options() {
        return options;
    }

    public String tenant() {
        return options.tenant();
    }

    public SandboxPki pki() {
        return pki;
    }

    public EntraIdEmulator entra() {
        return entra;
    }

    public PartnerCenterEmulator partnerCenter() {
        return partnerCenter;
    }

    public DataverseEmulator dataverse() {
        return dataverse;
    }

    /**
     * Properties that point the connector at this sandbox. The trust store with the sandbox CA is
     * written into {@code workDir}; the connector's webhook endpoint is expected on {@code connectorPort}.
     */
    public Map<String, String> connectorProperties(Path workDir, int connectorPort) {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("auth.tenant-id", options.tenant());
        p.put("auth.authority", entra.baseUrl() + "/" + options.tenant() + "/");
        p.put("auth.client-id", options.clientId());
        p.put("auth.client-secret", options.clientSecret());
        p.put("auth.certificate-path", "");
        // msal4j cannot look up a loopback authority in Microsoft's cloud list: give it the metadata.
        p.put("auth.instance-discovery-metadata", entra.instanceMetadata().toString());
        p.put("auth.partnercenter.mode", "delegated");
        p.put("auth.partnercenter.refresh-token", entra.issueRefreshToken(options.tenant(), options.clientId(),
                options.user()));
        p.put("partnercenter.url", partnerCenter.baseUrl());
        p.put("partnercenter.webhooks-url", partnerCenter.baseUrl() + "/webhooks/v1");
        p.put("partnercenter.webhook.callback-url", "http://127.0.0.1:" + connectorPort + "/webhooks/partner-center");
        // The emulator's certificate endpoint is HTTPS on its own port, not 443: allowed as host:port.
        p.put("partnercenter.webhook.certificate-hosts", "127.0.0.1:" + partnerCenter.port());
        // The key that encrypts the token cache at rest (generated per sandbox; a real one comes from
        // the environment, STORE_SECRET_KEY).
        p.put("store.secret-key", secretKey);
        p.put("partnercenter.webhook.certificate-organization", SandboxPki.SIGNING_ORGANIZATION);
        p.put("dataverse.url", dataverse.environmentUrl());
        p.put("dataverse.scope", dataverse.environmentUrl() + "/.default");
        p.put("tls.truststore", pki.writeTrustStore(workDir).toAbsolutePath().toString());
        p.put("tls.truststore-password", SandboxPki.STORE_PASSWORD);
        p.put("camel.server.port", String.valueOf(connectorPort));
        p.put("camel.server.host", "127.0.0.1");
        p.put("camel.management.host", "127.0.0.1");
        return p;
    }

    @Override
    public void close() {
        dataverse.close();
        partnerCenter.close();
        entra.close();
        vertx.close();
    }
}
