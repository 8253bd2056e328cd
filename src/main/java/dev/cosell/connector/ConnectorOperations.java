package dev.cosell.connector;

import javax.management.ObjectName;

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

    @ManagedOperation(description = "Replay one dead letter by id, or all open ones with -1; returns how many were re-sent")
    public int replayDeadLetters(long id) {
        return context.getRegistry().lookupByNameAndType("deadLetters", dev.cosell.connector.sync.DeadLetters.class)
                .replay(id < 0 ? null : id);
    }

    @ManagedOperation(description = "Number of open dead letters")
    public int openDeadLetters() {
        return context.getRegistry().lookupByNameAndType("deadLetters", dev.cosell.connector.sync.DeadLetters.class)
                .openCount();
    }

    @Override
    protected void doStart() throws Exception {
        template = context.createProducerTemplate();
        ManagementAgent agent = context.getManagementStrategy() == null ? null
                : context.getManagementStrategy().getManagementAgent();
        if (agent != null) {
            name = new ObjectName(agent.getMBeanObjectDomainName() + ":context=" + ObjectName.quote(context.getManagementName())
                    .replace("\"", "") + ",type=services,name=ConnectorOperations");
            agent.register(this, name);
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
