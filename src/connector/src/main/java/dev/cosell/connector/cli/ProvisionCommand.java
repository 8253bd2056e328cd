package dev.cosell.connector.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import org.apache.camel.Exchange;
import org.apache.camel.http.base.HttpOperationFailedException;

import dev.cosell.connector.CommandLine;
import dev.cosell.connector.ConnectorRuntime;
import dev.cosell.connector.Settings;
import dev.cosell.connector.dataverse.ColumnContract;
import dev.cosell.connector.dataverse.DataverseColumnNames;
import dev.cosell.connector.provision.Provisioning;

/**
 * {@code cosell-connector provision [--dry-run] [--adopt]}: creates or checks, through the Dataverse
 * metadata Web API, what the connector needs in Dataverse (see {@link Provisioning}), and publishes it.
 * The calls go through the connector's own {@code direct:dataverse} (token, breaker) in a runtime
 * started without servers, schedules or flows. {@code --dry-run} prints the plan and writes nothing;
 * {@code --adopt} first maps the connector's columns to existing ones by display name and writes
 * {@code dataverse.column.<role>} into the configuration file. Exit code 0 when everything is in place,
 * 1 when a problem is left (listed), 2 on a usage error.
 */
public final class ProvisionCommand {

    private ProvisionCommand() {
    }

    /** Returns the process exit code. */
    public static int run(CommandLine cli) throws Exception {
        return run(cli.config(), cli.overrides(), cli.has("--dry-run"), cli.has("--adopt"), System.out);
    }

    public static int run(Path config, Map<String, String> overrides, boolean dryRun, boolean adopt, PrintStream out)
            throws Exception {
        Map<String, String> o = new LinkedHashMap<>(overrides);
        o.putIfAbsent("partnercenter.webhook.register-on-startup", "false");
        o.putIfAbsent("camel.server.enabled", "false");
        o.putIfAbsent("camel.management.enabled", "false");
        // Only the request routes (and what they need): no flow, poll or schedule runs beside provisioning.
        o.putIfAbsent("camel.main.routes-include-pattern", requestRoutesOnly(config));
        try (ConnectorRuntime runtime = ConnectorRuntime.start(config, o)) {
            Settings settings = new Settings(runtime.context());
            ColumnContract contract = ColumnContract.load(settings.require("sync.mappings-dir"));
            DataverseColumnNames names = runtime.context().getRegistry().lookupByNameAndType("dataverseColumnNames",
                    DataverseColumnNames.class);
            Provisioning provisioning = new Provisioning(contract, names.columns(), calls(runtime),
                    Duration.ofSeconds(settings.requireInt("dataverse.provision.key-timeout-seconds")),
                    Duration.ofMillis(settings.requireInt("dataverse.provision.key-poll-millis")));
            out.println((dryRun ? "Dry run: nothing is written. " : "") + "Provisioning " + settings.require("dataverse.url")
                    + " (solution " + contract.solution().uniqueName() + ", publisher " + contract.publisher().uniqueName() + ")");
            Provisioning.Outcome plan;
            try {
                plan = provisioning.plan(adopt);
            } catch (RuntimeException e) {
                out.println("Cannot read the table definitions: " + describe(e));
                return 1;
            }
            if (adopt) {
                out.println("Adopted (role -> column):" + (plan.adopted().isEmpty() ? " none" : ""));
                plan.adopted().forEach((role, column) -> out.println("  " + role + " -> " + column));
                if (!plan.unmatched().isEmpty()) {
                    out.println("Not matched:");
                    plan.unmatched().forEach(u -> out.println("  " + u));
                }
                if (!dryRun && !plan.adopted().isEmpty()) {
                    Map<String, String> settingsToWrite = new LinkedHashMap<>();
                    plan.adopted().forEach((role, column) -> settingsToWrite.put(DataverseColumnNames.settingKey(role), column));
                    writeSettings(config, settingsToWrite);
                    out.println("Wrote " + settingsToWrite.size() + " dataverse.column.* settings into " + config);
                    settingsToWrite.keySet().stream().filter(k -> o.containsKey(k) || System.getenv(Settings.envName(k)) != null)
                            .forEach(k -> out.println("  note: " + k + " is also set by --set or " + Settings.envName(k)
                                    + ", which wins over the file"));
                }
            }
            if (plan.plan().isEmpty()) {
                out.println("Nothing to change: " + plan.inPlace() + " columns, keys and settings are in place.");
            } else {
                out.println((dryRun ? "Plan" : "Changes") + " (" + plan.plan().size() + "):");
                plan.plan().forEach(step -> out.println("  + " + step));
            }
            Provisioning.Outcome done = plan;
            if (!dryRun && !plan.plan().isEmpty()) {
                try {
                    done = provisioning.apply();
                } catch (RuntimeException e) {
                    out.println("Stopped: " + describe(e));
                    out.println("Run provision again: what was done is kept, nothing is created twice.");
                    return 1;
                }
                out.println("Done: " + plan.plan().size() + " changes made.");
            }
            if (!done.problems().isEmpty()) {
                out.println("Problems (" + done.problems().size() + "), not changed by provision:");
                done.problems().forEach(p -> out.println("  ! " + p));
                return 1;
            }
            return 0;
        }
    }

