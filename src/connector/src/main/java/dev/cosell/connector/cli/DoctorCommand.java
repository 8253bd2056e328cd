package dev.cosell.connector.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import dev.cosell.connector.CommandLine;
import dev.cosell.connector.ConfigCheck;
import dev.cosell.connector.ConnectorRuntime;
import dev.cosell.connector.ServerPorts;
import dev.cosell.connector.auth.BearerToken;
import dev.cosell.connector.auth.EntraTokenProvider;
import dev.cosell.connector.store.ConnectorStore;
import org.apache.camel.CamelContext;
import org.apache.camel.Exchange;
import org.apache.camel.http.base.HttpOperationFailedException;

/**
 * {@code cosell-connector doctor}: the configuration first (every problem at once), then each remote
 * system, as a checklist with a fix for every failure. Exit code 0 when all is well, 5 for a
 * configuration with problems, 6 when a check failed.
 */
public final class DoctorCommand {

    public static final int EXIT_CHECK_FAILED = 6;

    /** One line of the checklist. */
    record Check(String name, boolean ok, String detail, String fix) {
    }

    private DoctorCommand() {
    }

    public static int run(CommandLine cli) throws Exception {
        return run(cli, System.out);
    }

    public static int run(CommandLine cli, PrintStream out) throws Exception {
        out.println("cosell-connector doctor: " + cli.config().toAbsolutePath());
        if (!java.nio.file.Files.isRegularFile(cli.config())) {
            out.println("  FAIL  configuration: no file at " + cli.config().toAbsolutePath()
                    + "\n        fix: pass --config FILE, or run from the folder that holds application.properties");
            return dev.cosell.connector.CosellConnector.EXIT_CONFIGURATION;
        }
        List<ConfigCheck.Problem> problems = ConfigCheck.of(cli.config(), cli.overrides());
        if (!problems.isEmpty()) {
            out.println("  FAIL  configuration: " + problems.size() + (problems.size() == 1 ? " problem" : " problems"));
            problems.forEach(p -> out.println("        - " + p));
            return dev.cosell.connector.CosellConnector.EXIT_CONFIGURATION;
        }
        out.println("  ok    configuration");

        List<Check> checks = new ArrayList<>();
        Map<String, String> overrides = new LinkedHashMap<>(cli.overrides());
        ports(cli, checks);
        // Only what the checks need: no servers, no schedules, no start-up registration.
        overrides.put("camel.server.enabled", "false");
        overrides.put("camel.management.enabled", "false");
        overrides.put("partnercenter.webhook.register-on-startup", "false");
        overrides.put("sync.poll-interval-ms", "86400000");
        overrides.put("partnercenter.webhook.inbox-sweep-ms", "86400000");
        overrides.put("sync.reconciliation.on-startup", "false");
        ConnectorRuntime runtime;
        try {
            runtime = ConnectorRuntime.start(cli.config(), overrides);
        } catch (RuntimeException e) {
            checks.add(new Check("start", false, rootMessage(e), storeFix(e)));
            return report(checks, out);
        }
        try (runtime) {
            CamelContext context = runtime.context();
            store(context, checks);
            tokens(context, checks);
            partnerCenter(runtime, checks);
            dataverse(runtime, context, checks);
            webhook(runtime, context, checks);
        }
        return report(checks, out);
    }

    private static int report(List<Check> checks, PrintStream out) {
        for (Check c : checks) {
            out.println((c.ok() ? "  ok    " : "  FAIL  ") + c.name() + (c.detail() == null ? "" : ": " + c.detail()));
            if (!c.ok() && c.fix() != null) {
                out.println("        fix: " + c.fix());
            }
        }
        long failed = checks.stream().filter(c -> !c.ok()).count();
        out.println(failed == 0 ? "All checks passed." : failed + " of " + checks.size() + " checks failed.");
        return failed == 0 ? 0 : EXIT_CHECK_FAILED;
    }

    private static void ports(CommandLine cli, List<Check> checks) {
        var resolve = ConfigCheck.resolver(cli.config(), cli.overrides());
        java.util.function.Function<String, String> values = k -> resolve.apply(k).map(String::trim).orElse(null);
        for (String prefix : List.of("camel.server", "camel.management")) {
            if (!"true".equalsIgnoreCase(values.apply(prefix + ".enabled"))) {
                continue;
            }
            String host = values.apply(prefix + ".host");
            int port = Integer.parseInt(values.apply(prefix + ".port"));
            String why = port == 0 ? null : ServerPorts.whyNotFree(host == null ? "0.0.0.0" : host, port);
            checks.add(new Check("port " + port + " (" + prefix + ".port)", why == null, why == null ? "free" : why,
                    "stop what listens there (a connector already running?), or set " + prefix + ".port"));
        }
    }

