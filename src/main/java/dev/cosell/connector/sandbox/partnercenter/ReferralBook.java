package dev.cosell.connector.sandbox.partnercenter;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.ODataFilter;

/**
 * The referrals of the Partner Center emulator, per partner tenant, independent of HTTP.
 * <p>
 * Follows {@code referral-resources.md}, {@code create-a-referral.md}, {@code update-a-referral.md} and
 * {@code get-a-list-of-referrals.md}: property names read case-insensitively and written camelCase;
 * enums checked; status/substatus transitions checked against the documented table; a new quoted
 * {@code eTag} on every write; {@code updatedDateTime} maintained; unknown properties kept as sent.
 * Listing is ordered by {@code createdDateTime} (ascending, or descending with {@code $orderby}) and
 * paged with an opaque {@code $skiptoken} in {@code @odata.nextLink} (keyset, so writes between pages
 * neither skip nor repeat a referral).
 */
public final class ReferralBook {

    static final ObjectMapper JSON = new ObjectMapper();
    public static final int MAX_PAGE_SIZE = 100;

    /** A rejected request: HTTP status, Partner Center error code and a message naming the problem. */
    public static final class ReferralException extends RuntimeException {
        public final int status;
        public final String code;

        public ReferralException(int status, String code, String message) {
            super(message);
            this.status = status;
            this.code = code;
        }
    }

    public static final Set<String> STATUS = Set.of("None", "New", "Active", "Closed");
    public static final Set<String> SUBSTATUS = Set.of("None", "Pending", "Received", "Accepted", "Won", "Lost",
            "Declined", "Expired");
    static final Set<String> TYPE = Set.of("None", "Shared", "Independent");
    static final Set<String> QUALIFICATION = Set.of("None", "Direct", "MarketingQualified", "SalesQualified");
    static final Set<String> SOLUTION_TYPE = Set.of("None", "Category", "Name");
    static final Set<String> TARGET_TYPE = Set.of("None", "BusinessProfileLocation", "SolutionProfile");

    /** The documented transition table: from a status, the statuses allowed next; per status, its substatuses. */
    static final Map<String, Set<String>> NEXT_STATUS = Map.of("New", Set.of("New", "Active", "Closed"),
            "Active", Set.of("Active", "Closed"), "Closed", Set.of("Closed"));
    static final Map<String, Set<String>> SUBSTATUS_OF = Map.of("New", Set.of("Pending", "Received"),
            "Active", Set.of("Accepted"), "Closed", Set.of("Won", "Lost", "Declined", "Expired"));

    /** Canonical camelCase spelling of every documented property name, by lower-case name. */
    private static final Map<String, String> CANONICAL = new TreeMap<>();
    static {
        for (String n : List.of("id", "engagementId", "name", "organizationId", "organizationName",
                "externalReferenceId", "createdDateTime", "updatedDateTime", "expirationDateTime", "status",
                "substatus", "statusReason", "type", "qualification", "customerProfile", "consent", "details",
                "team", "inviteContext", "target", "eTag", "links", "attributes", "address", "addressLine1",
                "addressLine2", "city", "state", "postalCode", "country", "region", "size", "ids", "firstName",
                "lastName", "phoneNumber", "email", "contactPreference", "locale", "disableNotifications",
                "consentToShareInfoWithOthers", "consentToContact", "consentToMicrosoftToContactSpecificPartners",
                "notes", "dealValue", "currency", "closingDateTime", "requirements", "industries", "products",
                "services", "solutions", "solutionType", "invitedBy", "objectType")) {
            CANONICAL.put(n.toLowerCase(Locale.ROOT), n);
        }
        // Spellings the documentation itself uses.
        CANONICAL.put("consenttotoshareinfowithothers", "consentToShareInfoWithOthers");
        CANONICAL.put("referraltype", "type");
    }

    private record Key(String created, String id) {
    }

    private static final Comparator<Key> ORDER = Comparator.comparing(Key::created).thenComparing(Key::id);

    private final Map<String, Map<String, ObjectNode>> byTenant = new ConcurrentHashMap<>();
    private final Map<String, ConcurrentSkipListMap<Key, String>> ordered = new ConcurrentHashMap<>();
    private final AtomicLong versions = new AtomicLong(0x2500ec5aL);
    private final String selfBase;

