package dev.cosell.connector.provision;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

import dev.cosell.connector.dataverse.ColumnContract;
import dev.cosell.connector.dataverse.ColumnContract.Column;

/**
 * What {@code cosell-connector provision} does, through the Dataverse metadata Web API: reads the
 * publisher, the solution and each table's definition (columns, choices, keys, change tracking), compares
 * them with the column contract, and plans the steps that are missing — the publisher and solution of the
 * connector, each missing column of ours (in that solution, MSCRM.SolutionUniqueName), each missing choice
 * value, the alternate keys (then waits until Dataverse reports them Active), change tracking of the polled
 * tables, and one PublishXml of the tables it changed. What it cannot fix (a standard column missing, a
 * column of the wrong type or too short, a key that failed) is a problem, reported, never changed.
 * Nothing is planned for what is already in place, so a second run changes nothing.
 * <p>
 * {@code adopt} first matches the connector's roles to existing columns by display name (Microsoft's co-sell
 * solution's columns) and plans with those names; the caller writes them into the settings.
 */
public final class Provisioning {

    /** One metadata call to Dataverse; the parsed JSON answer (Map, List), or null (204, or 404 when allowed). */
    public interface Calls {
        Object call(String method, String path, String query, Object body, Map<String, String> headers, boolean notFoundIsNull);
    }

    /** A planned change. */
    public record Step(String what, Runnable apply) {
    }

    /** What a run found and did. */
    public record Outcome(List<String> plan, List<String> problems, Map<String, String> adopted, List<String> unmatched,
            int inPlace) {
    }

    private static final int LANGUAGE = 1033;

    private final ColumnContract contract;
    private final Map<String, String> names;
    private final Calls calls;
    private final Duration keyTimeout;
    private final Duration keyPoll;
    private final List<Step> steps = new ArrayList<>();
    private final List<String> problems = new ArrayList<>();
    private final Map<String, String> adopted = new LinkedHashMap<>();
    private final List<String> unmatched = new ArrayList<>();
    private final Set<String> changedTables = new LinkedHashSet<>();
    private final List<String[]> keysToAwait = new ArrayList<>();
    private int inPlace;
    private String publisherId;

    /** {@code names}: role → the logical name in use (the settings). */
    public Provisioning(ColumnContract contract, Map<String, String> names, Calls calls, Duration keyTimeout, Duration keyPoll) {
        this.contract = contract;
        this.names = new LinkedHashMap<>(names);
        this.calls = calls;
        this.keyTimeout = keyTimeout;
        this.keyPoll = keyPoll;
    }

    /** Reads everything and plans (no write); with {@code adopt}, matches the roles by display name first. */
    public Outcome plan(boolean adopt) {
        String solution = contract.solution().uniqueName();
        planPublisherAndSolution();
        for (var table : contract.tables().entrySet()) {
            planTable(table.getKey(), table.getValue(), adopt, solution);
        }
        if (!changedTables.isEmpty()) {
            StringBuilder xml = new StringBuilder("<importexportxml><entities>");
            changedTables.forEach(t -> xml.append("<entity>").append(t).append("</entity>"));
            xml.append("</entities></importexportxml>");
            steps.add(new Step("publish the customisations of " + String.join(", ", changedTables) + " (PublishXml)",
                    () -> calls.call("POST", "PublishXml", null, Map.of("ParameterXml", xml.toString()), Map.of(), false)));
        }
        return outcome();
    }

    /** Runs the planned steps in order, then waits for new or pending alternate keys to become Active. */
    public Outcome apply() {
        for (Step s : steps) {
            s.apply().run();
        }
        for (String[] key : keysToAwait) {
            awaitKey(key[0], key[1]);
        }
        return outcome();
    }

    private Outcome outcome() {
        return new Outcome(steps.stream().map(Step::what).toList(), List.copyOf(problems), Map.copyOf(adopted),
                List.copyOf(unmatched), inPlace);
    }

    /** Role → logical name after adoption. */
    public Map<String, String> names() {
        return Map.copyOf(names);
    }

    // ------------------------------------------------------------------------------ publisher, solution

