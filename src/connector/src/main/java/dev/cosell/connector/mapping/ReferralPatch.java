package dev.cosell.connector.mapping;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The fields both sides edit, by their PATCH path ({@code routes/mappings/field-owners.json}: each
 * shared field and who wins when both changed it), and the JSON Patch that sends a CRM change to
 * Partner Center ({@code PATCH /referrals/{id}}, the contract's {@code UpdateReferralDetails}).
 *
 * <p>Only the fields the CRM changed since the last sync are sent: a field only Microsoft changed is
 * not in the patch at all, so concurrent edits of <em>other</em> fields are safe by construction. The
 * three-way comparison is still needed for one case: Microsoft and the seller both changed the
 * <em>same</em> field. A PATCH carries If-Match; a 412 makes the flow read the referral and plan again,
 * and then a field both sides changed goes to its owner; the losing value is reported for the audit
 * trail, never silently dropped.
 */
public final class ReferralPatch {

    private static final ObjectMapper JSON = new ObjectMapper();
    static final Set<String> STATUS = Set.of("/status", "/substatus", "/statusReason");
    private static final String SOLUTIONS = "/details/requirements/solutions";

    private final Map<String, String> owners;

    public ReferralPatch(String ownersFile) {
        try {
            Map<String, Object> raw = JSON.readValue(Path.of(ownersFile).toFile(), new TypeReference<Map<String, Object>>() { });
            this.owners = new TreeMap<>();
            raw.forEach((k, v) -> {
                if (!k.startsWith("_")) {
                    String owner = String.valueOf(v);
                    if (!owner.equals("partner") && !owner.equals("microsoft")) {
                        throw new IllegalArgumentException(ownersFile + ": owner of " + k + " must be partner or microsoft");
                    }
                    if (!k.startsWith("/")) {
                        throw new IllegalArgumentException(ownersFile + ": " + k + " is not a PATCH path (/details/dealValue, ...)");
                    }
                    owners.put(k, owner);
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + ownersFile, e);
        }
    }

    /** The shared fields of a referral as Partner Center holds them (solutions as their ids), by PATCH path. */
    public Map<String, Object> sharedFields(Map<String, Object> referral) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (String path : owners.keySet()) {
            out.put(path, comparable(path, at(referral, path)));
        }
        return out;
    }

    /**
     * What to send for a CRM change.
     *
     * @param ops the JSON Patch (empty: nothing to send)
     * @param report conflicts for the audit trail (null when none)
     * @param expected the referral as it will be once the patch is applied
     * @param lastKnown the referral as the ledger last had it (null when it has none)
     * @param transition whether the patch carries a status transition
     */
    public record Plan(List<Map<String, Object>> ops, String report, Map<String, Object> expected,
            Map<String, Object> lastKnown, boolean transition) {

        public boolean changes() {
            return !ops.isEmpty();
        }

        /** A refused transition can be left out and the rest sent on its own. */
        public boolean transitionAndMore() {
            return transition && ops.stream().anyMatch(o -> !STATUS.contains(o.get("path")));
        }

    }

    /**
     * The referral as far as the CRM holds it after a plan: the ledger's copy with the patch applied when
     * it was, else the ledger's copy; null when the ledger has none (then nobody knows).
     */
    public Map<String, Object> heldByCrm(Plan plan, Boolean applied) {
        if (plan == null || plan.lastKnown() == null) {
            return null;
        }
        Map<String, Object> held = JSON.convertValue(plan.lastKnown(), new TypeReference<LinkedHashMap<String, Object>>() { });
        if (Boolean.TRUE.equals(applied)) {
            plan.ops().forEach(o -> put(held, o.get("path").toString(), o.get("value")));
        }
        return held;
    }

    /**
     * Plans the PATCH of a CRM change.
     *
     * @param referral the referral as last known (the ledger's copy, or just read after a 412)
     * @param crmProjection the opportunity's shared fields now (opportunity-to-referral-update)
     * @param link the ledger row: {@code opportunity_projection} (the CRM's shared fields at the last sync),
     *        {@code referral_projection} (Partner Center's) and {@code referral_body}; null for a referral never synced
     * @param skipTransition leave the status transition out (Partner Center refused it)
     */
    public Plan plan(Map<String, Object> referral, Map<String, Object> crmProjection, Map<String, Object> link,
            Boolean skipTransition) {
        Map<String, Object> lastPc = stored(link, "referral_projection");
        Map<String, Object> lastCrm = stored(link, "opportunity_projection");
        // Rows written before the CRM side was kept: both sides were equal then, for the fields they had;
        // a field added since (sales stage, currency, sharing) is taken as it is now, not as a change.
        boolean legacy = lastCrm == null && lastPc != null;
        if (legacy) {
            lastCrm = lastPc;
        }
        Map<String, Object> pc = sharedFields(referral);
        Map<String, Object> expected = JSON.convertValue(referral, new TypeReference<LinkedHashMap<String, Object>>() { });
        expected.remove("links");
        List<Map<String, Object>> ops = new ArrayList<>();
        List<String> report = new ArrayList<>();
        for (var e : crmProjection.entrySet()) {
            String path = e.getKey();
            if (!owners.containsKey(path)) {
                throw new MappingException("opportunity-to-referral-update: " + path
                        + " is not a shared field (add it to field-owners.json with its owner)");
            }
            if (STATUS.contains(path) || (legacy && !lastCrm.containsKey(path))) {
                continue; // the transition is planned as one unit, below
            }
            Object crm = comparable(path, e.getValue());
            if (lastCrm != null && same(crm, lastCrm.get(path))) {
                continue; // the CRM did not change it: whatever Partner Center holds stays
            }
            Object pcNow = pc.get(path);
            if (same(crm, pcNow)) {
                continue; // Partner Center holds it already
            }
            if (lastPc != null && !same(pcNow, lastPc.get(path)) && !wins(path, crm, pcNow, report)) {
                continue;
            }
            Object value = path.equals(SOLUTIONS) ? solutionTags(e.getValue(), at(referral, SOLUTIONS)) : e.getValue();
            ops.add(op(referral, path, value));
            put(expected, path, value);
        }
        boolean transition = !Boolean.TRUE.equals(skipTransition) && transition(referral, crmProjection, lastCrm, lastPc, pc,
                ops, expected, report);
        return new Plan(ops, report.isEmpty() ? null : String.join("; ", report), expected, lastKnown(link), transition);
    }

    /**
     * Status, substatus and status reason are one transition (Partner Center checks the pair): sent whole
     * when the CRM asks for one it did not ask for at the last sync and Partner Center is not there yet;
     * when Microsoft moved the referral meanwhile, the owner of {@code /status} decides for all three.
     */
    private boolean transition(Map<String, Object> referral, Map<String, Object> crm, Map<String, Object> lastCrm,
            Map<String, Object> lastPc, Map<String, Object> pc, List<Map<String, Object>> ops, Map<String, Object> expected,
            List<String> report) {
        Object status = crm.get("/status");
        Object substatus = crm.get("/substatus");
        if (status == null || substatus == null) {
            return false; // the CRM asks for no transition
        }
        if (lastCrm != null && same(status, lastCrm.get("/status")) && same(substatus, lastCrm.get("/substatus"))) {
            return false; // asked for at the last sync already
        }
        if (same(status, pc.get("/status")) && same(substatus, pc.get("/substatus"))) {
            return false; // Partner Center is there
        }
        boolean pcMoved = lastPc != null && !(same(pc.get("/status"), lastPc.get("/status"))
                && same(pc.get("/substatus"), lastPc.get("/substatus")));
        if (pcMoved && !wins("/status", status + "/" + substatus, pc.get("/status") + "/" + pc.get("/substatus"), report)) {
            return false;
        }
        for (String path : List.of("/status", "/substatus", "/statusReason")) {
            Object value = crm.get(path);
            if (value != null) {
                ops.add(op(referral, path, value));
                put(expected, path, value);
            }
        }
        return true;
    }

    /** Both sides changed the field: whether the CRM's value goes out (owner partner); the loser is reported. */
    private boolean wins(String path, Object crm, Object pcNow, List<String> report) {
        if (owners.get(path).equals("microsoft")) {
            report.add(path + ": both sides changed it; kept Partner Center's " + show(pcNow) + " (owner microsoft), CRM's "
                    + show(crm) + " not sent");
            return false;
        }
        report.add(path + ": both sides changed it; CRM's " + show(crm) + " replaces Partner Center's " + show(pcNow)
                + " (owner partner)");
        return true;
    }

    /** {@code replace} where the referral has the member, {@code add} where it has not (RFC 6902: replace needs it). */
    private static Map<String, Object> op(Map<String, Object> referral, String path, Object value) {
        Map<String, Object> op = new LinkedHashMap<>();
        op.put("op", at(referral, path) == null ? "add" : "replace");
        op.put("path", path);
        op.put("value", value);
        return op;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> lastKnown(Map<String, Object> link) {
        Object body = link == null ? null : link.get("referral_body");
        if (body == null) {
            return null;
        }
        try {
            String json = body instanceof java.sql.Clob clob ? clob.getSubString(1, (int) clob.length()) : body.toString();
            return JSON.readValue(json, Map.class);
        } catch (Exception e) {
            return null;
        }
    }

    /** The paths a patch changes, for the log and the audit trail ("/details/dealValue, /salesStage"). */
    public String paths(List<Map<String, Object>> ops) {
        return String.join(", ", ops.stream().map(o -> String.valueOf(o.get("path"))).toList());
    }

    /** The CRM's tags, keeping those Partner Center already has (with their names and types) by id. */
    @SuppressWarnings("unchecked")
    private static List<Object> solutionTags(Object crmTags, Object current) {
        List<Object> tags = new ArrayList<>();
        if (crmTags instanceof List<?> list) {
            for (Object tag : list) {
                Object id = tag instanceof Map<?, ?> m ? m.get("id") : tag;
                Object existing = null;
                if (current instanceof List<?> now) {
                    for (Object t : now) {
                        if (t instanceof Map<?, ?> m && Objects.equals(String.valueOf(m.get("id")), String.valueOf(id))) {
                            existing = t;
                        }
                    }
                }
                tags.add(existing != null ? existing : tag instanceof Map<?, ?> ? tag
                        : new LinkedHashMap<>(Map.of("id", id, "name", id, "type", "Name")));
            }
        }
        return tags;
    }

    /** A value as compared: solution lists by their sorted ids, numbers by value. */
    static Object comparable(String path, Object value) {
        if (path.equals(SOLUTIONS) && value instanceof List<?> list) {
            return list.stream().map(t -> t instanceof Map<?, ?> m ? String.valueOf(m.get("id")) : String.valueOf(t)).sorted()
                    .toList();
        }
        return value;
    }

    public static boolean same(Object a, Object b) {
        if (isEmpty(a) && isEmpty(b)) {
            return true;
        }
        if (a instanceof Number x && b instanceof Number y) {
            return new BigDecimal(x.toString()).compareTo(new BigDecimal(y.toString())) == 0;
        }
        if (a instanceof List<?> x && b instanceof List<?> y) {
            return x.stream().map(String::valueOf).sorted().toList().equals(y.stream().map(String::valueOf).sorted().toList());
        }
        return a != null && b != null && String.valueOf(a).equals(String.valueOf(b));
    }

    private static boolean isEmpty(Object v) {
        return v == null || (v instanceof String s && s.isEmpty()) || (v instanceof List<?> l && l.isEmpty());
    }

    private static String show(Object v) {
        return v == null ? "(empty)" : "'" + v + "'";
    }

    /** A ledger column holding a projection as JSON; older rows keyed by dotted names (details.dealValue) are read too. */
    private static Map<String, Object> stored(Map<String, Object> link, String column) {
        Object json = link == null ? null : link.get(column);
        if (json == null) {
            return null;
        }
        try {
            String text = json instanceof java.sql.Clob clob ? clob.getSubString(1, (int) clob.length()) : json.toString();
            Map<String, Object> raw = JSON.readValue(text, new TypeReference<Map<String, Object>>() { });
            Map<String, Object> out = new LinkedHashMap<>();
            raw.forEach((k, v) -> {
                String path = k.startsWith("/") ? k : "/" + k.replace('.', '/');
                out.put(path, comparable(path, v));
            });
            return out;
        } catch (Exception e) {
            return null;
        }
    }

    /** The value at a PATCH path ({@code /details/dealValue}) of a referral, or null. */
    @SuppressWarnings("unchecked")
    static Object at(Map<String, Object> map, String path) {
        Object cur = map;
        for (String part : path.substring(1).split("/")) {
            if (!(cur instanceof Map<?, ?> m)) {
                return null;
            }
            cur = ((Map<String, Object>) m).get(part);
        }
        return cur;
    }

    @SuppressWarnings("unchecked")
    private static void put(Map<String, Object> map, String path, Object value) {
        String[] parts = path.substring(1).split("/");
        Map<String, Object> cur = map;
        for (int i = 0; i < parts.length - 1; i++) {
            Object next = cur.get(parts[i]);
            if (!(next instanceof Map<?, ?>)) {
                next = new LinkedHashMap<String, Object>();
                cur.put(parts[i], next);
            }
            cur = (Map<String, Object>) next;
        }
        cur.put(parts[parts.length - 1], value);
    }
}