    private static void store(CamelContext context, List<Check> checks) {
        ConnectorStore store = context.getRegistry().lookupByNameAndType("dataSource", ConnectorStore.class);
        var m = store.migration();
        String version = m.targetSchemaVersion != null ? m.targetSchemaVersion : m.initialSchemaVersion;
        checks.add(new Check("store", true, "schema version " + version + (m.migrationsExecuted > 0
                ? " (" + m.migrationsExecuted + " migrations applied now)" : " (current)"), null));
    }

    private static void tokens(CamelContext context, List<Check> checks) {
        for (String[] t : new String[][] { { "partnerCenterToken", "Partner Center (referrals)" },
                { "partnerCenterWebhooksToken", "Partner Center (webhooks)" }, { "dataverseToken", "Dataverse" } }) {
            BearerToken token = context.getRegistry().lookupByNameAndType(t[0], BearerToken.class);
            String name = "token for " + t[1] + " (" + token.mode().name().toLowerCase() + ", " + token.scope() + ")";
            attempt(checks, name, () -> {
                token.header();
                return "issued";
            });
        }
    }

    private static void partnerCenter(ConnectorRuntime runtime, List<Check> checks) {
        attempt(checks, "Partner Center referrals list for the signed-in user", () -> {
            Object page = call(runtime, "direct:partner-center", "GET", "v1.0/engagements/referrals", "$top=1", null);
            return page instanceof Map<?, ?> m && m.get("value") instanceof List<?> l ? "answers (" + l.size() + " on a probe page)"
                    : "answers";
        });
    }

    private static void dataverse(ConnectorRuntime runtime, CamelContext context, List<Check> checks) {
        attempt(checks, "Dataverse reachable as the application user", () -> {
            Object who = call(runtime, "direct:dataverse", "GET", "WhoAmI", null, null);
            return who instanceof Map<?, ?> m ? "user " + m.get("UserId") : "answers";
        });
        String columns = context.getPropertiesComponent().resolveProperty("sync.dataverse.opportunity-columns").orElse("");
        attempt(checks, "opportunity columns the connector reads and writes (" + columns.split(",").length + ")", () -> {
            call(runtime, "direct:dataverse", "GET", "opportunities", "$select=" + columns + "&$top=1", null);
            return "all present";
        });
        String referralId = context.getPropertiesComponent().resolveProperty("dataverse.column.referral-id").orElseThrow();
        attempt(checks, "alternate key on the referral id (" + referralId + ")", () -> {
            Object keys = call(runtime, "direct:dataverse", "GET", "EntityDefinitions(LogicalName='opportunity')/Keys",
                    "$select=LogicalName,KeyAttributes,EntityKeyIndexStatus", null);
            if (keys instanceof Map<?, ?> m && m.get("value") instanceof List<?> list) {
                for (Object k : list) {
                    if (k instanceof Map<?, ?> key && String.valueOf(key.get("KeyAttributes")).contains(referralId)) {
                        if ("Active".equals(String.valueOf(key.get("EntityKeyIndexStatus")))) {
                            return "Active";
                        }
                        throw new IllegalStateException("the key is " + key.get("EntityKeyIndexStatus") + ", not Active");
                    }
                }
            }
            throw new IllegalStateException("no alternate key on " + referralId);
        });
        attempt(checks, "change tracking on opportunity", () -> {
            Object table = call(runtime, "direct:dataverse", "GET", "EntityDefinitions(LogicalName='opportunity')",
                    "$select=ChangeTrackingEnabled", null);
            if (table instanceof Map<?, ?> m && Boolean.TRUE.equals(m.get("ChangeTrackingEnabled"))) {
                return "on";
            }
            throw new IllegalStateException("change tracking is off");
        });
    }

