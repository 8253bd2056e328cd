package dev.cosell.connector.dataverse;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.apache.camel.Exchange;

/**
 * Where the connector's own columns are in this environment: role → logical name, from the settings
 * {@code dataverse.column.<role>} (the one place column names are configured; provision --adopt writes
 * them), the contract's name when a role has no setting.
 * <p>
 * The mappings, routes and beans are written against the contract's names (routes/mappings/dataverse-columns.json).
 * When a role is given another column, every data call to Dataverse is translated on the wire by the
 * {@code dataverse} request route: path, query and body on the way out, the answer on the way back. The
 * metadata API (EntityDefinitions, PublishXml, publishers, solutions) is never translated: provisioning
 * speaks the real names. With every role at its contract name (the default) nothing is touched.
 */
public final class DataverseColumnNames {

    /** The property that gives a role's column. */
    public static String settingKey(String role) {
        return "dataverse.column." + role;
    }

    private static final Pattern LOGICAL_NAME = Pattern.compile("[a-z][a-z0-9_]{0,49}");
    private static final Pattern METADATA_PATH = Pattern.compile(
            "^/?(EntityDefinitions|GlobalOptionSetDefinitions|RelationshipDefinitions|PublishXml|PublishAllXml"
                    + "|InsertOptionValue|publishers|solutions|solutioncomponents)\\b.*");

    private final Map<String, String> byRole = new LinkedHashMap<>();
    private final Map<String, String> toDataverse = new LinkedHashMap<>();
    private final Map<String, String> fromDataverse = new LinkedHashMap<>();
    private final Pattern outPattern;
    private final Pattern inPattern;

    /** {@code setting} returns a property's value or null. */
    public DataverseColumnNames(ColumnContract contract, Function<String, String> setting) {
        Map<String, String> taken = new LinkedHashMap<>();
        for (ColumnContract.Column c : contract.roles()) {
            String v = setting.apply(settingKey(c.role()));
            String actual = v == null || v.isBlank() ? c.name() : v.trim().toLowerCase(java.util.Locale.ROOT);
            if (!LOGICAL_NAME.matcher(actual).matches()) {
                throw new IllegalArgumentException("Property " + settingKey(c.role()) + " must be a column's logical name"
                        + " (lower case letters, digits, _), not '" + v + "'");
            }
            String other = taken.put(c.table() + "." + actual, c.role());
            if (other != null) {
                throw new IllegalArgumentException("Properties " + settingKey(other) + " and " + settingKey(c.role())
                        + " name the same column " + c.table() + "." + actual);
            }
            byRole.put(c.role(), actual);
            if (!actual.equals(c.name())) {
                toDataverse.put(c.name(), actual);
                fromDataverse.put(actual, c.name());
            }
        }
        outPattern = pattern(toDataverse);
        inPattern = pattern(fromDataverse);
    }

    private static Pattern pattern(Map<String, String> names) {
        return names.isEmpty() ? null : Pattern.compile("(?<![A-Za-z0-9_])("
                + names.keySet().stream().map(Pattern::quote).collect(Collectors.joining("|")) + ")(?![A-Za-z0-9_])");
    }

    /** The logical name of a role's column in this environment. */
    public String column(String role) {
        String name = byRole.get(role);
        if (name == null) {
            throw new IllegalArgumentException("no column role " + role + " in dataverse-columns.json");
        }
        return name;
    }

    /** Role → logical name, every role. */
    public Map<String, String> columns() {
        return Map.copyOf(byRole);
    }

    /** Whether any role is somewhere else than its contract name. */
    public boolean renames() {
        return outPattern != null;
    }

    public String toDataverse(String text) {
        return replace(text, outPattern, toDataverse);
    }

    public String fromDataverse(String text) {
        return replace(text, inPattern, fromDataverse);
    }

    private static String replace(String text, Pattern p, Map<String, String> names) {
        if (p == null || text == null || text.isEmpty()) {
            return text;
        }
        Matcher m = p.matcher(text);
        StringBuilder sb = new StringBuilder(text.length() + 32);
        while (m.find()) {
            m.appendReplacement(sb, Matcher.quoteReplacement(names.get(m.group(1))));
        }
        m.appendTail(sb);
        return sb.toString();
    }

    /** The request about to be sent (dataverse route): path, query and body in this environment's names. */
    public void outbound(Exchange exchange) {
        if (outPattern == null) {
            return;
        }
        var in = exchange.getMessage();
        String path = in.getHeader(Exchange.HTTP_PATH, String.class);
        if (path != null && METADATA_PATH.matcher(path).matches()) {
            exchange.setProperty("dataverseColumnsAsIs", true);
            return;
        }
        exchange.removeProperty("dataverseColumnsAsIs");
        in.setHeader(Exchange.HTTP_PATH, toDataverse(path));
        String query = in.getHeader(Exchange.HTTP_QUERY, String.class);
        if (query != null) {
            in.setHeader(Exchange.HTTP_QUERY, toDataverse(query));
        }
        if (in.getBody() != null) {
            in.setBody(toDataverse(in.getBody(String.class)));
        }
    }

    /** The answer just received (dataverse route): back in the contract's names. */
    public void inbound(Exchange exchange) {
        if (inPattern == null || Boolean.TRUE.equals(exchange.getProperty("dataverseColumnsAsIs"))) {
            return;
        }
        var in = exchange.getMessage();
        if (in.getBody() != null) {
            in.setBody(fromDataverse(in.getBody(String.class)));
        }
    }
}
