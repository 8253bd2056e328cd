package dev.cosell.connector.ledger;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.sql.SQLException;

import org.apache.camel.CamelExecutionException;
import org.apache.camel.impl.DefaultCamelContext;
import org.apache.camel.support.DefaultExchange;
import org.junit.jupiter.api.Test;

/** The one-line reason a dead letter (and the intake's 503 line) gives. */
class DeadLettersTest {

    @Test
    void aFailureIsDescribedInOneLineByWhatSaysSomethingAndItsRootCause() {
        var wrapped = new CamelExecutionException("Exception occurred during execution on the exchange",
                new DefaultExchange(new DefaultCamelContext()),
                new IllegalStateException("cannot write the store's last commit to its file"));
        assertEquals("IllegalStateException: cannot write the store's last commit to its file", DeadLetters.describe(wrapped));
        assertEquals("IllegalArgumentException: bad", DeadLetters.describe(new IllegalArgumentException("bad")));
        var sql = new IllegalStateException("bad SQL grammar []",
                new RuntimeException(new SQLException("Table \"webhook_inbox\" not found;\n SQL statement:\n insert")));
        assertEquals("IllegalStateException: bad SQL grammar [] <- SQLException: Table \"webhook_inbox\" not found; SQL statement: insert",
                DeadLetters.describe(sql));
    }
}