    private void planPublisherAndSolution() {
        ColumnContract.Publisher p = contract.publisher();
        Map<String, Object> publisher = first(calls.call("GET", "publishers", "$select=publisherid,uniquename,customizationprefix"
                + "&$filter=uniquename eq '" + p.uniqueName() + "'", null, Map.of(), false));
        if (publisher == null) {
            steps.add(new Step("create publisher " + p.uniqueName() + " (prefix " + p.prefix() + "_, choice values from "
                    + p.optionValuePrefix() + "0000)", () -> {
                        Map<String, Object> body = new LinkedHashMap<>();
                        body.put("uniquename", p.uniqueName());
                        body.put("friendlyname", p.friendlyName());
                        body.put("customizationprefix", p.prefix());
                        body.put("customizationoptionvalueprefix", p.optionValuePrefix());
                        Object created = calls.call("POST", "publishers", "$select=publisherid", body,
                                Map.of("Prefer", "return=representation"), false);
                        publisherId = String.valueOf(((Map<?, ?>) created).get("publisherid"));
                    }));
        } else {
            publisherId = String.valueOf(publisher.get("publisherid"));
            inPlace++;
            if (!p.prefix().equals(publisher.get("customizationprefix"))) {
                problems.add("publisher " + p.uniqueName() + " has the prefix " + publisher.get("customizationprefix")
                        + "_, the connector's columns are " + p.prefix() + "_");
            }
        }
        ColumnContract.Solution s = contract.solution();
        Map<String, Object> solution = first(calls.call("GET", "solutions", "$select=solutionid,uniquename"
                + "&$filter=uniquename eq '" + s.uniqueName() + "'", null, Map.of(), false));
        if (solution == null) {
            steps.add(new Step("create solution " + s.uniqueName() + " " + s.version() + " (publisher " + p.uniqueName()
                    + "): what the connector creates goes into it, to move from staging to production", () -> {
                        Map<String, Object> body = new LinkedHashMap<>();
                        body.put("uniquename", s.uniqueName());
                        body.put("friendlyname", s.friendlyName());
                        body.put("version", s.version());
                        body.put("publisherid@odata.bind", "/publishers(" + publisherId + ")");
                        calls.call("POST", "solutions", null, body, Map.of(), false);
                    }));
        } else {
            inPlace++;
        }
    }

    // ------------------------------------------------------------------------------ a table

