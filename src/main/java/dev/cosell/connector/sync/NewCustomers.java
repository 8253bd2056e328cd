package dev.cosell.connector.sync;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;

/**
 * One creator at a time per new customer (routes/partner-center-to-dynamics-365.yaml,
 * create-opportunity-from-referral). Referrals of the same customer are worked on in parallel (webhooks,
 * backfill pages); without this, two of them could both find no account and both create one. A referral
 * that found no account takes the customer's lock, and looks again only if the account was created on
 * this node after its own look-up, so an uncontended new customer costs no extra call. Per node: two
 * nodes can still race (Dataverse has no alternate key on account).
 */
public final class NewCustomers {

    private static final int REMEMBERED = 10_000;

    private final Map<String, Semaphore> locks = new ConcurrentHashMap<>();
    private final Map<String, Long> createdAt = new LinkedHashMap<>(256, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
            return size() > REMEMBERED;
        }
    };

    /** The look-up found no account, or no contact where the referral names one. */
    public boolean missing(Object accountId, String contactQuery, Object contactId) {
        return accountId == null || (contactQuery != null && contactId == null);
    }

    /** When a look-up starts (compared with {@link #createdSince}). */
    public long now() {
        return System.nanoTime();
    }

    public void lock(String customer) throws InterruptedException {
        locks.computeIfAbsent(customer, k -> new Semaphore(1)).acquire();
    }

    public void unlock(String customer) {
        Semaphore s = locks.get(customer);
        if (s != null) {
            s.release();
        }
    }

    /** True when this customer was created on this node after {@code since}: look it up again. */
    public synchronized boolean createdSince(String customer, long since) {
        Long at = createdAt.get(customer);
        return at != null && at - since >= 0;
    }

    /** The customer's account (and contact) now exist. */
    public synchronized void created(String customer) {
        createdAt.put(customer, System.nanoTime());
    }
}
