package dev.cosell.connector;

import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * Command line:
 * <pre>
 *   java -jar cosell-connector.jar                     run the connector (routes/ and application.properties beside it)
 *   java -jar cosell-connector.jar --register-webhook  run the webhook registration flow once and exit
 *   java -jar cosell-connector.jar --replay-dead-letter ID|all   re-send dead letters into their flow
 *   java -jar cosell-connector.jar --reconcile [--dry-run]       backfill / reconcile now (or print the plan)
 *   options: --config FILE (default application.properties), --set key=value (repeatable)
 * </pre>
 */
public final class CosellConnector {

    private CosellConnector() {
    }

    public static void main(String[] args) throws Exception {
        // A command word first (sign-in, provision, doctor), or none: run the connector.
        String command = args.length > 0 && !args[0].startsWith("-") ? args[0] : "run";
        String[] rest = command.equals("run") && (args.length == 0 || args[0].startsWith("-")) ? args
                : java.util.Arrays.copyOfRange(args, 1, args.length);
        CommandLine cli;
        try {
            cli = CommandLine.parse(rest, Set.of("--register-webhook", "--reconcile", "--dry-run", "--adopt", "--browser",
                    "--version", "-h", "--help"), Set.of("--replay-dead-letter"));
        } catch (CommandLine.UsageException e) {
            usage(e.getMessage());
            return;
        }
        if (cli.has("-h") || cli.has("--help")) {
            usage(null);
        }
        if (cli.has("--version")) {
            String version = CosellConnector.class.getPackage().getImplementationVersion();
            System.out.println("cosell-connector " + (version == null ? "(development build)" : version));
            System.exit(0);
        }
        switch (command) {
            case "run" -> run(cli);
            case "sign-in" -> System.exit(dev.cosell.connector.cli.SignInCommand.run(cli));
            case "provision" -> System.exit(dev.cosell.connector.cli.ProvisionCommand.run(cli));
            case "doctor" -> System.exit(dev.cosell.connector.cli.DoctorCommand.run(cli));
            default -> usage("unknown command " + command);
        }
    }

    private static void run(CommandLine cli) throws Exception {
        Path config = cli.config();
        Map<String, String> overrides = cli.overrides();
        boolean registerWebhook = cli.has("--register-webhook");
        String replay = cli.options().get("--replay-dead-letter");
        boolean reconcile = cli.has("--reconcile");
        boolean dryRun = cli.has("--dry-run");
        if (registerWebhook || reconcile || replay != null) {
            // Asked of the connector already running on this store, when there is one: never a second one beside it.
            String store = dev.cosell.connector.store.ConnectorStore.identity(ConfigCheck.resolver(config, overrides)
                    .apply("store.url").orElse(""));
            var running = dev.cosell.connector.cli.RunningConnector.find(store);
            if (running.isPresent()) {
                try (var node = running.get()) {
                    System.out.println("Sent to the running connector (pid " + node.pid() + ").");
                    if (registerWebhook) {
                        String outcome = node.registerWebhook();
                        System.out.println("Webhook registration: " + outcome);
                        System.exit("conflict".equals(outcome) ? 3 : 0);
                    } else if (reconcile) {
                        System.out.println(node.reconcile(dryRun));
                    } else {
                        System.out.println("Dead letters replayed: "
                                + node.replayDeadLetters("all".equalsIgnoreCase(replay) ? null : Long.valueOf(replay)));
                    }
                }
                System.exit(0);
            }
            System.out.println("No connector runs on this store: running the command in a connector of its own.");
        }
        if (registerWebhook) {
            // Only the registration: no schedules, no start-up registration on top of this one.
            overrides.putIfAbsent("partnercenter.webhook.register-on-startup", "false");
            overrides.putIfAbsent("camel.server.enabled", "false");
            try (ConnectorRuntime runtime = startOrExit(config, overrides)) {
                String outcome = runtime.registerWebhook();
                System.out.println("Webhook registration: " + outcome);
                System.exit("conflict".equals(outcome) ? 3 : 0);
            }
        }
        if (reconcile) {
            // No connector runs: this one does the run, on its own ports, without registering.
            overrides.putIfAbsent("partnercenter.webhook.register-on-startup", "false");
            overrides.putIfAbsent("camel.server.port", "0");
            overrides.putIfAbsent("camel.management.enabled", "false");
            try (ConnectorRuntime runtime = startOrExit(config, overrides)) {
                var result = runtime.reconcile(dryRun);
                if (dryRun) {
                    System.out.println("Dry run: nothing was written. Plan:");
                    result.plan().forEach(line -> System.out.println("  " + line));
                }
                System.out.println("Reconciliation: " + result.status());
                runtime.awaitIdle(java.time.Duration.ofMinutes(5));
            }
            System.exit(0);
        }
        if (replay != null) {
            // Replays into the pipeline of this process, waits for it to drain, then exits.
            overrides.putIfAbsent("partnercenter.webhook.register-on-startup", "false");
            try (ConnectorRuntime runtime = startOrExit(config, overrides)) {
                int n = runtime.replayDeadLetters("all".equalsIgnoreCase(replay) ? null : Long.valueOf(replay));
                System.out.println("Dead letters replayed: " + n);
                runtime.awaitIdle(java.time.Duration.ofMinutes(5));
            }
            System.exit(0);
        }
        startOrExit(config, overrides).awaitShutdown();
    }

