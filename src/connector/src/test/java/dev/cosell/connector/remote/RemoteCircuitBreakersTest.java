package dev.cosell.connector.remote;

import dev.cosell.connector.metrics.SyncMetrics;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.util.Map;

import org.apache.camel.CamelContext;
import org.apache.camel.Exchange;
import org.apache.camel.http.base.HttpOperationFailedException;
import org.apache.camel.impl.DefaultCamelContext;
import org.apache.camel.support.DefaultExchange;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Which answers count as an outage, and what a call meets while the breaker is open. */
class RemoteCircuitBreakersTest {

    private final CamelContext context = new DefaultCamelContext();
    // 4 calls in the window, all of them needed before judging, open "for ever" within a test.
    private final RemoteCircuitBreakers breakers = new RemoteCircuitBreakers(
            new RemoteCircuitBreakers.Settings(true, 50, 4, 4, 600_000, 1), new SyncMetrics(context));

    @AfterEach
    void close() throws Exception {
        context.close();
    }

    private void call(Exception failure) throws Exception {
        Exchange e = new DefaultExchange(context);
        breakers.permit("dataverse", e);
        if (failure == null) {
            breakers.succeeded("dataverse", e);
            return;
        }
        e.setProperty(Exchange.EXCEPTION_CAUGHT, failure);
        breakers.failed("dataverse", e);
    }

    private static HttpOperationFailedException http(int status) {
        return new HttpOperationFailedException("https://dv.example/api", status, "x", null, Map.of(), "");
    }

    @Test
    void throttlingAndClientErrorsDoNotOpenItAndAreThrownAsTheyAre() {
        for (int status : new int[] { 429, 429, 404, 412, 400, 429 }) {
            HttpOperationFailedException failure = http(status);
            assertSame(failure, assertThrows(HttpOperationFailedException.class, () -> call(failure)));
        }
        assertEquals("CLOSED", breakers.state("dataverse"));
    }

    @Test
    void outagesOpenItThenCallsAreNotSentAndNeverLookLikeTheHttpFailure() throws Exception {
        assertThrows(HttpOperationFailedException.class, () -> call(http(503)));
        assertDoesNotThrow(() -> call(null));
        assertThrows(HttpOperationFailedException.class, () -> call(http(500)));
        // The call that opens it reports the system as unavailable (retried until it closes).
        var opened = assertThrows(RemoteCircuitBreakers.RemoteSystemUnavailableException.class,
                () -> call(new IOException("connection refused")));
        assertEquals(null, opened.getCause(), "not chained: the HTTP retry clause must not match it");
        assertEquals("OPEN", breakers.state("dataverse"));
        // Open: nothing is sent; the caller learns when to look again.
        var held = assertThrows(RemoteCircuitBreakers.RemoteSystemUnavailableException.class,
                () -> breakers.permit("dataverse", new DefaultExchange(context)));
        assertEquals("dataverse", held.getSystem());
        assertEquals(300_000, held.getRetryInMs());
        assertEquals("CLOSED", breakers.state("partnercenter"), "one breaker per system");
    }
}
