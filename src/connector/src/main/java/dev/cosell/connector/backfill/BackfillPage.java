package dev.cosell.connector.backfill;

import dev.cosell.connector.ledger.SyncLedger;
import dev.cosell.connector.ledger.AuditTrail;
import dev.cosell.connector.ledger.NewCustomers;
import dev.cosell.connector.mapping.FieldMappings;
import dev.cosell.connector.mapping.MappingException;
import dev.cosell.connector.dataverse.ODataBatch;
import dev.cosell.connector.dataverse.CustomerMatch;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cosell.connector.decision.SyncDecisions;
import org.apache.camel.Exchange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backfill's bulk path for one page of referrals (routes/reconciliation.camel.yaml,
 * {@code backfill-new-referrals}). The referrals of the page that the router would send to "create the
 * opportunity" get their customers and opportunities in a few Dataverse round trips for the whole page
 * instead of several per referral: the account and contact lookups (each distinct query once), the
 * accounts and contacts the CRM lacks (one creator per customer through {@link NewCustomers}; one created
 * meanwhile by another page or node is looked up again, never created twice), the creations (the same
 * mapping files, the same alternate-key PATCH with {@code If-None-Match: *} as one by one, so nothing is
 * ever created twice), and the page's ledger rows and audit lines in one transaction. Each step's
 * requests are cut into {@code $batch} bodies of sync.dataverse.batch-size ({@link ODataBatch#bodies})
 * that the route sends at once.
 *
 * <p>Everything else goes one by one through the webhook's pipeline, which decides, retries and
 * dead-letters: referrals already linked, closed, not co-sell, created from an opportunity, whose
 * mapping fails, and any whose customer or opportunity creation in the batch was not answered 2xx (a 412
 * there means it exists: the pipeline links it). The state is kept in exchange properties: {@value #NEW}
 * (this path), {@value #NEW_CUSTOMERS} (waiting for their customer) and {@value #ONE_BY_ONE} (the rest).
 */
public final class BackfillPage {

    public static final String NEW = "newReferrals";
    public static final String ONE_BY_ONE = "oneByOne";
    public static final String NEW_CUSTOMERS = "newCustomerReferrals";
    private static final String CLAIMED = "claimedCustomers";
    private static final String LOOK_AGAIN = "customersToLookUpAgain";
    private static final String SENT = "customersSent";

    private static final Logger LOG = LoggerFactory.getLogger(BackfillPage.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final SyncLedger ledger;
    private final FieldMappings mappings;
    private final CustomerMatch customers;
    private final ODataBatch batch;
    private final AuditTrail auditTrail;
    private final dev.cosell.connector.dataverse.ColumnLimits columns;
    private final SyncDecisions decisions;
    private final NewCustomers newCustomers;

    public BackfillPage(SyncLedger ledger, FieldMappings mappings, CustomerMatch customers, ODataBatch batch,
            AuditTrail auditTrail, dev.cosell.connector.dataverse.ColumnLimits columns, SyncDecisions decisions,
            NewCustomers newCustomers) {
        this.newCustomers = newCustomers;
        this.columns = columns;
        this.ledger = ledger;
        this.mappings = mappings;
        this.customers = customers;
        this.batch = batch;
        this.auditTrail = auditTrail;
        this.decisions = decisions;
    }

    /** One new referral on the bulk path, with what it gathers on the way. */
    private static final class Item {
        final Map<String, Object> referral;
        String accountQuery;
        String contactQuery;
        Object accountId;
        Object contactId;
        Map<String, Object> projection;
        String projectionHash;

        Item(Map<String, Object> referral) {
            this.referral = referral;
        }

        Object get(String name) {
            return switch (name) {
                case "referral" -> referral;
                case "accountId" -> accountId;
                case "contactId" -> contactId;
                case "projection" -> projection;
                default -> null;
            };
        }

        String id() {
            return String.valueOf(referral.get("id"));
        }
    }

    /**
     * Sorts a page: the referrals the decision table sends to CREATE go to {@value #NEW}; all others to
     * {@value #ONE_BY_ONE} (the webhook's pipeline, which asks the same table).
     */
    @SuppressWarnings("unchecked")
    public void sort(List<Map<String, Object>> page, Exchange exchange) {
        List<String> ids = new ArrayList<>();
        for (Map<String, Object> r : page) {
            ids.add(String.valueOf(r.get("id")));
        }
        Map<String, Map<String, Object>> links = ledger.linksAmong(ids);
        List<Item> fresh = new ArrayList<>();
        List<Map<String, Object>> oneByOne = new ArrayList<>();
        for (Map<String, Object> r : page) {
            boolean create = r.get("id") != null
                    && decisions.forReferral(r, links.get(String.valueOf(r.get("id")))) == SyncDecisions.Referral.CREATE;
            if (create) {
                fresh.add(new Item(r));
            } else {
                oneByOne.add(r);
            }
        }
        exchange.setProperty(NEW, fresh);
        exchange.setProperty(ONE_BY_ONE, oneByOne);
    }

    /** The ISO currency codes of the page's new referrals (the route makes sure Dataverse's currencies are known). */
    @SuppressWarnings("unchecked")
    public java.util.Set<String> currencies(Exchange exchange) {
        java.util.Set<String> codes = new LinkedHashSet<>();
        for (Item item : items(exchange)) {
            if (item.referral.get("details") instanceof Map<?, ?> d && d.get("currency") != null) {
                codes.add(d.get("currency").toString());
            }
        }
        return codes;
    }

    /** True while the bulk path holds referrals. */
    public boolean hasNew(Exchange exchange) {
        List<?> fresh = exchange.getProperty(NEW, List.class);
        return fresh != null && !fresh.isEmpty();
    }

    /**
     * The {@code $batch} bodies reading the accounts and contacts of the new referrals, each distinct
     * query once (sync.dataverse.batch-size reads per body; the route sends them at once).
     */
    public List<String> customerReads(Exchange exchange) {
        return readsOf(items(exchange), exchange);
    }

    /**
     * Reads the lookups' answers: a referral whose account (and contact, when it names one) exists stays
     * on the bulk path; those of customers not in the CRM go to {@value #NEW_CUSTOMERS}, whose customers
     * the page creates itself ({@link #claimCustomers}, {@link #customerCreates}).
     */
    public void customersFound(List<String> responses, Exchange exchange) {
        List<Item> keep = new ArrayList<>();
        List<Item> missing = new ArrayList<>();
        found(items(exchange), responses, exchange, keep, missing);
        exchange.setProperty(NEW, keep);
        exchange.setProperty(NEW_CUSTOMERS, missing);
    }

    private List<String> readsOf(List<Item> items, Exchange exchange) {
        Set<String> queries = new LinkedHashSet<>();
        for (Item item : items) {
            try {
                item.accountQuery = customers.accountQuery(item.referral);
                item.contactQuery = customers.contactQuery(item.referral);
            } catch (MappingException e) {
                item.accountQuery = null; // no way to find the customer: one by one (a dead letter with the reason)
                continue;
            }
            queries.add("accounts?" + item.accountQuery);
            if (item.contactQuery != null) {
                queries.add("contacts?" + item.contactQuery);
            }
        }
        List<String> order = new ArrayList<>(queries);
        exchange.setProperty("customerQueries", order);
        return batch.getBodies(order);
    }

    /** Sorts {@code items} by the lookups' answers: customer found ({@code keep}), not found ({@code missing}), or one by one. */
    @SuppressWarnings("unchecked")
    private void found(List<Item> items, List<String> responses, Exchange exchange, List<Item> keep, List<Item> missing) {
        List<String> order = exchange.getProperty("customerQueries", List.class);
        exchange.removeProperty("customerQueries");
        List<ODataBatch.Answer> answers = batch.parts(responses);
        Map<String, Object> found = new LinkedHashMap<>();
        Set<String> unanswered = new LinkedHashSet<>(order == null ? List.of() : order);
        for (int i = 0; order != null && i < order.size() && i < answers.size(); i++) {
            ODataBatch.Answer a = answers.get(i);
            if (!a.ok()) {
                continue; // not answered: "not found" is not known, so never created from it
            }
            unanswered.remove(order.get(i));
            if (a.body().get("value") instanceof List<?> rows && !rows.isEmpty() && rows.get(0) instanceof Map<?, ?> row) {
                String idColumn = order.get(i).startsWith("accounts?") ? "accountid" : "contactid";
                found.put(order.get(i), row.get(idColumn));
            }
        }
        for (Item item : items) {
            item.accountId = item.accountQuery == null ? null : found.get("accounts?" + item.accountQuery);
            item.contactId = item.contactQuery == null ? null : found.get("contacts?" + item.contactQuery);
            boolean answered = item.accountQuery != null && !unanswered.contains("accounts?" + item.accountQuery)
                    && (item.contactQuery == null || !unanswered.contains("contacts?" + item.contactQuery));
            if (item.accountId != null && (item.contactQuery == null || item.contactId != null)) {
                keep.add(item);
            } else if (!answered) {
                // no way to find the customer (mapping failed) or its lookup not answered: the pipeline
                // looks up again with its retries (a dead letter with the reason if it must)
                oneByOne(exchange).add(item.referral);
            } else {
                missing.add(item);
            }
        }
    }

    /** True while referrals of customers not in the CRM wait for the page to create them. */
    public boolean hasNewCustomers(Exchange exchange) {
        return !newCustomerItems(exchange).isEmpty();
    }

    /**
     * Takes the creation of each new customer of the page (NewCustomers: one creator per customer on
     * this node and across nodes, in a fixed order so two pages never wait for each other). A customer
     * someone else created since the page's lookup ({@code lookedUpAt}), e.g. the page before, is not
     * created again: its referrals are looked up again ({@link #lookAgain}). {@link #releaseCustomers}
     * gives them all back.
     */
    public void claimCustomers(long lookedUpAt, Exchange exchange) throws InterruptedException {
        java.util.TreeMap<String, List<Item>> byCustomer = new java.util.TreeMap<>();
        for (Item item : newCustomerItems(exchange)) {
            byCustomer.computeIfAbsent(item.accountQuery, k -> new ArrayList<>()).add(item);
        }
        List<String> claimed = new ArrayList<>();
        exchange.setProperty(CLAIMED, claimed);
        List<Item> mine = new ArrayList<>();
        List<Item> again = new ArrayList<>();
        for (Map.Entry<String, List<Item>> customer : byCustomer.entrySet()) {
            boolean createdMeanwhile = newCustomers.lock(customer.getKey(), lookedUpAt);
            claimed.add(customer.getKey());
            if (createdMeanwhile) {
                again.addAll(customer.getValue());
            } else {
                mine.addAll(customer.getValue());
            }
        }
        exchange.setProperty(NEW_CUSTOMERS, mine);
        exchange.setProperty(LOOK_AGAIN, again);
    }

    /**
     * The {@code $batch} bodies looking up again the customers someone else created since the page
     * looked (none when there are none); {@link #foundAgain} reads the answers.
     */
    public List<String> lookAgain(Exchange exchange) {
        return readsOf(lookAgainItems(exchange), exchange);
    }

    /** The answers of {@link #lookAgain}: found customers join the bulk path, one still missing goes one by one. */
    public void foundAgain(List<String> responses, Exchange exchange) {
        List<Item> again = lookAgainItems(exchange);
        exchange.removeProperty(LOOK_AGAIN);
        List<Item> missing = new ArrayList<>();
        found(again, responses, exchange, items(exchange), missing);
        missing.forEach(item -> oneByOne(exchange).add(item.referral));
    }

    @SuppressWarnings("unchecked")
    private static List<Item> lookAgainItems(Exchange exchange) {
        List<Item> items = exchange.getProperty(LOOK_AGAIN, List.class);
        return items == null ? List.of() : items;
    }

    /**
     * The {@code $batch} bodies creating the page's missing {@code account}s (one per customer) or, once
     * they exist, its missing {@code contact}s (one per e-mail), from the same mapping files and column
     * limits as one by one ({@code Prefer: return=representation}: the answer carries the new id). A
     * customer whose mapping fails sends its referrals one by one (a dead letter with the reason).
     */
    @SuppressWarnings("unchecked")
    public List<String> customerCreates(String table, Exchange exchange) throws JsonProcessingException {
        boolean account = "account".equals(table);
        List<String> claimed = exchange.getProperty(CLAIMED, List.class);
        if (claimed != null) {
            newCustomers.touch(claimed); // still ours: the round trips before may have taken a while
        }
        Map<String, Item> first = new LinkedHashMap<>();
        for (Item item : newCustomerItems(exchange)) {
            String key = account ? (item.accountId == null ? item.accountQuery : null)
                    : (item.contactQuery != null && item.contactId == null ? item.contactQuery : null);
            if (key != null) {
                first.putIfAbsent(key, item);
            }
        }
        List<String> order = new ArrayList<>();
        List<ODataBatch.Request> creates = new ArrayList<>();
        for (Map.Entry<String, Item> e : first.entrySet()) {
            Item item = e.getValue();
            Map<String, Object> body;
            try {
                body = mappings.mapRecord(account ? "referral-to-account" : "referral-to-contact", item::get);
            } catch (MappingException ex) {
                dropCustomer(exchange, table, e.getKey());
                continue;
            }
            String cut = columns.fit(table, body);
            if (cut != null) {
                LOG.info("Text cut to fit Dataverse: {}", cut);
                ledger.audit("reconciliation", item.id(), null, "fitted", cut);
            }
            order.add(e.getKey());
            creates.add(new ODataBatch.Request("POST", account ? "accounts" : "contacts",
                    Map.of("Prefer", "return=representation"), JSON.writeValueAsString(body)));
        }
        exchange.setProperty("customerCreates", order);
        // sent: whatever the answers, those waiting for these customers look again rather than create (releaseCustomers)
        for (String key : order) {
            sentCustomers(exchange).add(first.get(key).accountQuery);
        }
        return batch.bodies(creates);
    }

    /**
     * Reads the creations' answers: each new id goes to every referral of that customer; a creation not
     * answered 2xx sends the customer's referrals one by one (their pipeline looks up and creates again).
     * After the contacts, the referrals whose customer is complete join the page's opportunities and the
     * customer is marked created (NewCustomers).
     */
    @SuppressWarnings("unchecked")
    public void customersCreated(String table, List<String> responses, Exchange exchange) {
        boolean account = "account".equals(table);
        List<String> order = exchange.getProperty("customerCreates", List.class);
        List<ODataBatch.Answer> answers = batch.parts(responses);
        exchange.removeProperty("customerCreates");
        for (int i = 0; i < order.size(); i++) {
            ODataBatch.Answer a = i < answers.size() ? answers.get(i) : null;
            Object id = a == null || !a.ok() ? null : a.body().get(account ? "accountid" : "contactid");
            if (id == null) {
                dropCustomer(exchange, table, order.get(i));
                continue;
            }
            for (Item item : newCustomerItems(exchange)) {
                if (order.get(i).equals(account ? item.accountQuery : item.contactQuery)) {
                    if (account) {
                        item.accountId = id;
                    } else {
                        item.contactId = id;
                    }
                }
            }
        }
        if (!account) {
            List<Item> waiting = newCustomerItems(exchange);
            exchange.setProperty(NEW_CUSTOMERS, new ArrayList<Item>()); // first: nothing is handed on twice
            int ready = 0;
            Set<String> done = new LinkedHashSet<>();
            for (Item item : waiting) {
                if (item.accountId != null && (item.contactQuery == null || item.contactId != null)) {
                    items(exchange).add(item);
                    done.add(item.accountQuery);
                    ready++;
                } else {
                    oneByOne(exchange).add(item.referral);
                }
            }
            exchange.setProperty("customersCreated", done.size());
            LOG.debug("Backfill page: {} new customers created for {} referrals", done.size(), ready);
        }
    }

    @SuppressWarnings("unchecked")
    private static Set<String> sentCustomers(Exchange exchange) {
        Set<String> sent = exchange.getProperty(SENT, Set.class);
        if (sent == null) {
            sent = new LinkedHashSet<>();
            exchange.setProperty(SENT, sent);
        }
        return sent;
    }

    /** Gives back every customer {@link #claimCustomers} took (doFinally); its referrals not on the bulk path go one by one. */
    @SuppressWarnings("unchecked")
    public void releaseCustomers(Exchange exchange) {
        for (Item item : newCustomerItems(exchange)) {
            oneByOne(exchange).add(item.referral);
        }
        for (Item item : lookAgainItems(exchange)) {
            oneByOne(exchange).add(item.referral);
        }
        exchange.removeProperty(LOOK_AGAIN);
        exchange.setProperty(NEW_CUSTOMERS, new ArrayList<Item>());
        List<String> claimed = exchange.getProperty(CLAIMED, List.class);
        Set<String> sent = sentCustomers(exchange);
        exchange.removeProperty(CLAIMED);
        exchange.removeProperty(SENT);
        for (String customer : claimed == null ? List.<String>of() : claimed) {
            try {
                // An account creation that went out may exist (even when its answer or a later step
                // failed): those waiting for this customer look it up again instead of creating it.
                if (sent.contains(customer)) {
                    newCustomers.created(customer);
                }
            } catch (RuntimeException e) {
                LOG.warn("Backfill page: customer not marked created ({}); its claim goes stale", e.getMessage());
            } finally {
                try {
                    newCustomers.unlock(customer);
                } catch (RuntimeException e) {
                    LOG.warn("Backfill page: customer claim not given back ({}); it goes stale", e.getMessage());
                }
            }
        }
    }

    /** A customer the page cannot create: its referrals leave for the one-by-one path. */
    private void dropCustomer(Exchange exchange, String table, String key) {
        boolean account = "account".equals(table);
        List<Item> stay = new ArrayList<>();
        for (Item item : newCustomerItems(exchange)) {
            if (key.equals(account ? item.accountQuery : item.contactQuery)) {
                oneByOne(exchange).add(item.referral);
            } else {
                stay.add(item);
            }
        }
        exchange.setProperty(NEW_CUSTOMERS, stay);
    }

    @SuppressWarnings("unchecked")
    private static List<Item> newCustomerItems(Exchange exchange) {
        List<Item> items = exchange.getProperty(NEW_CUSTOMERS, List.class);
        return items == null ? List.of() : items;
    }

    /**
     * The {@code $batch} body creating the opportunities, through the same mapping files as one by one
     * (referral-to-opportunity-create, the audit line), each by its alternate key with
     * {@code If-None-Match: *}. A referral whose mapping fails leaves for the one-by-one path.
     */
    public List<String> opportunityCreates(Exchange exchange) throws JsonProcessingException {
        List<Item> keep = new ArrayList<>();
        List<ODataBatch.Request> writes = new ArrayList<>();
        for (Item item : items(exchange)) {
            Map<String, Object> body;
            try {
                item.projection = mappings.mapRecord("referral-to-opportunity-update", item::get);
                item.projectionHash = ledger.hash(item.projection);
                body = mappings.mapRecord("referral-to-opportunity-create", item::get);
            } catch (MappingException e) {
                oneByOne(exchange).add(item.referral);
                continue;
            }
            String cut = columns.fit("opportunity", body);
            body = auditTrail.addTo(body, "cosell_audit", null, "Partner Center -> CRM: created from referral " + item.id()
                    + " (" + item.referral.get("status") + "/" + item.referral.get("substatus") + ")"
                    + (cut == null ? "" : "; " + cut));
            writes.add(new ODataBatch.Request("PATCH", "opportunities(cosell_referralid='" + item.id() + "')",
                    Map.of("If-None-Match", "*", "Prefer", "return=representation"), JSON.writeValueAsString(body)));
            keep.add(item);
        }
        exchange.setProperty(NEW, keep);
        return batch.bodies(writes);
    }

    /**
     * Reads the creations' answers: each opportunity created (2xx with its representation) is linked in
     * the ledger, with the hashes the later syncs compare (one transaction for the page); every other
     * answer sends its referral one by one.
     */
    public void created(List<String> responses, Exchange exchange) {
        List<ODataBatch.Answer> answers = batch.parts(responses);
        List<Item> items = items(exchange);
        List<SyncLedger.Created> created = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            Item item = items.get(i);
            ODataBatch.Answer a = i < answers.size() ? answers.get(i) : null;
            Object opportunityId = a == null ? null : a.body().get("opportunityid");
            // (the answer names its referral: an answer out of order can never link the wrong one)
            if (a == null || !a.ok() || opportunityId == null || !item.id().equals(a.body().get("cosell_referralid"))) {
                oneByOne(exchange).add(item.referral);
                continue;
            }
            Map<String, Object> opportunity = a.body();
            Map<String, Object> solutions = mappings.mapRecord("opportunity-to-referral-solutions",
                    name -> "opportunity".equals(name) ? opportunity : item.get(name));
            Object solutionList = solutions.get("solutions");
            Map<String, Object> crmProjection = mappings.mapRecord("opportunity-to-referral-update",
                    name -> "opportunity".equals(name) ? opportunity : "solutions".equals(name) ? solutionList : item.get(name));
            created.add(new SyncLedger.Created(item.referral, opportunityId.toString(),
                    (String) opportunity.get("@odata.etag"), item.projection, item.projectionHash, crmProjection,
                    ledger.hash(crmProjection)));
            LOG.debug("Referral {} -> opportunity {} created (backfill $batch)", item.id(), opportunityId);
        }
        ledger.recordCreated("reconciliation", created);
        exchange.setProperty(NEW, new ArrayList<Item>());
        exchange.setProperty("createdInBulk", created.size());
    }

    /** The bulk path failed as a whole (e.g. a $batch call): what it still held goes one by one. */
    public void allOneByOne(Exchange exchange) {
        for (Item item : items(exchange)) {
            oneByOne(exchange).add(item.referral);
        }
        exchange.setProperty(NEW, new ArrayList<Item>());
    }

    @SuppressWarnings("unchecked")
    private static List<Item> items(Exchange exchange) {
        List<Item> items = exchange.getProperty(NEW, List.class);
        return items == null ? List.of() : items;
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> oneByOne(Exchange exchange) {
        return exchange.getProperty(ONE_BY_ONE, List.class);
    }
}
