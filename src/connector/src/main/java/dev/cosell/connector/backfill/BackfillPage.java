package dev.cosell.connector.backfill;

import dev.cosell.connector.ledger.SyncLedger;
import dev.cosell.connector.ledger.AuditTrail;
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
 * opportunity" with a customer already in the CRM get their opportunities in two Dataverse round trips
 * for the whole page, instead of two per referral: one {@code $batch} of account and contact lookups
 * (each distinct query once), one {@code $batch} of creations (the same mapping files, the same
 * alternate-key PATCH with {@code If-None-Match: *} as one by one, so nothing is ever created twice), and
 * the page's ledger rows and audit lines in one transaction.
 *
 * <p>Everything else goes one by one through the webhook's pipeline, which decides, retries and
 * dead-letters: referrals already linked, closed, not co-sell, created from an opportunity, of a
 * customer not in the CRM yet (created there, before the next page looks up), whose mapping fails, and any whose creation in the batch
 * was not answered 2xx (a 412 there means it exists: the pipeline links it). The state is kept in
 * exchange properties: {@value #NEW} (this path) and {@value #ONE_BY_ONE} (the rest).
 */
public final class BackfillPage {

    public static final String NEW = "newReferrals";
    public static final String ONE_BY_ONE = "oneByOne";
    public static final String NEW_CUSTOMERS = "newCustomerReferrals";

    private static final Logger LOG = LoggerFactory.getLogger(BackfillPage.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final SyncLedger ledger;
    private final FieldMappings mappings;
    private final CustomerMatch customers;
    private final ODataBatch batch;
    private final AuditTrail auditTrail;
    private final dev.cosell.connector.dataverse.ColumnLimits columns;
    private final SyncDecisions decisions;

    public BackfillPage(SyncLedger ledger, FieldMappings mappings, CustomerMatch customers, ODataBatch batch,
            AuditTrail auditTrail, dev.cosell.connector.dataverse.ColumnLimits columns, SyncDecisions decisions) {
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

    /** The {@code $batch} body reading the accounts and contacts of the new referrals, each distinct query once. */
    public String customerReads(Exchange exchange) {
        Set<String> queries = new LinkedHashSet<>();
        for (Item item : items(exchange)) {
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
        return batch.gets(order);
    }

    /**
     * Reads the lookups' answers: a referral whose account (and contact, when it names one) exists stays
     * on the bulk path; those of customers not in the CRM go to {@value #NEW_CUSTOMERS} (the route puts
     * them through the one-by-one pipeline, which creates the customer, before the next page looks up
     * its customers).
     */
    @SuppressWarnings("unchecked")
    public void customersFound(String response, Exchange exchange) {
        List<String> order = exchange.getProperty("customerQueries", List.class);
        List<ODataBatch.Answer> answers = batch.parts(response);
        Map<String, Object> found = new LinkedHashMap<>();
        for (int i = 0; i < order.size() && i < answers.size(); i++) {
            ODataBatch.Answer a = answers.get(i);
            if (a.ok() && a.body().get("value") instanceof List<?> rows && !rows.isEmpty()
                    && rows.get(0) instanceof Map<?, ?> row) {
                String idColumn = order.get(i).startsWith("accounts?") ? "accountid" : "contactid";
                found.put(order.get(i), row.get(idColumn));
            }
        }
        exchange.removeProperty("customerQueries");
        List<Item> keep = new ArrayList<>();
        List<Map<String, Object>> newCustomers = new ArrayList<>();
        for (Item item : items(exchange)) {
            item.accountId = item.accountQuery == null ? null : found.get("accounts?" + item.accountQuery);
            item.contactId = item.contactQuery == null ? null : found.get("contacts?" + item.contactQuery);
            if (item.accountId != null && (item.contactQuery == null || item.contactId != null)) {
                keep.add(item);
            } else if (item.accountQuery == null) {
                oneByOne(exchange).add(item.referral);
            } else {
                newCustomers.add(item.referral);
            }
        }
        exchange.setProperty(NEW, keep);
        exchange.setProperty(NEW_CUSTOMERS, newCustomers);
    }

    /**
     * The {@code $batch} body creating the opportunities, through the same mapping files as one by one
     * (referral-to-opportunity-create, the audit line), each by its alternate key with
     * {@code If-None-Match: *}. A referral whose mapping fails leaves for the one-by-one path.
     */
    public String opportunityCreates(Exchange exchange) throws JsonProcessingException {
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
        return batch.body(writes);
    }

    /**
     * Reads the creations' answers: each opportunity created (2xx with its representation) is linked in
     * the ledger, with the hashes the later syncs compare (one transaction for the page); every other
     * answer sends its referral one by one.
     */
    public void created(String response, Exchange exchange) {
        List<ODataBatch.Answer> answers = batch.parts(response);
        List<Item> items = items(exchange);
        List<SyncLedger.Created> created = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            Item item = items.get(i);
            ODataBatch.Answer a = i < answers.size() ? answers.get(i) : null;
            Object opportunityId = a == null ? null : a.body().get("opportunityid");
            if (a == null || !a.ok() || opportunityId == null) {
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
        exchange.setProperty(NEW, List.of());
        exchange.setProperty("createdInBulk", created.size());
    }

    /** The bulk path failed as a whole (e.g. the $batch call): what it still held goes one by one. */
    public void allOneByOne(Exchange exchange) {
        for (Item item : items(exchange)) {
            oneByOne(exchange).add(item.referral);
        }
        exchange.setProperty(NEW, List.of());
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
