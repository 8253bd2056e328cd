package dev.cosell.connector;

import java.util.Set;

import javax.management.ObjectName;
import javax.net.ssl.SSLContext;
import javax.sql.DataSource;

import dev.cosell.connector.auth.BearerToken;
import dev.cosell.connector.health.RemoteSystemHealthCheck;
import dev.cosell.connector.health.StoreHealthCheck;
import dev.cosell.connector.health.SyncFreshnessHealthCheck;
import dev.cosell.connector.health.WebhookRegistrationHealthCheck;
import dev.cosell.connector.remote.RemoteCircuitBreakers;
import org.apache.camel.health.HealthCheckRegistry;

import org.apache.camel.CamelContext;
import org.apache.camel.ProducerTemplate;
import org.apache.camel.api.management.ManagedOperation;
import org.apache.camel.api.management.ManagedResource;
import org.apache.camel.spi.ManagementAgent;
import org.apache.camel.support.service.ServiceSupport;

/**
 * The connector's own JMX operations, next to Camel's MBeans:
 * {@code org.apache.camel:context=<name>,type=services,name=ConnectorOperations}. Each operation runs
 * the same route the command line and the schedules use.
 */
@ManagedResource(description = "cosell-connector operations")
public class ConnectorOperations extends ServiceSupport {

    private final CamelContext context;
    private ProducerTemplate template;
    private ObjectName name;

    public ConnectorOperations(CamelContext context) {
        this.context = context;
    }

    @ManagedOperation(description = "Register (or check) the Partner Center webhook; returns created, unchanged, overwritten or conflict")
    public String registerWebhook() {
        return template.requestBody("direct:partner-center-webhook-registration", null, String.class);
    }

    @ManagedOperation(description = "Start a backfill / reconciliation in the background (resumes a checkpoint)")
    public String startReconciliation() {
        var r = context.getRegistry().lookupByNameAndType("reconciliation", dev.cosell.connector.backfill.Reconciliation.class);
        if (r.running()) {
            return "already running: " + r.status();
        }
        template.asyncSend("direct:reconcile", exchange -> {
            exchange.setProperty("dryRun", false);
            exchange.setProperty("startedBy", "JMX");
        });
        return "started";
    }

    @org.apache.camel.api.management.ManagedAttribute(description = "Backfill / reconciliation progress")
    public String getReconciliationStatus() {
        return context.getRegistry().lookupByNameAndType("reconciliation", dev.cosell.connector.backfill.Reconciliation.class)
                .status();
    }

    @ManagedOperation(description = "Reconcile now: a dry run returns its plan (nothing written); a real run starts in the background")
    public String reconcile(boolean dryRun) {
        var r = context.getRegistry().lookupByNameAndType("reconciliation", dev.cosell.connector.backfill.Reconciliation.class);
        if (!dryRun) {
            return startReconciliation();
        }
        if (r.running()) {
            return "already running: " + r.status();
        }
        template.send("direct:reconcile", exchange -> {
            exchange.setProperty("dryRun", true);
            exchange.setProperty("startedBy", "JMX");
        });
        StringBuilder plan = new StringBuilder("Dry run: nothing was written. Plan:");
        r.plan().forEach(line -> plan.append("\n  ").append(line));
        return plan.append("\nReconciliation: ").append(r.status()).toString();
    }

    @org.apache.camel.api.management.ManagedAttribute(description = "The state store this connector runs on (operator commands find it by this)")
    public String getStoreIdentity() {
        return dev.cosell.connector.store.ConnectorStore.identity(
                context.getPropertiesComponent().resolveProperty("store.url").orElseThrow());
    }

    @org.apache.camel.api.management.ManagedAttribute(description = "Process id")
    public long getPid() {
        return ProcessHandle.current().pid();
    }