    /** Exit codes: a configuration with problems (each listed), a port that cannot be bound. */
    public static final int EXIT_CONFIGURATION = 5;
    public static final int EXIT_PORT_IN_USE = 4;

    /**
     * Runs the connector; a configuration with problems ends it with exit code 5 and every problem listed,
     * a port that cannot be bound with exit code 4 and the port named: one message, no stack trace.
     */
    static ConnectorRuntime startOrExit(Path config, Map<String, String> overrides) throws Exception {
        try {
            return ConnectorRuntime.start(config, overrides);
        } catch (ServerPorts.PortInUseException e) {
            System.err.println("cosell-connector: " + e.getMessage());
            System.exit(EXIT_PORT_IN_USE);
            throw e;
        } catch (ConfigCheck.InvalidConfigurationException e) {
            System.err.println("cosell-connector: " + e.getMessage());
            System.exit(EXIT_CONFIGURATION);
            throw e;
        } catch (IllegalArgumentException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("Configuration file not found")) {
                System.err.println("cosell-connector: " + e.getMessage());
                System.exit(EXIT_CONFIGURATION);
            }
            throw e;
        }
    }

    private static void usage(String problem) {
        if (problem != null) {
            System.err.println(problem);
        }
        System.err.println("""
                usage: cosell-connector [sign-in | provision [--dry-run] [--adopt] | doctor]
                                        [--register-webhook | --replay-dead-letter ID|all | --reconcile [--dry-run]]
                                        [--config FILE] [--set key=value ...]
                  (no option)         run the connector with application.properties and routes/
                  sign-in             sign the Partner Center user in (device code); stores the refresh token
                  provision           create or check the Dataverse columns, choices, key and change tracking;
                                      --dry-run prints the plan, --adopt maps Microsoft's existing columns
                  doctor              check the configuration and every remote; a checklist with fixes
                  (the sandbox demo is java -jar src/sandbox/target/cosell-sandbox.jar [--stay])
                  --register-webhook  run the Partner Center Webhook Registration flow once and exit
                                      (exit code 3 on a conflict)
                  --replay-dead-letter ID|all  re-send one or all open dead letters to their flow
                  --reconcile [--dry-run]      backfill / reconcile referrals now; --dry-run prints the plan only
                                      (these three ask the connector running on the same store, when one
                                      runs, through its JMX operations; otherwise they run alone)
                  --version           print the version
                  --config FILE       properties file (default application.properties)
                  --set key=value     override one property (environment variables override too)""");
        System.exit(problem == null ? 0 : 2);
    }
}
