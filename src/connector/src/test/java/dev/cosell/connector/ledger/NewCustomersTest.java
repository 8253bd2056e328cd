package dev.cosell.connector.ledger;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;

class NewCustomersTest {

    @Test
    void oneHolderPerCustomerAndNothingKeptOnceReleased() throws Exception {
        NewCustomers customers = new NewCustomers(null);
        customers.lock("contoso", customers.now());
        AtomicBoolean secondIn = new AtomicBoolean();
        Thread second = new Thread(() -> {
            try {
                customers.lock("contoso", customers.now());
                secondIn.set(true);
                customers.unlock("contoso");
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        second.start();
        // Parked on contoso's lock (not merely not started yet).
        await().atMost(Duration.ofSeconds(5)).until(() -> second.getState() == Thread.State.WAITING);
        customers.lock("fabrikam", customers.now()); // another customer is not held up
        customers.unlock("fabrikam");
        assertFalse(secondIn.get(), "the second creator of contoso waits");
        customers.unlock("contoso");
        second.join(5000);
        assertTrue(secondIn.get());
        assertEquals(0, customers.locked(), "no lock kept for customers nobody works on");
    }

    @Test
    void manyCustomersLeaveNoLockBehind() throws Exception {
        NewCustomers customers = new NewCustomers(null);
        for (int i = 0; i < 10_000; i++) {
            customers.lock("customer " + i, customers.now());
            customers.unlock("customer " + i);
        }
        assertEquals(0, customers.locked());
    }

    @Test
    void anInterruptedWaiterLeavesNoLockBehind() throws Exception {
        NewCustomers customers = new NewCustomers(null);
        customers.lock("contoso", customers.now());
        Thread waiter = new Thread(() -> {
            try {
                customers.lock("contoso", customers.now());
            } catch (InterruptedException expected) {
                // gives up
            }
        });
        waiter.start();
        await().atMost(Duration.ofSeconds(5)).until(() -> waiter.getState() == Thread.State.WAITING);
        waiter.interrupt();
        waiter.join();
        customers.unlock("contoso");
        assertEquals(0, customers.locked());
    }
}
