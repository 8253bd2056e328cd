package dev.cosell.connector.sandbox.partnercenter;

import java.math.BigDecimal;
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
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.ContractSchema;
import dev.cosell.connector.sandbox.ContractSchema.Shape;
import dev.cosell.connector.sandbox.ODataFilter;

/**
 * The referrals of the Partner Center emulator, per partner tenant, independent of HTTP, held to the
 * published contract ({@link ContractSchema}: the swagger of Microsoft's Partner Center Referrals
 * connector, V3 Referral):
 * <ul>
 * <li>every request body is validated against the contract's shape (an object where the contract has
 * an array, an unknown property or enum value: 400 naming the property); property names are read
 * case-insensitively (the pages' examples mix {@code Substatus}/{@code substatus}) and a solution's
 * {@code solutionType} (the table's name) is read as {@code type} (the examples' name);</li>
 * <li>{@code PATCH} applies a JSON Patch of {@code replace}/{@code add} on the documented paths
 * ({@code UpdateReferralDetails}, and the deal registration bodies); {@code If-Match} is optional and
 * checked when sent; the deprecated {@code PUT} still answers and needs it;</li>
 * <li>status/substatus transitions follow the documented table; a new quoted {@code eTag} on every
 * write; {@code updatedDateTime}, {@code acceptedDateTime} and {@code closedDateTime} maintained;</li>
 * <li>listing: {@code $filter} on the documented properties only, {@code $orderby} createdDateTime or
 * updatedDateTime, {@code $top} as OData means it (the total to return), {@code $skip}, {@code $count};
 * pages of {@value #PAGE_SIZE} chosen by the server, continued by {@code @odata.nextLink} with an opaque
 * {@code $skiptoken} (keyset, so writes between pages neither skip nor repeat a referral);</li>
 * <li>every body it serves is validated too; a violation is recorded ({@link #contractViolations()}).</li>
 * </ul>
 */
public final class ReferralBook {

    static final ObjectMapper JSON = new ObjectMapper();
    /** Server-driven page size: the list page says "if there are more than 100 items, use @odata.nextLink". */
    public static final int PAGE_SIZE = 100;

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

    /** The documented transition table: from a status, the statuses allowed next; per status, its substatuses. */
    static final Map<String, Set<String>> NEXT_STATUS = Map.of("New", Set.of("New", "Active", "Closed"),
            "Active", Set.of("Active", "Closed"), "Closed", Set.of("Closed"));
    static final Map<String, Set<String>> SUBSTATUS_OF = Map.of("New", Set.of("Pending", "Received"),
            "Active", Set.of("Accepted"), "Closed", Set.of("Won", "Lost", "Declined", "Expired"));

    /** Enum properties whose values are matched case-insensitively and written as the contract spells them. */
    private static final Map<String, List<String>> ENUMS = Map.of(
            "status", List.of("None", "New", "Active", "Closed"),
            "substatus", List.of("None", "Pending", "Received", "Accepted", "Won", "Lost", "Declined", "Expired"),
            "type", List.of("Shared", "Independent"),
            "qualification", List.of("None", "Direct", "MarketingQualified", "SalesQualified"),
            "salesStage", List.of("Qualify", "Develop", "Propose", "Close"));

