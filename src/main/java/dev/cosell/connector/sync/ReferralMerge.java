package dev.cosell.connector.sync;

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
import java.util.TreeMap;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.camel.Exchange;

/**
 * The fields both sides edit, as a flat projection keyed by referral path ({@code details.dealValue},
 * {@code status}, ...), and the three-way merge that applies a CRM change to the current referral:
 * per field, the side that changed since the last sync wins; when both changed it, the owner
 * declared in {@code routes/mappings/field-owners.json} wins and the other value is reported for the
 * audit trail, never silently dropped.
 */
public final class ReferralMerge {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Shared fields read from a referral, in the same shape the opportunity-to-referral-update mapping writes. */
    static final List<String> PATHS = List.of("details.dealValue", "details.closingDateTime", "details.notes",
            "details.requirements.solutions", "status", "substatus");

    private final Map<String, String> owners;

    public ReferralMerge(Path ownersFile) {
        try {
            Map<String, Object> raw = Files.exists(ownersFile)
                    ? JSON.readValue(ownersFile.toFile(), new TypeReference<Map<String, Object>>() { }) : Map.of();
            this.owners = new TreeMap<>();
            raw.forEach((k, v) -> {
                if (!k.startsWith("_")) {
                    String owner = String.valueOf(v);
                    if (!owner.equals("partner") && !owner.equals("microsoft")) {
                        throw new IllegalArgumentException(ownersFile + ": owner of " + k + " must be partner or microsoft");
                    }
                    owners.put(k, owner);
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + ownersFile, e);
        }
    }

    /** The shared fields of a referral as they are in Partner Center. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> sharedFields(Map<String, Object> referral) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (String path : PATHS) {
            Object v = get(referral, path);
            if (path.equals("details.requirements.solutions")) {
                List<Object> ids = new ArrayList<>();
                if (v instanceof List<?> list) {
                    list.forEach(s -> ids.add(s instanceof Map<?, ?> m ? ((Map<String, Object>) m).get("id") : s));
                }
                v = ids;
            }
            out.put(path, v);
        }
        return out;
    }

    /**
     * Builds the PUT body: the current referral (exchange property {@code referral}) with the CRM's
     * projection ({@code crmProjection}) merged against the last synced values ({@code link.referral_projection}).
     * Sets {@code referralChanged} and {@code mergeReport} (audit text of conflicts, or null).
     */
    @SuppressWarnings("unchecked")
    public Map<String, Object> merge(Exchange exchange) throws IOException {
        Map<String, Object> referral = exchange.getProperty("referral", Map.class);
        Map<String, Object> crm = exchange.getProperty("crmProjection", Map.class);
        Map<String, Object> link = exchange.getProperty("link", Map.class);
        Object lastJson = link == null ? null : link.get("referral_projection");
        Map<String, Object> last = lastJson == null ? null : JSON.readValue(lastJson.toString(), new TypeReference<>() { });
        Map<String, Object> pc = sharedFields(referral);

        Map<String, Object> body = JSON.convertValue(referral, new TypeReference<LinkedHashMap<String, Object>>() { });
        body.remove("links");
        List<String> report = new ArrayList<>();
        boolean changed = false;
        for (var e : crm.entrySet()) {
            String path = e.getKey();
            Object crmValue = e.getValue();
            Object pcValue = pc.get(path);
            if (crmValue == null && (path.equals("status") || path.equals("substatus") || path.equals("statusReason"))) {
                continue; // the CRM asks for no transition
            }
            if (same(crmValue, pcValue)) {
                continue;
            }
            Object lastValue = last == null ? null : last.get(path);
            boolean crmChanged = last == null || !same(crmValue, lastValue);
            boolean pcChanged = last != null && !same(pcValue, lastValue);
            if (!crmChanged) {
                continue; // only Partner Center changed it: it flows the other way
            }
            if (pcChanged && !path.equals("statusReason")) {
                String owner = owners.getOrDefault(path, "partner");
                if (owner.equals("microsoft")) {
                    report.add(path + ": both sides changed it; kept Partner Center's " + show(pcValue) + " (owner microsoft), CRM's "
                            + show(crmValue) + " not sent");
                    continue;
                }
                report.add(path + ": both sides changed it; CRM's " + show(crmValue) + " replaces Partner Center's "
                        + show(pcValue) + " (owner partner)");
            }
            set(body, path, toReferralValue(path, crmValue, get(referral, path)));
            changed = true;
        }
        exchange.setProperty("referralChanged", changed);
        exchange.setProperty("mergeReport", report.isEmpty() ? null : String.join("; ", report));
        return body;
    }

    @SuppressWarnings("unchecked")
    private static Object toReferralValue(String path, Object crmValue, Object current) {
        if (!path.equals("details.requirements.solutions") || !(crmValue instanceof List<?> ids)) {
            return crmValue;
        }
        // Keep the tags Partner Center already has (with their names), add new ones by id.
        List<Object> tags = new ArrayList<>();
        for (Object id : ids) {
            Object existing = null;
            if (current instanceof List<?> list) {
                for (Object t : list) {
                    if (t instanceof Map<?, ?> m && Objects.equals(String.valueOf(((Map<String, Object>) m).get("id")),
                            String.valueOf(id))) {
                        existing = t;
                    }
                }
            }
            tags.add(existing != null ? existing : new LinkedHashMap<>(Map.of("id", id, "name", id, "solutionType", "Name")));
        }
        return tags;
    }

    static boolean same(Object a, Object b) {
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

    @SuppressWarnings("unchecked")
    static Object get(Map<String, Object> map, String path) {
        Object cur = map;
        for (String part : path.split("\\.")) {
            if (!(cur instanceof Map<?, ?> m)) {
                return null;
            }
            cur = ((Map<String, Object>) m).get(part);
        }
        return cur;
    }

    @SuppressWarnings("unchecked")
    private static void set(Map<String, Object> map, String path, Object value) {
        String[] parts = path.split("\\.");
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