    @SuppressWarnings("unchecked")
    private void planTable(String table, List<Column> columns, boolean adopt, String solution) {
        String entity = "EntityDefinitions(LogicalName='" + table + "')";
        Map<String, Object> def = (Map<String, Object>) calls.call("GET", entity,
                "$select=LogicalName,MetadataId,ChangeTrackingEnabled&$expand=Attributes($select=LogicalName,AttributeType,"
                        + "DisplayName),Keys($select=LogicalName,KeyAttributes,EntityKeyIndexStatus)", null, Map.of(), true);
        if (def == null) {
            problems.add("table " + table + " does not exist in this environment");
            return;
        }
        Map<String, Map<String, Object>> attributes = new LinkedHashMap<>();
        for (Object a : (List<Object>) def.getOrDefault("Attributes", List.of())) {
            Map<String, Object> m = (Map<String, Object>) a;
            attributes.put(String.valueOf(m.get("LogicalName")), m);
        }
        Map<String, Integer> lengths = new LinkedHashMap<>();
        for (String cast : new String[] { "StringAttributeMetadata", "MemoAttributeMetadata" }) {
            for (Map<String, Object> a : values(calls.call("GET", entity + "/Attributes/Microsoft.Dynamics.CRM." + cast,
                    "$select=LogicalName,MaxLength", null, Map.of(), false))) {
                if (a.get("MaxLength") instanceof Number n) {
                    lengths.put(String.valueOf(a.get("LogicalName")), n.intValue());
                }
            }
        }
        Map<String, Set<Integer>> options = new LinkedHashMap<>();
        for (Map<String, Object> a : values(calls.call("GET", entity + "/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
                "$select=LogicalName&$expand=OptionSet($select=Options)", null, Map.of(), false))) {
            Set<Integer> vs = new LinkedHashSet<>();
            Object os = a.get("OptionSet");
            if (os instanceof Map<?, ?> set && set.get("Options") instanceof List<?> list) {
                list.forEach(o -> vs.add(((Number) ((Map<?, ?>) o).get("Value")).intValue()));
            }
            options.put(String.valueOf(a.get("LogicalName")), vs);
        }

        if (adopt) {
            adopt(table, columns, attributes);
        }

        for (Column c : columns) {
            String name = c.ours() ? names.getOrDefault(c.role(), c.name()) : c.name();
            Map<String, Object> there = attributes.get(name);
            if (there == null) {
                if (!c.ours()) {
                    problems.add(table + "." + name + " (a standard column) is missing: is this a Dynamics 365 Sales environment?");
                } else if (!name.startsWith(contract.publisher().prefix() + "_")) {
                    problems.add(table + "." + name + " (" + c.role() + ", dataverse.column." + c.role()
                            + ") does not exist, and provision only creates columns with the prefix "
                            + contract.publisher().prefix() + "_");
                } else {
                    planColumn(table, entity, c, name, solution);
                }
                continue;
            }
            String type = String.valueOf(there.get("AttributeType"));
            if (!compatible(c.type(), type)) {
                problems.add(table + "." + name + " is " + type + ", the connector needs " + c.type());
                continue;
            }
            inPlace++;
            Integer length = lengths.get(name);
            if (c.maxLength() != null && length != null && length < c.maxLength()) {
                problems.add(table + "." + name + " holds " + length + " characters, the connector writes up to "
                        + c.maxLength() + " (routes/mappings/dataverse-columns.json): lengthen the column, or shorten maxLength there");
            }
            if (c.choices() != null && options.containsKey(name)) {
                for (var choice : c.choices().entrySet()) {
                    if (!options.get(name).contains(choice.getValue())) {
                        planChoice(table, name, choice.getKey(), choice.getValue(), solution);
                    }
                }
            }
        }

        // Alternate keys: on the columns' names in use.
        List<Map<String, Object>> keys = new ArrayList<>();
        ((List<Object>) def.getOrDefault("Keys", List.of())).forEach(k -> keys.add((Map<String, Object>) k));
        for (ColumnContract.Key key : contract.keys()) {
            if (!key.table().equals(table)) {
                continue;
            }
            List<String> cols = key.columns().stream().map(n -> nameOf(table, n)).toList();
            Map<String, Object> existing = keys.stream().filter(k -> k.get("KeyAttributes") instanceof List<?> l
                    && Set.copyOf(l).equals(Set.copyOf(cols))).findFirst().orElse(null);
            if (existing == null) {
                steps.add(new Step("create alternate key " + table + "." + key.name() + " on " + String.join(", ", cols)
                        + ", then wait until it is Active", () -> {
                            Map<String, Object> body = new LinkedHashMap<>();
                            body.put("SchemaName", key.name());
                            body.put("DisplayName", label(key.displayName()));
                            body.put("KeyAttributes", cols);
                            calls.call("POST", entity + "/Keys", null, body, Map.of("MSCRM.SolutionUniqueName", solution), false);
                        }));
                keysToAwait.add(new String[] { table, key.name() });
                continue;
            }
            String status = String.valueOf(existing.get("EntityKeyIndexStatus"));
            String keyName = String.valueOf(existing.get("LogicalName"));
            switch (status) {
                case "Active" -> inPlace++;
                case "Failed" -> problems.add("alternate key " + table + "." + keyName + " failed to build (duplicate "
                        + String.join(", ", cols) + " values?): remove the duplicates, then reactivate it (ReactivateEntityKey)");
                default -> {
                    steps.add(new Step("wait until alternate key " + table + "." + keyName + " (" + status + ") is Active",
                            () -> { }));
                    keysToAwait.add(new String[] { table, keyName });
                }
            }
        }

        if (contract.changeTracking().contains(table)) {
            if (Boolean.TRUE.equals(def.get("ChangeTrackingEnabled"))) {
                inPlace++;
            } else {
                changedTables.add(table);
                steps.add(new Step("turn on change tracking of " + table + " (the connector polls its changes)", () -> {
                    Map<String, Object> full = (Map<String, Object>) calls.call("GET", entity, null, null, Map.of(), false);
                    Map<String, Object> body = new LinkedHashMap<>(full);
                    body.keySet().removeIf(k -> k.startsWith("@odata.") && !k.equals("@odata.type"));
                    body.putIfAbsent("@odata.type", "#Microsoft.Dynamics.CRM.EntityMetadata");
                    body.put("ChangeTrackingEnabled", true);
                    calls.call("PUT", "EntityDefinitions(" + def.get("MetadataId") + ")", null, body,
                            Map.of("MSCRM.MergeLabels", "true"), false);
                }));
            }
        }
    }

    private String nameOf(String table, String contractName) {
        for (Column c : contract.tables().getOrDefault(table, List.of())) {
            if (c.name().equals(contractName) && c.ours()) {
                return names.getOrDefault(c.role(), c.name());
            }
        }
        return contractName;
    }

    private void planColumn(String table, String entity, Column c, String name, String solution) {
        changedTables.add(table);
        String detail = c.type() + (c.maxLength() != null ? " " + c.maxLength() : "")
                + (c.choices() != null ? " " + c.choices().size() + " choices" : "");
        steps.add(new Step("create column " + table + "." + name + " \"" + c.displayName() + "\" (" + detail + ")",
                () -> calls.call("POST", entity + "/Attributes", null, attributeBody(c, name),
                        Map.of("MSCRM.SolutionUniqueName", solution), false)));
    }

