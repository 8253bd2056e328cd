package dev.cosell.connector;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import dev.cosell.connector.sandbox.SandboxDemo;

/**
 * Command line:
 * <pre>
 *   java -jar cosell-connector.jar                     run the connector (routes/ and application.properties beside it)
 *   java -jar cosell-connector.jar --sandbox [--stay]  the demo: emulators + connector, prints what happened
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
        Path config = Path.of("application.properties");
        Map<String, String> overrides = new LinkedHashMap<>();
        boolean sandbox = false;
        boolean stay = false;
        boolean registerWebhook = false;
        String replay = null;
        boolean reconcile = false;
        boolean dryRun = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--sandbox" -> sandbox = true;
                case "--stay" -> stay = true;
                case "--register-webhook" -> registerWebhook = true;
                case "--replay-dead-letter" -> replay = value(args, ++i, "--replay-dead-letter");
                case "--reconcile" -> reconcile = true;
                case "--dry-run" -> dryRun = true;
                case "--config" -> config = Path.of(value(args, ++i, "--config"));
                case "--set" -> {
                    String kv = value(args, ++i, "--set");
                    int eq = kv.indexOf('=');
                    if (eq < 1) {
                        usage("--set expects key=value, got " + kv);
                    }
                    overrides.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
                case "-h", "--help" -> usage(null);
                default -> usage("unknown argument " + args[i]);
            }
        }
        if (sandbox) {
            int code = SandboxDemo.run(config, overrides, stay);
            System.exit(code);
        }
        if (registerWebhook) {
            // Only the registration: no schedules, no start-up registration on top of this one.
            overrides.putIfAbsent("partnercenter.webhook.register-on-startup", "false");
            overrides.putIfAbsent("camel.server.enabled", "false");
            try (ConnectorRuntime runtime = ConnectorRuntime.start(config, overrides)) {
                String outcome = runtime.registerWebhook();
                System.out.println("Webhook registration: " + outcome);
                System.exit("conflict".equals(outcome) ? 3 : 0);
            }
        }
        if (reconcile) {
            // A one-off run beside (or instead of) the running connector: its own ports, no registration.
            overrides.putIfAbsent("partnercenter.webhook.register-on-startup", "false");
            overrides.putIfAbsent("camel.server.port", "0");
            overrides.putIfAbsent("camel.management.enabled", "false");
            try (ConnectorRuntime runtime = ConnectorRuntime.start(config, overrides)) {
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
            // Replays into the running pipeline of this process, waits for it to drain, then exits.
            overrides.putIfAbsent("partnercenter.webhook.register-on-startup", "false");
            try (ConnectorRuntime runtime = ConnectorRuntime.start(config, overrides)) {
                int n = runtime.replayDeadLetters("all".equalsIgnoreCase(replay) ? null : Long.valueOf(replay));
                System.out.println("Dead letters replayed: " + n);
                runtime.awaitIdle(java.time.Duration.ofMinutes(5));
            }
            System.exit(0);
        }
        ConnectorRuntime.start(config, overrides).awaitShutdown();
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            usage(option + " needs a value");
        }
        return args[i];
    }

    private static void usage(String problem) {
        if (problem != null) {
            System.err.println(problem);
        }
        System.err.println("""
                usage: java -jar target/cosell-connector.jar [--sandbox [--stay]] [--register-webhook]
                                                              [--config FILE] [--set key=value ...]
                  (no option)         run the connector with application.properties and routes/
                  --sandbox           start the emulators, run the connector against them, print what happened
                  --stay              with --sandbox: keep running afterwards (Ctrl+C stops)
                  --register-webhook  run the Partner Center Webhook Registration flow once and exit
                                      (exit code 3 on a conflict)
                  --replay-dead-letter ID|all  re-send one or all open dead letters to their flow
                  --reconcile [--dry-run]      backfill / reconcile referrals now; --dry-run prints the plan only
                  --config FILE       properties file (default application.properties)
                  --set key=value     override one property (environment variables override too)""");
        System.exit(problem == null ? 0 : 2);
    }
}