    /** Canonical camelCase spelling of every property name of the contract, by lower-case name. */
    private static final Map<String, String> CANONICAL = new TreeMap<>();
    static {
        for (String n : List.of("id", "engagementId", "name", "organizationId", "organizationName",
                "externalReferenceId", "createdDateTime", "updatedDateTime", "expirationDateTime", "acceptedDateTime",
                "closedDateTime", "status", "substatus", "statusReason", "type", "qualification", "salesStage",
                "customerProfile", "consent", "details", "team", "inviteContext", "target", "trackingInfo",
                "microsoftMsxId", "registrations", "registrationStatus", "eTag", "links", "attributes", "campaignId",
                "referralProgram", "favorite", "isSpam", "lastModifiedVia", "lastRunId", "mpnId", "callToAction",
                "referralSource", "quality", "direction", "tags", "tag", "address", "addressLine1", "addressLine2",
                "city", "state", "postalCode", "country", "region", "size", "ids", "profileType", "firstName",
                "lastName", "phoneNumber", "email", "contactPreference", "locale", "disableNotifications",
                "consentToToShareInfoWithOthers", "consentToContact", "consentToShareReferralWithMicrosoftSellers",
                "consentToMicrosoftToContactSpecificPartners", "notes", "dealValue", "currency", "closingDateTime",
                "customerAction", "customerRequestedContact", "requirements", "industries", "products", "services",
                "solutions", "offers", "additionalRequirements", "invitedBy", "assistanceRequestCode", "objectType",
                "self", "relatedReferrals", "uri", "method", "registrationDateTime", "contract", "value",
                "startDateTime", "endDateTime", "signDateTime", "term", "solutionDetails", "isDeployedOnAzure",
                "primaryDeploymentOn", "pricingModel", "marketplaceTransactionDetails", "isMarketplaceTransacted",
                "marketplaceTransactionDateTime", "statusHistory", "reviewPendingDateTime", "actionRequiredDateTime",
                "passedDateTime", "failedDateTime", "approvedDateTime")) {
            CANONICAL.put(n.toLowerCase(Locale.ROOT), n);
        }
        CANONICAL.put("referraltype", "type"); // the Referral table's name of "type"
    }

    /** Documented $filter properties: the 2019 page's table, plus those the current page's examples use. */
    static final Set<String> FILTERABLE = Set.of("engagementId", "status", "substatus", "updatedDateTime", "email",
            "qualification", "type", "direction");

    /** A position in a list order: the time (compared as instants, not as text) and the id. */
    private record Key(Instant sort, String id) {

        static Key of(String time, String id) {
            return new Key(Instant.parse(time), id);
        }
    }

    private static final Comparator<Key> ORDER = Comparator.comparing(Key::sort).thenComparing(Key::id);

    /** Read-only in the swagger: set by the service; a client's values are ignored (and recorded as a contract note). */
    static final List<String> READ_ONLY = List.of("registrations", "registrationStatus", "quality", "isSpam", "direction",
            "tags", "acceptedDateTime", "closedDateTime");

    private final Map<String, Map<String, ObjectNode>> byTenant = new ConcurrentHashMap<>();
    /** Per tenant, by (createdDateTime, id): the usual order, kept up to date (100,000 referrals page fast). */
    private final Map<String, ConcurrentSkipListMap<Key, String>> byCreated = new ConcurrentHashMap<>();
    private final AtomicLong versions = new AtomicLong(0x2500ec5aL);
    private final String selfBase;
    private final ContractSchema contract = ContractSchema.partnerCenter();
    private final List<String> violations = new CopyOnWriteArrayList<>();

    /** @param selfBase base of the {@code links} written into referrals (the API's own URL) */
    public ReferralBook(String selfBase) {
        this.selfBase = selfBase;
    }

    // ------------------------------------------------------------------------------------- reads