    /** The routes-include pattern of the config with the request routes only (remote calls, error handling, beans). */
    private static String requestRoutesOnly(Path config) throws IOException {
        java.util.Properties p = new java.util.Properties();
        try (var in = Files.newBufferedReader(config, StandardCharsets.UTF_8)) {
            p.load(in);
        }
        String pattern = p.getProperty("camel.main.routes-include-pattern", "file:routes/*.camel.yaml").trim();
        if (!pattern.endsWith("*.camel.yaml") || pattern.contains(",")) {
            return pattern;
        }
        String dir = pattern.substring(0, pattern.length() - "*.camel.yaml".length());
        List<String> files = List.of("remote-calls", "error-handling", "beans");
        return String.join(",", files.stream().map(f -> dir + f + ".camel.yaml").toList());
    }

    /** Metadata calls through direct:dataverse (token, circuit breaker), the answer parsed. */
    private static Provisioning.Calls calls(ConnectorRuntime runtime) {
        return (method, path, query, body, headers, notFoundIsNull) -> {
            Exchange ex = runtime.template().request("direct:dataverse", e -> {
                var m = e.getMessage();
                m.setHeader(Exchange.HTTP_METHOD, method);
                m.setHeader(Exchange.HTTP_PATH, path);
                if (query != null) {
                    m.setHeader(Exchange.HTTP_QUERY, encodeQuery(query));
                }
                headers.forEach(m::setHeader);
                m.setHeader("answer", "metadata");
                if (notFoundIsNull) {
                    m.setHeader("notFound", "null");
                }
                m.setBody(body);
            });
            if (ex.getException() != null) {
                throw ex.getException() instanceof RuntimeException r ? r : new IllegalStateException(ex.getException());
            }
            return ex.getVariable("metadata");
        };
    }

    /** name=value pairs with the values percent-encoded (spaces, quotes, parentheses of $filter/$expand). */
    static String encodeQuery(String query) {
        List<String> parts = new ArrayList<>();
        for (String part : query.split("&")) {
            int eq = part.indexOf('=');
            String value = part.substring(eq + 1);
            parts.add(part.substring(0, eq + 1) + java.net.URLEncoder.encode(value, StandardCharsets.UTF_8).replace("+", "%20"));
        }
        return String.join("&", parts);
    }

    private static String describe(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof HttpOperationFailedException h) {
                return h.getStatusCode() + " from " + h.getUri() + ": " + h.getResponseBody();
            }
        }
        return String.valueOf(e.getMessage());
    }

    /**
     * Sets properties in a properties file: a line {@code key = …} already there is replaced, the others are
     * appended under a comment; everything else of the file stays as it was.
     */
    public static void writeSettings(Path file, Map<String, String> settings) throws IOException {
        List<String> lines = new ArrayList<>(Files.readAllLines(file, StandardCharsets.UTF_8));
        Map<String, String> left = new LinkedHashMap<>(settings);
        for (int i = 0; i < lines.size(); i++) {
            for (var s : settings.entrySet()) {
                if (Pattern.compile("^\\s*" + Pattern.quote(s.getKey()) + "\\s*[=:].*").matcher(lines.get(i)).matches()) {
                    lines.set(i, s.getKey() + " = " + s.getValue());
                    left.remove(s.getKey());
                }
            }
        }
        if (!left.isEmpty()) {
            lines.add("");
            lines.add("## Columns adopted by cosell-connector provision --adopt (" + java.time.LocalDate.now() + ")");
            left.forEach((k, v) -> lines.add(k + " = " + v));
        }
        Files.write(file, lines, StandardCharsets.UTF_8);
    }
}