    private static void webhook(ConnectorRuntime runtime, CamelContext context, List<Check> checks) {
        String callback = context.getPropertiesComponent().resolveProperty("partnercenter.webhook.callback-url").orElse("");
        attempt(checks, "webhook registration (" + callback + ")", () -> {
            String state = runtime.template().requestBody("direct:partner-center-webhook-registration-check", null, String.class);
            if (!"ours".equals(state)) {
                throw new IllegalStateException("missing".equals(state) ? "not registered"
                        : "Partner Center posts to another URL (foreign registration)");
            }
            return "ours";
        });
    }

    /** One call through the shared request route; the parsed answer. */
    private static Object call(ConnectorRuntime runtime, String system, String method, String path, String query, Object body) {
        Exchange result = runtime.template().request(system, e -> {
            e.getMessage().setHeader(Exchange.HTTP_METHOD, method);
            e.getMessage().setHeader(Exchange.HTTP_PATH, path);
            if (query != null) {
                e.getMessage().setHeader(Exchange.HTTP_QUERY, query);
            }
            e.getMessage().setHeader("answer", "doctorAnswer");
            e.getMessage().setBody(body);
        });
        if (result.getException() != null) {
            throw result.getException() instanceof RuntimeException r ? r
                    : new org.apache.camel.RuntimeCamelException(result.getException());
        }
        return result.getVariable("doctorAnswer");
    }

    private static void attempt(List<Check> checks, String name, Supplier<String> check) {
        try {
            checks.add(new Check(name, true, check.get(), null));
        } catch (RuntimeException e) {
            checks.add(new Check(name, false, rootMessage(e), fix(name, e)));
        }
    }

    /** What to do about a failed check, from what failed. */
    static String fix(String name, Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof EntraTokenProvider.TokenException token) {
                String code = String.valueOf(token.errorCode());
                if (code.contains("invalid_grant") || String.valueOf(token.getMessage()).contains("refresh")) {
                    return "sign the Partner Center user in again: cosell-connector sign-in";
                }
                if (String.valueOf(token.getMessage()).contains("AADSTS7000215")) {
                    return "auth.client-secret is wrong: use the secret's value (not its id) from the app registration";
                }
                if (String.valueOf(token.getMessage()).contains("AADSTS700016")) {
                    return "auth.client-id is not an app in tenant auth.tenant-id: check both";
                }
                return "check the app registration (auth.tenant-id, auth.client-id, its secret or certificate) and its API permissions";
            }
            if (t instanceof HttpOperationFailedException h) {
                int status = h.getStatusCode();
                if (name.startsWith("opportunity columns") && status == 400) {
                    return "create the missing columns: cosell-connector provision (or --adopt Microsoft's)";
                }
                if (status == 401 || status == 403) {
                    return name.startsWith("Dataverse") || name.contains("key") || name.contains("change tracking")
                            ? "give the application user a security role with the connector's privileges in the environment"
                            : "the signed-in user needs the Referrals admin role in Partner Center";
                }
                if (status == 404 && (name.contains("key") || name.contains("change tracking"))) {
                    return "cosell-connector provision";
                }
                return "the service answered " + status + ": see the detail above";
            }
            if (t instanceof java.net.UnknownHostException || t instanceof java.net.ConnectException) {
                return "cannot reach the host: check the URL setting and the network (proxy, firewall)";
            }
            if (t instanceof javax.net.ssl.SSLException) {
                return "TLS failed: check tls.truststore if a proxy re-signs traffic";
            }
        }
        if (name.contains("alternate key") || name.contains("change tracking")) {
            return "cosell-connector provision";
        }
        if (name.startsWith("webhook")) {
            return "cosell-connector --register-webhook (set partnercenter.webhook.overwrite=true to take over another URL)";
        }
        return null;
    }

    private static String storeFix(Throwable e) {
        String m = rootMessage(e);
        if (m.contains("already in use") || m.contains("locked")) {
            return "a connector is running on this store: stop it, or run the doctor against its configuration while it runs";
        }
        return "see the message above";
    }

    /** The message that says what went wrong: a token or HTTP failure's own, else the deepest cause's. */
    static String rootMessage(Throwable e) {
        String message = e.getMessage();
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof HttpOperationFailedException h) {
                return h.getStatusCode() + " " + firstLine(h.getResponseBody());
            }
            if (t instanceof EntraTokenProvider.TokenException) {
                return firstLine(t.getMessage());
            }
            if (t.getMessage() != null) {
                message = t.getMessage();
            }
        }
        return firstLine(message);
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        String line = s.lines().findFirst().orElse("");
        return line.length() > 300 ? line.substring(0, 300) + "…" : line;
    }
}