    public ObjectNode get(String tenant, String id) {
        return served(withLinks(stored(tenant, id)));
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

    /** A list request's OData options, as sent. */
    public record ListQuery(String filter, String orderby, Integer top, Integer skip, boolean count, String skipToken) {

        public static ListQuery of(String filter) {
            return new ListQuery(filter, null, null, null, false, null);
        }
    }

    /**
     * One page of the list.
     *
     * @param nextLinkBase URL of the list, to which the next page's {@code ?$skiptoken=} is appended
     */
    public ObjectNode list(String tenant, ListQuery query, String nextLinkBase) {
        ObjectNode token = query.skipToken() == null ? null : decodeToken(query.skipToken());
        String filter = token != null ? textOrNull(token.get("f")) : query.filter();
        String orderby = token != null ? textOrNull(token.get("o")) : query.orderby();
        // $top is the total to return (OData): what the token carries is what is left of it.
        Integer remaining = token != null ? (token.hasNonNull("t") ? token.get("t").asInt() : null) : query.top();
        int skip = token != null ? 0 : query.skip() == null ? 0 : query.skip();
        if (remaining != null && remaining < 0 || skip < 0) {
            throw new ReferralException(400, "InvalidInput", "$top and $skip must not be negative.");
        }
        String[] order = parseOrder(orderby);
        boolean byUpdated = order[0].equals("updatedDateTime");
        boolean desc = order[1].equals("desc");
        ODataFilter.Predicate predicate = predicate(filter);
        Map<String, ObjectNode> rows = tenant(tenant);
        Iterator<Map.Entry<Key, String>> view = view(tenant, byUpdated, desc, token == null ? null
                : Key.of(token.path("s").asText(), token.path("i").asText()));

        int size = remaining == null ? PAGE_SIZE : Math.min(PAGE_SIZE, remaining);
        ArrayNode value = JSON.createArrayNode();
        Key last = null;
        boolean more = false;
        long matching = 0;
        while (view.hasNext()) {
            Map.Entry<Key, String> e = view.next();
            ObjectNode r = rows.get(e.getValue());
            if (r == null || (predicate != null && !predicate.test(filterView(r)))) {
                continue;
            }
            matching++;
            if (skip > 0) {
                skip--;
                continue;
            }
            if (value.size() == size) {
                more = remaining == null || remaining > size;
                if (!query.count()) {
                    break;
                }
                continue;
            }
            value.add(withLinks(r));
            last = e.getKey();
        }
        ObjectNode page = JSON.createObjectNode();
        page.put("@odata.context", selfBase + "/v1.0/$metadata#Referrals");
        page.put("@odata.count", query.count() ? matching : value.size());
        page.set("value", value);
        if (more) {
            ObjectNode next = JSON.createObjectNode().put("s", last.sort().toString()).put("i", last.id());
            next.put("o", orderby == null ? "" : orderby);
            putOrNull(next, "f", filter);
            if (remaining != null) {
                next.put("t", remaining - value.size());
            }
            String t = Base64.getUrlEncoder().withoutPadding().encodeToString(next.toString().getBytes(StandardCharsets.UTF_8));
            page.put("@odata.nextLink", nextLinkBase + "?$skiptoken=" + t);
        }
        return served(page, Shape.ReferralList);
    }

    private Iterator<Map.Entry<Key, String>> view(String tenant, boolean byUpdated, boolean desc, Key after) {
        ConcurrentSkipListMap<Key, String> index;
        if (byUpdated) {
            // Updated order changes with every write: sorted per request (the emulator's lists are small).
            index = new ConcurrentSkipListMap<>(ORDER);
            // (a referral updated between two pages moves: it can show twice or not at all, as with any
            // service paging on a changing key; createdDateTime, the backfill's order, does not move)
            for (ObjectNode r : tenant(tenant).values()) {
                index.put(Key.of(r.path("updatedDateTime").asText(), r.path("id").asText()), r.path("id").asText());
            }
        } else {
            index = byCreated.computeIfAbsent(tenant, t -> new ConcurrentSkipListMap<>(ORDER));
        }
        if (after == null) {
            return (desc ? index.descendingMap() : index).entrySet().iterator();
        }
        return (desc ? index.headMap(after, false).descendingMap() : index.tailMap(after, false)).entrySet().iterator();
    }

    // ------------------------------------------------------------------------------------- writes

    /**
     * Creates a referral. {@code organization} is the partner organisation the caller belongs to; a
     * Microsoft-originated referral (admin API) passes its own inviteContext.
     */
    public ObjectNode create(String tenant, JsonNode body, String organizationId, String organizationName) {
        return create(tenant, body, organizationId, organizationName, "Outgoing");
    }

    /**
     * @param direction Outgoing for a referral a partner creates (the Referrals API), Incoming for one
     *        Microsoft sends it (the admin API)
     */
    public ObjectNode create(String tenant, JsonNode body, String organizationId, String organizationName, String direction) {
        ObjectNode r = normalize(body);
        check(Shape.NewReferral, r);
        if (direction.equals("Outgoing")) {
            ignoreReadOnly("POST", r);
        }
        if (r.path("customerProfile").path("name").asText("").isBlank()) {
            throw new ReferralException(400, "InvalidInput", "customerProfile.name is required.");
        }
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
        // New referrals start New/Pending, whatever the body says; an outgoing one is accepted as it is
        // created (the referral-resources page: "For outgoing referrals, it's same date as referral creation").
        r.put("status", "New");
        r.put("substatus", "Pending");
        r.put("direction", direction);
        if (direction.equals("Outgoing")) {
            r.put("acceptedDateTime", now.toString());
        }
        r.remove("links");
        r.putObject("attributes").put("objectType", "Referral");
        r.put("eTag", nextETag());
        tenant(tenant).put(id, r);
        byCreated.computeIfAbsent(tenant, t -> new ConcurrentSkipListMap<>(ORDER))
                .put(Key.of(r.path("createdDateTime").asText(), id), id);
        return served(withLinks(r));
    }

    /** Replaces a referral (the deprecated PUT) if {@code ifMatch} is its current eTag. */
    public synchronized ObjectNode replace(String tenant, String id, JsonNode body, String ifMatch) {
        ObjectNode current = stored(tenant, id);
        if (ifMatch == null || ifMatch.isBlank()) {
            throw new ReferralException(428, "PreconditionRequired",
                    "The If-Match header with the referral's eTag is required to update a referral.");
        }
        checkETag(current, ifMatch);
        ObjectNode r = normalize(body);
        r.remove("links");
        check(Shape.NewReferral, r);
        ignoreReadOnly("PUT", r);
        if (r.hasNonNull("id") && !id.equals(r.path("id").asText())) {
            throw new ReferralException(400, "InvalidInput", "The id in the body (" + r.path("id").asText()
                    + ") does not match the referral in the URL (" + id + ").");
        }
        validateTransition(current, r);
        // Server-owned properties are kept as they were.
        List<String> serverOwned = new ArrayList<>(List.of("id", "engagementId", "organizationId", "organizationName",
                "createdDateTime", "attributes"));
        serverOwned.addAll(READ_ONLY);
        for (String k : serverOwned) {
            if (current.has(k)) {
                r.set(k, current.get(k));
            }
        }
        return write(tenant, current, r);
    }

    /**
     * Applies a JSON Patch (PatchReferralById and the deal registration operations): {@code replace} and
     * {@code add} on the documented paths, in order, then the transition check, all or nothing.
     * {@code If-Match}, when sent, must be the current eTag.
     */
    public synchronized ObjectNode patch(String tenant, String id, JsonNode body, String ifMatch) {
        ObjectNode current = stored(tenant, id);
        if (ifMatch != null && !ifMatch.isBlank()) {
            checkETag(current, ifMatch);
        }
        if (!(body instanceof ArrayNode ops)) {
            throw new ReferralException(400, "InvalidInput", "The body must be a JSON Patch document: an array of {op, path, value}.");
        }
        ArrayNode patch = lenientValues(ops);
        check(patchShape(patch), patch);
        ObjectNode next = current.deepCopy();
        for (JsonNode op : patch) {
            apply(next, op.path("op").asText(), op.path("path").asText(), normalizeValue(op.get("value")));
        }
        validateTransition(current, next);
        registered(next);
        return write(tenant, current, next);
    }

    /**
     * A registration just requested (added without an id) is received for review: an id, the time, the
     * status. The swagger gives no status values; ours are named after its statusHistory
     * (ReviewPending, ActionRequired, Passed, Failed, Approved).
     */
    private static void registered(ObjectNode referral) {
        for (JsonNode reg : referral.path("registrations")) {
            if (reg instanceof ObjectNode o && !o.hasNonNull("id")) {
                String now = Instant.now().toString();
                o.put("id", UUID.randomUUID().toString());
                o.put("registrationDateTime", now);
                o.put("status", "ReviewPending");
                o.putObject("statusHistory").put("reviewPendingDateTime", now);
                referral.put("registrationStatus", "ReviewPending");
            }
        }
    }

    /**
     * Applies a change as Microsoft would (admin API): a JSON merge patch over the stored referral,
     * without eTag check but with the same validation, and a new eTag.
     */
    public synchronized ObjectNode merge(String tenant, String id, JsonNode patch) {
        ObjectNode current = stored(tenant, id);
        ObjectNode next = current.deepCopy();
        mergeInto(next, normalize(patch));
        check(Shape.Referral, next);
        validateTransition(current, next);
        return write(tenant, current, next);
    }

    /** Loads many referrals directly (benchmarks): each must already have id and createdDateTime. */
    public void load(String tenant, List<ObjectNode> referrals) {
        Map<String, ObjectNode> rows = tenant(tenant);
        var index = byCreated.computeIfAbsent(tenant, t -> new ConcurrentSkipListMap<>(ORDER));
        for (ObjectNode r : referrals) {
            ObjectNode n = normalize(r);
            n.put("eTag", nextETag());
            rows.put(n.path("id").asText(), n);
            index.put(Key.of(n.path("createdDateTime").asText(), n.path("id").asText()), n.path("id").asText());
        }
    }

    /** Ids of referrals stored outside the contract on purpose ({@link #loadBeyondContract}). */
    private final Set<String> beyondContract = ConcurrentHashMap.newKeySet();

    /** Stores a referral without the contract check (a test of a service newer than the contract); New/Pending. */
    public ObjectNode loadBeyondContract(String tenant, ObjectNode body, String organizationId) {
        ObjectNode r = normalize(body);
        String id = UUID.randomUUID().toString();
        String now = Instant.now().toString();
        r.put("id", id).put("engagementId", UUID.randomUUID().toString()).put("organizationId", organizationId)
                .put("createdDateTime", now).put("updatedDateTime", now).put("status", "New").put("substatus", "Pending")
                .put("eTag", nextETag());
        beyondContract.add(id);
        tenant(tenant).put(id, r);
        byCreated.computeIfAbsent(tenant, t -> new ConcurrentSkipListMap<>(ORDER)).put(Key.of(now, id), id);
        return withLinks(r);
    }

    public void clear() {
        byTenant.clear();
        byCreated.clear();
        violations.clear();
        requestNotes.clear();
    }

    /** Bodies this book served that broke the contract, and read-only properties clients sent (should stay empty). */
    public List<String> contractViolations() {
        List<String> out = new ArrayList<>(violations);
        out.addAll(requestNotes);
        return out;
    }

    // ------------------------------------------------------------------------------------- helpers

    private ObjectNode write(String tenant, ObjectNode current, ObjectNode next) {
        Instant now = Instant.now();
        String from = current.path("status").asText();
        String to = next.path("status").asText();
        if (!from.equals(to) && to.equals("Active") && !next.hasNonNull("acceptedDateTime")) {
            next.put("acceptedDateTime", now.toString());
        }
        if (!from.equals(to) && to.equals("Closed")) {
            next.put("closedDateTime", now.toString());
        }
        next.remove("links");
        next.put("updatedDateTime", now.toString());
        next.put("eTag", nextETag());
        tenant(tenant).put(next.path("id").asText(), next);
        return served(withLinks(next));
    }

    private ObjectNode stored(String tenant, String id) {
        ObjectNode r = tenant(tenant).get(id);
        if (r == null) {
            throw new ReferralException(404, "Referral_NotFound", "Referral " + id + " was not found.");
        }
        return r;
    }

    private static void checkETag(ObjectNode current, String ifMatch) {
        if (!ifMatch.trim().equals("*") && !bare(ifMatch).equals(bare(current.path("eTag").asText()))) {
            throw new ReferralException(412, "PreconditionFailed", "The referral was changed by someone else: eTag "
                    + ifMatch.trim() + " is not the current one. Read the referral again and retry.");
        }
    }

    /** Contract notes on requests the book took anyway (read-only properties a client sent). */
    private final List<String> requestNotes = new CopyOnWriteArrayList<>();

    /** The swagger's read-only properties a client sent are ignored, as the service ignores them, and noted. */
    private void ignoreReadOnly(String method, ObjectNode r) {
        for (String k : READ_ONLY) {
            if (r.has(k)) {
                requestNotes.add(method + " sent the read-only property '" + k + "'");
                r.remove(k);
            }
        }
    }

    /** A request body that breaks the contract: 400 naming every property that does. */
    private void check(Shape shape, JsonNode body) {
        List<String> problems = contract.problems(shape, body);
        if (!problems.isEmpty()) {
            throw new ReferralException(400, "InvalidInput", "The request does not match the " + shape
                    + " contract: " + String.join("; ", problems));
        }
    }

    private ObjectNode served(ObjectNode body) {
        return served(body, Shape.Referral);
    }

    private volatile boolean checkAnswers = true;

    /**
     * Whether the bodies served are checked against the contract (on by default; the benchmark turns it
     * off: the tests check them, and the check's CPU would be counted against the connector's run).
     */
    public void setCheckAnswers(boolean check) {
        this.checkAnswers = check;
    }

    private ObjectNode served(ObjectNode body, Shape shape) {
        if (!checkAnswers) {
            return body;
        }
        List<String> problems;
        if (shape != Shape.ReferralList) {
            problems = beyondContract.contains(body.path("id").asText()) ? List.of() : contract.problems(shape, body);
        } else {
            // a page is judged referral by referral: one stored beyond the contract on purpose does not count
            problems = new ArrayList<>();
            for (JsonNode r : body.path("value")) {
                if (!beyondContract.contains(r.path("id").asText())) {
                    problems.addAll(contract.problems(Shape.Referral, r));
                }
            }
        }
        if (!problems.isEmpty()) {
            violations.add("served " + shape + " " + body.path("id").asText("") + ": " + String.join("; ", problems));
        }
        return body;
    }

    /**
     * Which of the swagger's three PATCH bodies this is (they share the path): a deal registration added
     * (/registrations/-), one changed (/registrations/0/...), or the referral's own fields.
     */
    static Shape patchShape(ArrayNode ops) {
        boolean all = !ops.isEmpty();
        boolean added = true;
        for (JsonNode op : ops) {
            String path = op.path("path").asText();
            all &= path.startsWith("/registrations/");
            added &= path.equals("/registrations/-");
        }
        return !all ? Shape.UpdateReferralDetails : added ? Shape.DealRegistration : Shape.UpdateDealRegistration;
    }

    /** The documented PATCH examples send /details/dealValue as a string ("10000"): read as the decimal it names. */
    private static ArrayNode lenientValues(ArrayNode ops) {
        ArrayNode out = ops.deepCopy();
        for (JsonNode op : out) {
            if (op instanceof ObjectNode o && "/details/dealValue".equals(o.path("path").asText()) && o.path("value").isTextual()) {
                try {
                    o.put("value", new BigDecimal(o.path("value").asText().trim()));
                } catch (NumberFormatException e) {
                    // left as it is: the contract check names it
                }
            }
        }
        return out;
    }

    /** One JSON Patch operation (RFC 6902 add / replace), on a path the contract check let through. */
    private static void apply(ObjectNode target, String op, String path, JsonNode value) {
        String[] parts = path.substring(1).split("/");
        JsonNode parent = target;
        for (int i = 0; i < parts.length - 1; i++) {
            String part = parts[i];
            JsonNode next = parent.isArray() ? parent.get(index(part, parent.size(), path)) : parent.get(part);
            if ((next == null || next.isNull()) && i == parts.length - 2 && parts[i + 1].equals("-") && parent.isObject()) {
                // a list of the referral's model that holds nothing yet (registrations, team): the swagger's
                // own CreateDealRegistration adds to /registrations/- on referrals that have none
                next = ((ObjectNode) parent).putArray(part);
            }
            if (next == null || next.isNull() || next.isValueNode()) {
                // RFC 6902: the target's parent must exist (the patch page cites it)
                throw new ReferralException(400, "InvalidInput", "The path " + path + " goes through '" + part
                        + "', which the referral does not have.");
            }
            parent = next;
        }
        String last = parts[parts.length - 1];
        if (parent instanceof ArrayNode array) {
            if (last.equals("-")) {
                array.add(value);
            } else {
                int i = index(last, array.size(), path);
                if (op.equals("add")) {
                    array.insert(i, value);
                } else {
                    array.set(i, value);
                }
            }
        } else if (last.equals("-")) {
            throw new ReferralException(400, "InvalidInput", "The path " + path + " appends to a list that is not a list.");
        } else {
            JsonNode existing = parent.get(last);
            if (op.equals("replace") && existing == null) {
                // RFC 6902: replace needs the member; add creates it
                throw new ReferralException(400, "InvalidInput", "The path " + path + " names nothing the referral has: 'add' it.");
            }
            if (op.equals("add") && existing instanceof ArrayNode && !value.isArray()) {
                throw new ReferralException(400, "InvalidInput", "The path " + path + " names a list: add its element at " + path + "/-.");
            }
            ((ObjectNode) parent).set(last, value);
        }
    }

    private static int index(String part, int size, String path) {
        try {
            int i = Integer.parseInt(part);
            if (i >= 0 && i < size) {
                return i;
            }
        } catch (NumberFormatException ignored) {
            // answered below
        }
        throw new ReferralException(400, "InvalidInput", "The path " + path + " names an element that does not exist.");
    }

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
        for (String k : FILTERABLE) {
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

    /** {property, direction} of a documented $orderby: createdDateTime or updatedDateTime, asc (default) or desc. */
    private static String[] parseOrder(String orderby) {
        if (orderby == null || orderby.isBlank()) {
            return new String[] { "createdDateTime", "asc" };
        }
        String[] parts = orderby.trim().split("\\s+");
        String property = parts[0].equalsIgnoreCase("createdDateTime") ? "createdDateTime"
                : parts[0].equalsIgnoreCase("updatedDateTime") ? "updatedDateTime" : null;
        if (property == null || parts.length > 2
                || (parts.length == 2 && !parts[1].equalsIgnoreCase("asc") && !parts[1].equalsIgnoreCase("desc"))) {
            throw new ReferralException(400, "InvalidOrderBy",
                    "Referrals can be ordered by createdDateTime or updatedDateTime [asc|desc] only.");
        }
        return new String[] { property, parts.length == 2 ? parts[1].toLowerCase(Locale.ROOT) : "asc" };
    }

    private static ObjectNode decodeToken(String token) {
        try {
            JsonNode n = JSON.readTree(Base64.getUrlDecoder().decode(token));
            if (n instanceof ObjectNode o && o.has("s") && o.has("i")) {
                return o;
            }
        } catch (Exception ignored) {
            // answered below
        }
        throw new ReferralException(400, "InvalidContinuationToken", "The $skiptoken is not valid.");
    }

    private static String textOrNull(JsonNode n) {
        return n == null || n.isNull() || n.asText().isEmpty() ? null : n.asText();
    }

    private static void putOrNull(ObjectNode o, String k, String v) {
        if (v == null) {
            o.putNull(k);
        } else {
            o.put(k, v);
        }
    }

    /** Copies the body, property names in the contract's spelling and enum values in its case (recursively). */
    static ObjectNode normalize(JsonNode body) {
        if (!(body instanceof ObjectNode)) {
            throw new ReferralException(400, "InvalidInput", "The request body must be a JSON object.");
        }
        return (ObjectNode) normalizeValue(body);
    }

    private static JsonNode normalizeValue(JsonNode n) {
        if (n == null) {
            return JSON.nullNode();
        }
        if (n.isObject()) {
            ObjectNode out = JSON.createObjectNode();
            n.fields().forEachRemaining(e -> {
                String name = CANONICAL.getOrDefault(e.getKey().toLowerCase(Locale.ROOT), e.getKey());
                JsonNode v = normalizeValue(e.getValue());
                if (name.equals("solutionType") && !n.has("type") && v.isTextual()
                        && List.of("none", "category", "name").contains(v.asText().toLowerCase(Locale.ROOT))) {
                    name = "type"; // the 2019 SolutionTag table's SolutionType is the examples' type
                    v = JSON.getNodeFactory().textNode(Character.toUpperCase(v.asText().charAt(0)) + v.asText().substring(1).toLowerCase(Locale.ROOT));
                }
                List<String> allowed = ENUMS.get(name);
                if (allowed != null && v.isTextual()) {
                    String text = v.asText();
                    v = JSON.getNodeFactory().textNode(allowed.stream().filter(a -> a.equalsIgnoreCase(text)).findFirst()
                            .orElse(text));
                }
                out.set(name, v);
            });
            return out;
        }
        if (n.isArray()) {
            ArrayNode out = JSON.createArrayNode();
            n.forEach(x -> out.add(normalizeValue(x)));
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
