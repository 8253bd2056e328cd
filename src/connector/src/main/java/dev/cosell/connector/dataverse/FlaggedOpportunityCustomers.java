package dev.cosell.connector.dataverse;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.camel.Exchange;

/**
 * The accounts and contacts of a poll page's newly flagged opportunities, read in one Dataverse
 * {@code $batch} instead of one GET each: the page's rows then find their customer here
 * (routes/create-cosell-referral-dynamics-365-to-partner-center.camel.yaml, read-opportunity-customer) and
 * only read it themselves when it is not (a failed part, a replayed dead letter, a pushed change).
 * The answers are kept while the page is handled and forgotten when it is done.
 */
public final class FlaggedOpportunityCustomers {

    /** Exchange property: the reads of the current page, in the order of the $batch parts. */
    public static final String READS = "customerReads";

    private final ODataBatch batch;
    private final Map<String, Map<String, Object>> read = new ConcurrentHashMap<>();

    public FlaggedOpportunityCustomers(ODataBatch batch) {
        this.batch = batch;
    }

    /**
     * The {@code $batch} bodies (sync.dataverse.batch-size reads each, sent at once) reading, each once,
     * the account and contact of every row that is flagged for Partner Center and carries no referral
     * yet; null when that is fewer than two reads (one GET is no dearer than a $batch of one).
     */
    public List<String> reads(Map<String, Object> page, Exchange exchange) {
        Set<String> reads = new LinkedHashSet<>();
        if (page != null && page.get("value") instanceof List<?> rows) {
            for (Object r : rows) {
                if (r instanceof Map<?, ?> row && Boolean.TRUE.equals(row.get("cosell_syncwithpartnercenter"))
                        && blank(row.get("cosell_referralid"))) {
                    add(reads, "accounts", row.get("_parentaccountid_value"));
                    add(reads, "contacts", row.get("_parentcontactid_value"));
                }
            }
        }
        if (reads.size() < 2) {
            exchange.removeProperty(READS);
            return null;
        }
        List<String> order = new ArrayList<>(reads);
        exchange.setProperty(READS, order);
        return batch.getBodies(order);
    }

    /** Keeps the answers of the page's $batch calls (a part that failed is read by its row itself). */
    @SuppressWarnings("unchecked")
    public void found(List<String> responses, Exchange exchange) {
        List<String> order = exchange.getProperty(READS, List.class);
        List<ODataBatch.Answer> answers = batch.parts(responses);
        for (int i = 0; order != null && i < order.size() && i < answers.size(); i++) {
            if (answers.get(i).ok() && !answers.get(i).body().isEmpty()) {
                read.put(order.get(i), answers.get(i).body());
            }
        }
    }

    /** The record the page's $batch read for {@code entitySet(id)}, or null: then the caller GETs it. */
    public Map<String, Object> get(String entitySet, String id) {
        return id == null ? null : read.get(entitySet + "(" + id + ")");
    }

    /** The page is handled: its answers are dropped (the next poll reads fresh ones). */
    @SuppressWarnings("unchecked")
    public void forget(Exchange exchange) {
        List<String> order = exchange.getProperty(READS, List.class);
        if (order != null) {
            order.forEach(read::remove);
            exchange.removeProperty(READS);
        }
    }

    /** How many answers are kept now (0 between pages). */
    public int size() {
        return read.size();
    }

    private static void add(Set<String> reads, String entitySet, Object id) {
        if (id instanceof String s && !s.isBlank()) {
            reads.add(entitySet + "(" + s + ")");
        }
    }

    private static boolean blank(Object value) {
        return value == null || (value instanceof String s && s.isBlank());
    }
}
