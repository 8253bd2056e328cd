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

    /** A customer's lock while someone holds or waits for it (dropped after: the map does not grow). */
    private static final class Lock {
        final Semaphore semaphore = new Semaphore(1);
        int users; // changed only inside the map's compute, i.e. atomically per customer
    }

    private final Map<String, Lock> locks = new ConcurrentHashMap<>();
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
        Lock lock = locks.compute(customer, (k, l) -> {
            Lock held = l == null ? new Lock() : l;
            held.users++;
            return held;
        });
        try {
            lock.semaphore.acquire();
        } catch (InterruptedException e) {
            leave(customer);
            throw e;
        }
    }

    public void unlock(String customer) {
        Lock lock = locks.get(customer);
        if (lock != null) {
            lock.semaphore.release();
            leave(customer);
        }
    }

    /** Customers whose lock is held or waited for now (0 when idle). */
    public int locked() {
        return locks.size();
    }

    private void leave(String customer) {
        locks.computeIfPresent(customer, (k, l) -> --l.users == 0 ? null : l);
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