    @ManagedOperation(description = "Replay one dead letter by id, or all open ones with -1; returns how many were re-sent")
    public int replayDeadLetters(long id) {
        return context.getRegistry().lookupByNameAndType("deadLetters", dev.cosell.connector.ledger.DeadLetters.class)
                .replay(id < 0 ? null : id);
    }

    @org.apache.camel.api.management.ManagedAttribute(description = "Circuit breaker state per remote system")
    public String getCircuitBreakers() {
        return context.getRegistry().lookupByNameAndType("remoteCircuitBreakers", RemoteCircuitBreakers.class)
                .states().toString();
    }

    @ManagedOperation(description = "Number of open dead letters")
    public int openDeadLetters() {
        return context.getRegistry().lookupByNameAndType("deadLetters", dev.cosell.connector.ledger.DeadLetters.class)
                .openCount();
    }

    @Override
    protected void doStart() throws Exception {
        template = context.createProducerTemplate();
        registerHealthChecks();
        ManagementAgent agent = context.getManagementStrategy() == null ? null
                : context.getManagementStrategy().getManagementAgent();
        if (agent != null) {
            name = new ObjectName(agent.getMBeanObjectDomainName() + ":context=" + ObjectName.quote(context.getManagementName())
                    .replace("\"", "") + ",type=services,name=ConnectorOperations");
            agent.register(this, name);
        }
    }

    /** The connector's own checks, next to Camel's route and consumer checks (JMX and /observe/health). */
    private void registerHealthChecks() {
        HealthCheckRegistry health = HealthCheckRegistry.get(context);
        if (health == null) {
            return;
        }
        var registry = context.getRegistry();
        var props = context.getPropertiesComponent();
        SSLContext ssl = registry.lookupByNameAndType("connectorSslContext", SSLContext.class);
        // Reachability of Partner Center: its Webhooks API, with a token for that API's own audience.
        BearerToken pc = registry.lookupByNameAndType("partnerCenterWebhooksToken", BearerToken.class);
        BearerToken dv = registry.lookupByNameAndType("dataverseToken", BearerToken.class);
        String dataverse = props.resolveProperty("dataverse.url").orElseThrow()
                + props.resolveProperty("dataverse.api-path").orElseThrow() + "/WhoAmI";
        String webhooks = props.resolveProperty("partnercenter.webhooks-url").orElseThrow() + "/registration";
        RemoteCircuitBreakers breakers = registry.lookupByNameAndType("remoteCircuitBreakers", RemoteCircuitBreakers.class);
        health.register(new RemoteSystemHealthCheck("partner-center", pc::header, webhooks, Set.of(200, 404), ssl,
                () -> breakers.state("partnercenter")));
        health.register(new RemoteSystemHealthCheck("dataverse", dv::header, dataverse, Set.of(200), ssl,
                () -> breakers.state("dataverse")));
        health.register(new StoreHealthCheck(registry.lookupByNameAndType("dataSource", DataSource.class),
                Integer.parseInt(props.resolveProperty("sync.health.dead-letter-threshold").orElseThrow())));
        health.register(new WebhookRegistrationHealthCheck(template));
        health.register(registry.lookupByNameAndType("syncFreshness", SyncFreshnessHealthCheck.class));
        // The Partner Center user's sign-in (App+User): DOWN "sign in again" when only a new sign-in helps.
        BearerToken pcUser = registry.lookupByNameAndType("partnerCenterToken", BearerToken.class);
        if (pcUser.mode() == dev.cosell.connector.auth.EntraTokenProvider.Mode.DELEGATED) {
            health.register(new dev.cosell.connector.health.SignInHealthCheck(registry.lookupByNameAndType("entraTokens",
                    dev.cosell.connector.auth.EntraTokenProvider.class), pcUser));
        }
    }

    @Override
    protected void doStop() throws Exception {
        ManagementAgent agent = context.getManagementStrategy() == null ? null
                : context.getManagementStrategy().getManagementAgent();
        if (agent != null && name != null) {
            agent.unregister(name);
        }
        if (template != null) {
            template.close();
        }
    }
}