    /** @param selfBase base of the {@code links} written into referrals (the API's own URL) */
    public ReferralBook(String selfBase) {
        this.selfBase = selfBase;
    }

    // ------------------------------------------------------------------------------------- reads

    public ObjectNode get(String tenant, String id) {
        ObjectNode r = tenant(tenant).get(id);
        if (r == null) {
            throw new ReferralException(404, "Referral_NotFound", "Referral " + id + " was not found.");
        }
        return withLinks(r);
    }

    /** Number of referrals a tenant holds. */
    public int size(String tenant) {
        return tenant(tenant).size();
    }

    public List<ObjectNode> all(String tenant) {
        List<ObjectNode> out = new ArrayList<>();
        tenant(tenant).values().forEach(r -> out.add(r.deepCopy()));
        return out;
    }

    /**
     * One page of the list.
     *
     * @param filter OData {@code $filter} on engagementId, status, substatus, updatedDateTime,
     *        createdDateTime, externalReferenceId, type, email (of any customer team member)
     * @param orderby null or {@code createdDateTime [asc|desc]}
     * @param pageSize {@code $top} / {@code pagesize}, at most 100
     * @param skipToken from a previous page's next link, or null
     * @param nextLinkBase URL (with the original query minus {@code $skiptoken}) used to build the next link
     */
    public ObjectNode list(String tenant, String filter, String orderby, Integer pageSize, String skipToken,
            String nextLinkBase) {
        ObjectNode token = skipToken == null ? null : decodeToken(skipToken);
        if (token != null) {
            filter = token.path("f").isNull() ? null : token.path("f").asText(null);
            orderby = token.path("o").asText(null);
            pageSize = token.path("n").asInt();
        }
        int size = pageSize == null ? MAX_PAGE_SIZE : pageSize;
        if (size < 1 || size > MAX_PAGE_SIZE) {
            throw new ReferralException(400, "InvalidPageSize", "The page size must be between 1 and "
                    + MAX_PAGE_SIZE + ", not " + size + ".");
        }
        boolean desc = parseOrder(orderby);
        ODataFilter.Predicate predicate = predicate(filter);
        ConcurrentSkipListMap<Key, String> index = ordered.computeIfAbsent(tenant, t -> new ConcurrentSkipListMap<>(ORDER));
        var view = desc ? index.descendingMap() : index;
        if (token != null) {
            Key after = new Key(token.path("c").asText(), token.path("i").asText());
            view = desc ? index.headMap(after, false).descendingMap() : index.tailMap(after, false);
        }
        Map<String, ObjectNode> rows = tenant(tenant);
        ArrayNode value = JSON.createArrayNode();
        Key last = null;
        boolean more = false;
        for (Iterator<Map.Entry<Key, String>> it = view.entrySet().iterator(); it.hasNext();) {
            Map.Entry<Key, String> e = it.next();
            ObjectNode r = rows.get(e.getValue());
            if (r == null || (predicate != null && !predicate.test(filterView(r)))) {
                continue;
            }
            if (value.size() == size) {
                more = true;
                break;
            }
            value.add(withLinks(r));
            last = e.getKey();
        }
        ObjectNode page = JSON.createObjectNode();
        page.put("@odata.context", selfBase + "/v1.0/$metadata#Referrals");
        page.put("@odata.count", value.size());
        page.set("value", value);
        if (more) {
            ObjectNode next = JSON.createObjectNode().put("c", last.created()).put("i", last.id()).put("n", size)
                    .put("o", orderby == null ? "" : orderby);
            if (filter == null) {
                next.putNull("f");
            } else {
                next.put("f", filter);
            }
            String t = Base64.getUrlEncoder().withoutPadding()
                    .encodeToString(next.toString().getBytes(StandardCharsets.UTF_8));
            page.put("@odata.nextLink", nextLinkBase + "?$skiptoken=" + t);
        }
        return page;
    }

    // ------------------------------------------------------------------------------------- writes

