package dev.cosell.connector.ledger;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import javax.sql.DataSource;

/**
 * One creator at a time per new customer (routes/partner-center-to-dynamics-365.camel.yaml,
 * create-opportunity-from-referral). Referrals of the same customer are worked on in parallel (webhooks,
 * backfill pages, several nodes); without this, two of them could both find no account and both create
 * one (Dataverse has no alternate key on account).
 * <ul>
 * <li>On this node, a lock per customer: the others wait for the holder.</li>
 * <li>Across nodes, the database decides ({@code customer_creation}, primary key on the customer): the
 * node whose insert wins creates the customer; the others wait until it is marked created (or until the
 * creator's claim is {@value #STALE_SECONDS} s old: it died, and is taken over).</li>
 * </ul>
 * {@link #lock} says whether someone else created the customer meanwhile: then the caller looks it up
 * again instead of creating it, so an uncontended new customer costs no extra call.
 */
public final class NewCustomers {

    private static final int REMEMBERED = 10_000;
    static final long STALE_SECONDS = 30;
    private static final String UNIQUE_VIOLATION = "23505";

    /** A customer's lock while someone holds or waits for it (dropped after: the map does not grow). */
    private static final class Lock {
        final Semaphore semaphore = new Semaphore(1);
        int users; // changed only inside the map's compute, i.e. atomically per customer
    }