    private void planChoice(String table, String column, String label, int value, String solution) {
        changedTables.add(table);
        steps.add(new Step("add choice " + value + " \"" + words(label) + "\" to " + table + "." + column, () -> {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("EntityLogicalName", table);
            body.put("AttributeLogicalName", column);
            body.put("Value", value);
            body.put("Label", label(words(label)));
            body.put("SolutionUniqueName", solution);
            calls.call("POST", "InsertOptionValue", null, body, Map.of(), false);
        }));
    }

    /** The metadata of a new column, as the Web API takes it (the @odata.type names the column type). */
    static Map<String, Object> attributeBody(Column c, String name) {
        Map<String, Object> b = new LinkedHashMap<>();
        String odataType = switch (c.type()) {
            case "String" -> "StringAttributeMetadata";
            case "Memo" -> "MemoAttributeMetadata";
            case "Boolean" -> "BooleanAttributeMetadata";
            case "Picklist" -> "PicklistAttributeMetadata";
            case "DateTime", "DateOnly" -> "DateTimeAttributeMetadata";
            case "Money" -> "MoneyAttributeMetadata";
            case "Integer" -> "IntegerAttributeMetadata";
            default -> throw new IllegalArgumentException("provision cannot create a " + c.type() + " column ("
                    + c.table() + "." + name + ")");
        };
        b.put("@odata.type", "Microsoft.Dynamics.CRM." + odataType);
        b.put("SchemaName", name);
        b.put("DisplayName", label(c.displayName()));
        b.put("Description", label("Co-sell connector: " + c.role()));
        b.put("RequiredLevel", Map.of("Value", "None"));
        switch (c.type()) {
            case "String" -> {
                b.put("MaxLength", c.maxLength());
                b.put("FormatName", Map.of("Value", "Text"));
            }
            case "Memo" -> {
                b.put("MaxLength", c.maxLength());
                b.put("Format", "TextArea");
            }
            case "Boolean" -> {
                b.put("DefaultValue", Boolean.TRUE.equals(c.defaultValue()));
                b.put("OptionSet", Map.of("@odata.type", "Microsoft.Dynamics.CRM.BooleanOptionSetMetadata",
                        "TrueOption", Map.of("Value", 1, "Label", label("Yes")),
                        "FalseOption", Map.of("Value", 0, "Label", label("No")), "OptionSetType", "Boolean"));
            }
            case "Picklist" -> {
                List<Map<String, Object>> opts = new ArrayList<>();
                c.choices().forEach((k, v) -> opts.add(Map.of("Value", v, "Label", label(words(k)))));
                b.put("OptionSet", Map.of("@odata.type", "Microsoft.Dynamics.CRM.OptionSetMetadata", "IsGlobal", false,
                        "OptionSetType", "Picklist", "Options", opts));
            }
            case "DateTime" -> {
                b.put("Format", "DateAndTime");
                b.put("DateTimeBehavior", Map.of("Value", "UserLocal"));
            }
            case "DateOnly" -> {
                b.put("Format", "DateOnly");
                b.put("DateTimeBehavior", Map.of("Value", "DateOnly"));
            }
            default -> {
                // Money, Integer: the defaults
            }
        }
        return b;
    }

    // ------------------------------------------------------------------------------ adopt

    private void adopt(String table, List<Column> columns, Map<String, Map<String, Object>> attributes) {
        Map<String, List<Map<String, Object>>> byLabel = new LinkedHashMap<>();
        attributes.values().forEach(a -> {
            String l = displayName(a);
            if (l != null) {
                byLabel.computeIfAbsent(normal(l), k -> new ArrayList<>()).add(a);
            }
        });
        for (Column c : columns) {
            if (!c.ours()) {
                continue;
            }
            List<Map<String, Object>> found = new ArrayList<>(byLabel.getOrDefault(normal(c.displayName()), List.of()));
            // Another solution's column of that name wins over one the connector created itself.
            if (found.size() > 1) {
                found.removeIf(a -> c.name().equals(a.get("LogicalName")));
            }
            if (found.isEmpty()) {
                unmatched.add(table + " \"" + c.displayName() + "\" (" + c.role() + "): no column of that display name; "
                        + names.getOrDefault(c.role(), c.name()) + " is used");
                continue;
            }
            if (found.size() > 1) {
                unmatched.add(table + " \"" + c.displayName() + "\" (" + c.role() + "): " + found.size() + " columns of that"
                        + " display name (" + String.join(", ", found.stream().map(a -> String.valueOf(a.get("LogicalName"))).toList())
                        + "); set dataverse.column." + c.role() + " yourself");
                continue;
            }
            Map<String, Object> a = found.get(0);
            String name = String.valueOf(a.get("LogicalName"));
            if (!compatible(c.type(), String.valueOf(a.get("AttributeType")))) {
                unmatched.add(table + " \"" + c.displayName() + "\" (" + c.role() + "): " + name + " is "
                        + a.get("AttributeType") + ", the connector needs " + c.type());
                continue;
            }
            if (!name.equals(names.getOrDefault(c.role(), c.name()))) {
                names.put(c.role(), name);
                adopted.put(c.role(), name);
            }
        }
    }