    /**
     * Creates a referral. {@code organization} is the partner organisation the caller belongs to; a
     * Microsoft-originated referral (admin API) passes its own inviteContext.
     */
    public ObjectNode create(String tenant, ObjectNode body, String organizationId, String organizationName) {
        ObjectNode r = normalize(body);
        require(r, "type");
        require(r, "customerProfile");
        require(r, "details");
        if (r.path("customerProfile").path("name").asText("").isBlank()) {
            throw new ReferralException(400, "InvalidInput", "customerProfile.name is required.");
        }
        validateEnums(r);
        Instant now = Instant.now();
        String id = UUID.randomUUID().toString();
        r.put("id", id);
        if (!r.hasNonNull("engagementId")) {
            r.put("engagementId", UUID.randomUUID().toString());
        }
        r.put("organizationId", organizationId);
        r.put("organizationName", organizationName);
        r.put("createdDateTime", now.toString());
        r.put("updatedDateTime", now.toString());
        if (!r.hasNonNull("expirationDateTime")) {
            r.put("expirationDateTime", now.plus(14, ChronoUnit.DAYS).truncatedTo(ChronoUnit.DAYS).toString());
        }
        // New referrals start New/Pending, whatever the body says.
        r.put("status", "New");
        r.put("substatus", "Pending");
        r.remove("links");
        r.putObject("attributes").put("objectType", "Referral");
        r.put("eTag", nextETag());
        tenant(tenant).put(id, r);
        ordered.computeIfAbsent(tenant, t -> new ConcurrentSkipListMap<>(ORDER)).put(new Key(r.path("createdDateTime")
                .asText(), id), id);
        return withLinks(r);
    }

    /** Replaces a referral (PUT) if {@code ifMatch} is its current eTag. */
    public synchronized ObjectNode replace(String tenant, String id, ObjectNode body, String ifMatch) {
        ObjectNode current = tenant(tenant).get(id);
        if (current == null) {
            throw new ReferralException(404, "Referral_NotFound", "Referral " + id + " was not found.");
        }
        if (ifMatch == null || ifMatch.isBlank()) {
            throw new ReferralException(428, "PreconditionRequired",
                    "The If-Match header with the referral's eTag is required to update a referral.");
        }
        if (!ifMatch.trim().equals("*") && !bare(ifMatch).equals(bare(current.path("eTag").asText()))) {
            throw new ReferralException(412, "PreconditionFailed", "The referral was changed by someone else: eTag "
                    + ifMatch.trim() + " is not the current one. Read the referral again and retry.");
        }
        ObjectNode r = normalize(body);
        if (r.hasNonNull("id") && !id.equals(r.path("id").asText())) {
            throw new ReferralException(400, "InvalidInput", "The id in the body (" + r.path("id").asText()
                    + ") does not match the referral in the URL (" + id + ").");
        }
        require(r, "type");
        require(r, "customerProfile");
        require(r, "details");
        validateEnums(r);
        validateTransition(current, r);
        // Server-owned properties are kept as they were.
        for (String k : List.of("id", "engagementId", "organizationId", "organizationName", "createdDateTime",
                "attributes")) {
            if (current.has(k)) {
                r.set(k, current.get(k));
            }
        }
        r.remove("links");
        r.put("updatedDateTime", Instant.now().toString());
        r.put("eTag", nextETag());
        tenant(tenant).put(id, r);
        return withLinks(r);
    }

    /**
     * Applies a change as Microsoft would (admin API): a JSON merge patch over the stored referral,
     * without eTag check but with the same validation, and a new eTag.
     */
    public synchronized ObjectNode merge(String tenant, String id, ObjectNode patch) {
        ObjectNode current = tenant(tenant).get(id);
        if (current == null) {
            throw new ReferralException(404, "Referral_NotFound", "Referral " + id + " was not found.");
        }
        ObjectNode next = current.deepCopy();
        mergeInto(next, normalize(patch));
        validateEnums(next);
        validateTransition(current, next);
        next.put("updatedDateTime", Instant.now().toString());
        next.put("eTag", nextETag());
        tenant(tenant).put(id, next);
        return withLinks(next);
    }

