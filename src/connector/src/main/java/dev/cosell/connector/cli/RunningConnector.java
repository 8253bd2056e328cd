package dev.cosell.connector.cli;

import java.util.Optional;
import java.util.Set;

import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

import com.sun.tools.attach.VirtualMachine;
import com.sun.tools.attach.VirtualMachineDescriptor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A connector already running on this machine on the same state store, reached through its JMX
 * operations (ConnectorOperations) by the JDK's local attach: only the operating-system user that
 * runs it can attach, so that is the authentication. Operator commands (--replay-dead-letter,
 * --reconcile, --register-webhook) ask it, and start a connector of their own only when none runs:
 * never a second poller beside the first, nor a second process on an embedded store.
 */
public final class RunningConnector implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(RunningConnector.class);
    private static final String OPERATIONS = "org.apache.camel:type=services,name=ConnectorOperations,*";

    private final JMXConnector connector;
    private final MBeanServerConnection server;
    private final ObjectName operations;
    private final long pid;

    private RunningConnector(JMXConnector connector, ObjectName operations, long pid) throws java.io.IOException {
        this.connector = connector;
        this.server = connector.getMBeanServerConnection();
        this.operations = operations;
        this.pid = pid;
    }

    /** The running connector whose store is this one (see ConnectorStore.identity), if any. */
    public static Optional<RunningConnector> find(String storeIdentity) {
        long self = ProcessHandle.current().pid();
        for (VirtualMachineDescriptor vm : VirtualMachine.list()) {
            if (vm.id().equals(String.valueOf(self)) || !looksLikeConnector(vm.displayName())) {
                continue;
            }
            Optional<RunningConnector> found = attach(vm, storeIdentity);
            if (found.isPresent()) {
                return found;
            }
        }
        return Optional.empty();
    }

    private static boolean looksLikeConnector(String displayName) {
        return displayName.startsWith("dev.cosell.connector.CosellConnector") || displayName.contains("cosell-connector");
    }

    private static Optional<RunningConnector> attach(VirtualMachineDescriptor descriptor, String storeIdentity) {
        JMXConnector jmx = null;
        try {
            VirtualMachine vm = VirtualMachine.attach(descriptor);
            String address;
            try {
                address = vm.startLocalManagementAgent();
            } finally {
                vm.detach();
            }
            jmx = JMXConnectorFactory.connect(new JMXServiceURL(address));
            MBeanServerConnection server = jmx.getMBeanServerConnection();
            Set<ObjectName> names = server.queryNames(new ObjectName(OPERATIONS), null);
            for (ObjectName name : names) {
                if (storeIdentity.equals(server.getAttribute(name, "StoreIdentity"))) {
                    return Optional.of(new RunningConnector(jmx, name, Long.parseLong(descriptor.id())));
                }
            }
        } catch (Exception | LinkageError e) {
            // Not ours to reach (another user's JVM, one without management, one stopping): not "this" connector.
            LOG.debug("Process {} not reachable: {}", descriptor.id(), e.toString());
        }
        closeQuietly(jmx);
        return Optional.empty();
    }

    public long pid() {
        return pid;
    }

    public String registerWebhook() throws Exception {
        return (String) server.invoke(operations, "registerWebhook", new Object[0], new String[0]);
    }

    public int replayDeadLetters(Long id) throws Exception {
        return (Integer) server.invoke(operations, "replayDeadLetters", new Object[] { id == null ? -1L : id },
                new String[] { long.class.getName() });
    }

    public String reconcile(boolean dryRun) throws Exception {
        return (String) server.invoke(operations, "reconcile", new Object[] { dryRun }, new String[] { boolean.class.getName() });
    }

    @Override
    public void close() {
        closeQuietly(connector);
    }

    private static void closeQuietly(JMXConnector c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception ignored) {
                // already gone
            }
        }
    }
}