    private static String displayName(Map<String, Object> attribute) {
        if (attribute.get("DisplayName") instanceof Map<?, ?> dn) {
            if (dn.get("UserLocalizedLabel") instanceof Map<?, ?> u && u.get("Label") != null) {
                return String.valueOf(u.get("Label"));
            }
            if (dn.get("LocalizedLabels") instanceof List<?> l && !l.isEmpty() && l.get(0) instanceof Map<?, ?> first) {
                return Objects.toString(first.get("Label"), null);
            }
        }
        return null;
    }

    private static String normal(String label) {
        return label.trim().replaceAll("\\s+", " ").toLowerCase(Locale.ROOT);
    }

    // ------------------------------------------------------------------------------ keys

    @SuppressWarnings("unchecked")
    private void awaitKey(String table, String key) {
        long deadline = System.nanoTime() + keyTimeout.toNanos();
        String status = null;
        while (System.nanoTime() < deadline) {
            for (Map<String, Object> k : values(calls.call("GET", "EntityDefinitions(LogicalName='" + table + "')/Keys",
                    "$select=LogicalName,KeyAttributes,EntityKeyIndexStatus", null, Map.of(), false))) {
                if (key.equalsIgnoreCase(String.valueOf(k.get("LogicalName")))) {
                    status = String.valueOf(k.get("EntityKeyIndexStatus"));
                }
            }
            if ("Active".equals(status)) {
                return;
            }
            if ("Failed".equals(status)) {
                problems.add("alternate key " + table + "." + key + " failed to build (duplicate values?): remove the"
                        + " duplicates, then reactivate it (ReactivateEntityKey)");
                return;
            }
            try {
                Thread.sleep(keyPoll.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        problems.add("alternate key " + table + "." + key + " is still " + status + " after " + keyTimeout.toSeconds()
                + " s: run provision again later (it waits again, creates nothing twice)");
    }

    // ------------------------------------------------------------------------------ helpers

    /** The contract's type against Dataverse's AttributeType (text columns may be either kind). */
    static boolean compatible(String contractType, String attributeType) {
        return switch (contractType) {
            case "String", "Memo" -> attributeType.equals("String") || attributeType.equals("Memo");
            case "DateOnly", "DateTime" -> attributeType.equals("DateTime");
            case "Lookup" -> attributeType.equals("Lookup") || attributeType.equals("Customer") || attributeType.equals("Owner");
            case "Picklist" -> attributeType.equals("Picklist") || attributeType.equals("State") || attributeType.equals("Status");
            default -> attributeType.equals(contractType);
        };
    }

    static Map<String, Object> label(String text) {
        return Map.of("@odata.type", "Microsoft.Dynamics.CRM.Label", "LocalizedLabels", List.of(Map.of(
                "@odata.type", "Microsoft.Dynamics.CRM.LocalizedLabel", "Label", text, "LanguageCode", LANGUAGE)));
    }

    /** "ProofOfConceptOrDemo" → "Proof of concept or demo" (the label of an enum value). */
    static String words(String enumName) {
        String spaced = enumName.replaceAll("(?<=[a-z0-9])(?=[A-Z])", " ").toLowerCase(Locale.ROOT);
        return spaced.isEmpty() ? spaced : Character.toUpperCase(spaced.charAt(0)) + spaced.substring(1);
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> values(Object answer) {
        if (answer instanceof Map<?, ?> m && m.get("value") instanceof List<?> l) {
            return (List<Map<String, Object>>) l;
        }
        return List.of();
    }

    private static Map<String, Object> first(Object answer) {
        List<Map<String, Object>> v = values(answer);
        return v.isEmpty() ? null : v.get(0);
    }
}