    /** Loads many referrals directly (benchmarks): each must already have id and createdDateTime. */
    public void load(String tenant, List<ObjectNode> referrals) {
        Map<String, ObjectNode> rows = tenant(tenant);
        var index = ordered.computeIfAbsent(tenant, t -> new ConcurrentSkipListMap<>(ORDER));
        for (ObjectNode r : referrals) {
            ObjectNode n = normalize(r);
            n.put("eTag", nextETag());
            rows.put(n.path("id").asText(), n);
            index.put(new Key(n.path("createdDateTime").asText(), n.path("id").asText()), n.path("id").asText());
        }
    }

    public void clear() {
        byTenant.clear();
        ordered.clear();
    }

    // ------------------------------------------------------------------------------------- helpers

    private Map<String, ObjectNode> tenant(String tenant) {
        return byTenant.computeIfAbsent(tenant, t -> new ConcurrentHashMap<>());
    }

    private String nextETag() {
        long v = versions.incrementAndGet();
        return String.format("\"%08x-0000-0000-0000-%012x\"", v & 0xffffffffL, Instant.now().getEpochSecond());
    }

    private static String bare(String etag) {
        String s = etag.trim();
        if (s.startsWith("W/")) {
            s = s.substring(2);
        }
        return s.replace("\"", "");
    }

    private ObjectNode withLinks(ObjectNode stored) {
        ObjectNode r = stored.deepCopy();
        ObjectNode links = r.putObject("links");
        links.putObject("relatedReferrals").put("uri", selfBase + "/v1.0/engagements/referrals?$filter=engagementId eq '"
                + r.path("engagementId").asText() + "'").put("method", "GET");
        links.putObject("self").put("uri", selfBase + "/v1.0/engagements/referrals/" + r.path("id").asText())
                .put("method", "GET");
        return r;
    }

    private static void require(ObjectNode r, String property) {
        if (!r.hasNonNull(property) || (r.get(property).isObject() && r.get(property).isEmpty() && !property.equals("details"))) {
            throw new ReferralException(400, "InvalidInput", "The property '" + property + "' is required.");
        }
    }

    private static void validateEnums(ObjectNode r) {
        canonicalEnum(r, "status", STATUS, "ReferralStatus");
        canonicalEnum(r, "substatus", SUBSTATUS, "ReferralSubstatus");
        canonicalEnum(r, "type", TYPE, "ReferralType");
        canonicalEnum(r, "qualification", QUALIFICATION, "ReferralQualification");
        for (JsonNode s : r.path("details").path("requirements").path("solutions")) {
            if (s instanceof ObjectNode o) {
                // The docs' examples write the solution type as "type"; the model calls it solutionType.
                if (o.has("type") && !o.has("solutionType")) {
                    o.set("solutionType", o.remove("type"));
                }
                canonicalEnum(o, "solutionType", SOLUTION_TYPE, "SolutionType");
            }
        }
        for (JsonNode t : r.path("target")) {
            if (t instanceof ObjectNode o) {
                canonicalEnum(o, "type", TARGET_TYPE, "TargetType");
            }
        }
        JsonNode value = r.path("details").path("dealValue");
        if (!value.isMissingNode() && !value.isNull() && !value.isNumber()) {
            throw new ReferralException(400, "InvalidInput", "details.dealValue must be a number, not " + value + ".");
        }
    }

    private static void canonicalEnum(ObjectNode o, String property, Set<String> allowed, String enumName) {
        JsonNode v = o.get(property);
        if (v == null || v.isNull()) {
            return;
        }
        for (String a : allowed) {
            if (a.equalsIgnoreCase(v.asText())) {
                o.put(property, a);
                return;
            }
        }
        throw new ReferralException(400, "InvalidInput", "'" + v.asText() + "' is not a valid " + enumName
                + " for '" + property + "'. Allowed: " + String.join(", ", new java.util.TreeSet<>(allowed)) + ".");
    }