    private final DataSource dataSource;
    private final String owner = UUID.randomUUID().toString();
    private final Map<String, Lock> locks = new ConcurrentHashMap<>();
    private final Map<String, Long> createdAt = new LinkedHashMap<>(256, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
            return size() > REMEMBERED;
        }
    };

    /** @param dataSource the shared store the nodes decide in; null: this node alone (tests) */
    public NewCustomers(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    /** The look-up found no account, or no contact where the referral names one. */
    public boolean missing(Object accountId, String contactQuery, Object contactId) {
        return accountId == null || (contactQuery != null && contactId == null);
    }

    /** When a look-up starts (the {@code since} of {@link #lock}). */
    public long now() {
        return System.nanoTime();
    }

    /**
     * Takes the customer's creation, waiting for whoever has it (this node or another).
     *
     * @param since when the caller's look-up started ({@link #now})
     * @return true when the customer was created by someone else since then: look it up again
     */
    public boolean lock(String customer, long since) throws InterruptedException {
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
        try {
            boolean createdHere = createdSince(customer, since);
            return dataSource == null ? createdHere : claim(key(customer)) || createdHere;
        } catch (RuntimeException | InterruptedException e) {
            unlock(customer);
            throw e;
        }
    }

    /** The customer's account (and contact) now exist. */
    public void created(String customer) {
        synchronized (createdAt) {
            createdAt.put(customer, System.nanoTime());
        }
        if (dataSource != null) {
            update("update customer_creation set state = 'created', updated_at = ? where customer_key = ? and owner = ?",
                    key(customer));
            // The customer is in the CRM now: later referrals find it by their look-up; old rows can go.
            try (Connection c = dataSource.getConnection();
                    PreparedStatement ps = c.prepareStatement("delete from customer_creation where updated_at < ?")) {
                ps.setTimestamp(1, Timestamp.from(Instant.now().minus(Duration.ofHours(1))));
                ps.executeUpdate();
            } catch (SQLException e) {
                throw new IllegalStateException("cannot tidy customer_creation", e);
            }
        }
    }

    public void unlock(String customer) {
        try {
            if (dataSource != null) {
                // A creation that did not finish gives the customer back (another may try).
                try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
                        "delete from customer_creation where customer_key = ? and owner = ? and state = 'creating'")) {
                    ps.setString(1, key(customer));
                    ps.setString(2, owner);
                    ps.executeUpdate();
                } catch (SQLException e) {
                    // the claim goes stale and is taken over (STALE_SECONDS); this node's lock is released below
                    throw new IllegalStateException("cannot release the customer's creation", e);
                }
            }
        } finally {
            Lock lock = locks.get(customer);
            if (lock != null) {
                lock.semaphore.release();
                leave(customer);
            }
        }
    }

    /**
     * Keeps this node's claims on these customers fresh while it still works on them (a backfill page holds
     * its claims through several round trips): another node takes a claim over only when it is
     * {@value #STALE_SECONDS} s old, i.e. its holder died.
     */
    public void touch(java.util.Collection<String> customers) {
        if (dataSource == null || customers.isEmpty()) {
            return;
        }
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
                "update customer_creation set updated_at = ? where customer_key = ? and owner = ? and state = 'creating'")) {
            Timestamp now = Timestamp.from(Instant.now());
            for (String customer : customers) {
                ps.setTimestamp(1, now);
                ps.setString(2, key(customer));
                ps.setString(3, owner);
                ps.addBatch();
            }
            ps.executeBatch();
        } catch (SQLException e) {
            throw new IllegalStateException("cannot keep the customers' creation claimed", e);
        }
    }

    /** Customers whose lock is held or waited for now on this node (0 when idle). */
    public int locked() {
        return locks.size();
    }

    private void leave(String customer) {
        locks.computeIfPresent(customer, (k, l) -> --l.users == 0 ? null : l);
    }

    private boolean createdSince(String customer, long since) {
        synchronized (createdAt) {
            Long at = createdAt.get(customer);
            return at != null && at - since >= 0;
        }
    }

    /**
     * The database's decision: true when another node created the customer (or had claimed it and died),
     * false when this node now holds the creation.
     */
    private boolean claim(String key) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2 * STALE_SECONDS);
        while (true) {
            try (Connection c = dataSource.getConnection()) {
                try (PreparedStatement in = c.prepareStatement(
                        "insert into customer_creation (customer_key, state, owner, updated_at) values (?, 'creating', ?, ?)")) {
                    in.setString(1, key);
                    in.setString(2, owner);
                    in.setTimestamp(3, Timestamp.from(Instant.now()));
                    in.executeUpdate();
                    return false; // ours to create
                } catch (SQLException e) {
                    if (!UNIQUE_VIOLATION.equals(e.getSQLState())) {
                        throw e;
                    }
                }
                try (PreparedStatement q = c.prepareStatement(
                        "select state, updated_at from customer_creation where customer_key = ?")) {
                    q.setString(1, key);
                    try (ResultSet rs = q.executeQuery()) {
                        if (rs.next()) {
                            if ("created".equals(rs.getString(1))) {
                                return true;
                            }
                            Timestamp at = rs.getTimestamp(2);
                            if (at.toInstant().isBefore(Instant.now().minusSeconds(STALE_SECONDS)) && takeOver(c, key, at)) {
                                return true; // its creator died: look again, then create what is missing
                            }
                        }
                    }
                }
            } catch (SQLException e) {
                throw new IllegalStateException("cannot decide who creates the customer", e);
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("a new customer has been being created by another node for "
                        + 2 * STALE_SECONDS + " s");
            }
            Thread.sleep(50); // another node is creating it: wait for its mark
        }
    }

    private boolean takeOver(Connection c, String key, Timestamp seen) throws SQLException {
        try (PreparedStatement up = c.prepareStatement(
                "update customer_creation set owner = ?, updated_at = ? where customer_key = ? and state = 'creating' and updated_at = ?")) {
            up.setString(1, owner);
            up.setTimestamp(2, Timestamp.from(Instant.now()));
            up.setString(3, key);
            up.setTimestamp(4, seen);
            return up.executeUpdate() == 1;
        }
    }

    private void update(String sql, String key) {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setTimestamp(1, Timestamp.from(Instant.now()));
            ps.setString(2, key);
            ps.setString(3, owner);
            ps.executeUpdate();
        } catch (SQLException e) {
            throw new IllegalStateException("cannot mark the customer created", e);
        }
    }

    /** The customer's key in the store: a hash of its match query (queries can be long). */
    static String key(String customer) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(customer.getBytes(StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