    static void validateTransition(ObjectNode current, ObjectNode next) {
        String from = current.path("status").asText("New");
        String to = next.path("status").asText(from);
        String sub = next.path("substatus").asText(null);
        if (!next.hasNonNull("status")) {
            next.put("status", to);
        }
        if (!NEXT_STATUS.getOrDefault(from, Set.of()).contains(to)) {
            throw new ReferralException(400, "InvalidStatusTransition", "A referral with status " + from
                    + " cannot move to status " + to + ". Allowed from " + from + ": "
                    + NEXT_STATUS.getOrDefault(from, Set.of()) + ".");
        }
        if (sub == null || !SUBSTATUS_OF.get(to).contains(sub)) {
            throw new ReferralException(400, "InvalidStatusTransition", "Substatus " + sub + " is not allowed with status "
                    + to + ". Allowed: " + new java.util.TreeSet<>(SUBSTATUS_OF.get(to)) + ".");
        }
    }

    /** The flat record the list filter evaluates. */
    private static ObjectNode filterView(ObjectNode r) {
        ObjectNode v = JSON.createObjectNode();
        for (String k : List.of("engagementId", "status", "substatus", "updatedDateTime", "createdDateTime",
                "externalReferenceId", "type", "id")) {
            if (r.has(k)) {
                v.set(k, r.get(k));
            }
        }
        JsonNode team = r.path("customerProfile").path("team");
        if (team.isArray() && !team.isEmpty()) {
            v.set("email", team.get(0).path("email"));
        }
        return v;
    }

    private static final Set<String> FILTERABLE = Set.of("engagementId", "status", "substatus", "updatedDateTime",
            "createdDateTime", "externalReferenceId", "type", "id", "email");

    private static ODataFilter.Predicate predicate(String filter) {
        if (filter == null || filter.isBlank()) {
            return null;
        }
        try {
            return ODataFilter.parse(filter, FILTERABLE::contains, "Referral");
        } catch (ODataFilter.FilterException e) {
            throw new ReferralException(400, "InvalidFilter", "Invalid $filter: " + e.getMessage()
                    + " Filterable properties: " + new java.util.TreeSet<>(FILTERABLE) + ".");
        }
    }

    private static boolean parseOrder(String orderby) {
        if (orderby == null || orderby.isBlank()) {
            return false;
        }
        String[] parts = orderby.trim().split("\\s+");
        if (!parts[0].equalsIgnoreCase("createdDateTime") || parts.length > 2
                || (parts.length == 2 && !parts[1].equalsIgnoreCase("asc") && !parts[1].equalsIgnoreCase("desc"))) {
            throw new ReferralException(400, "InvalidOrderBy", "Referrals can be ordered by createdDateTime [asc|desc] only.");
        }
        return parts.length == 2 && parts[1].equalsIgnoreCase("desc");
    }

    private static ObjectNode decodeToken(String token) {
        try {
            JsonNode n = JSON.readTree(Base64.getUrlDecoder().decode(token));
            if (n instanceof ObjectNode o && o.has("c") && o.has("i") && o.has("n")) {
                return o;
            }
        } catch (Exception ignored) {
            // answered below
        }
        throw new ReferralException(400, "InvalidContinuationToken", "The $skiptoken is not valid.");
    }

    /** Copies the body, renaming documented property names to their camelCase spelling (recursively). */
    static ObjectNode normalize(JsonNode body) {
        if (!(body instanceof ObjectNode o)) {
            throw new ReferralException(400, "InvalidInput", "The request body must be a JSON object.");
        }
        return (ObjectNode) canonical(o);
    }

    private static JsonNode canonical(JsonNode n) {
        if (n.isObject()) {
            ObjectNode out = JSON.createObjectNode();
            n.fields().forEachRemaining(e -> {
                String name = CANONICAL.getOrDefault(e.getKey().toLowerCase(Locale.ROOT), e.getKey());
                out.set(name, canonical(e.getValue()));
            });
            return out;
        }
        if (n.isArray()) {
            ArrayNode out = JSON.createArrayNode();
            n.forEach(x -> out.add(canonical(x)));
            return out;
        }
        return n;
    }

    private static void mergeInto(ObjectNode target, ObjectNode patch) {
        patch.fields().forEachRemaining(e -> {
            JsonNode t = target.get(e.getKey());
            if (e.getValue().isNull()) {
                target.remove(e.getKey());
            } else if (t instanceof ObjectNode to && e.getValue() instanceof ObjectNode po) {
                mergeInto(to, po);
            } else {
                target.set(e.getKey(), e.getValue());
            }
        });
    }
}
