package dev.cosell.connector.dataverse;


import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.camel.http.base.HttpOperationFailedException;
import org.junit.jupiter.api.Test;

/** The $batch body of two reads, and its answers read back (the sandbox test runs it for real). */
class ODataBatchTest {

    private final ODataBatch batch = new ODataBatch("/api/data/v9.2");

    @Test
    void twoReadsOrOneWhenTheSecondQueryIsMissing() {
        String both = batch.reads("accounts", "$select=accountid&$top=1", "contacts", "$select=contactid");
        assertTrue(both.contains("GET /api/data/v9.2/accounts?$select=accountid&$top=1 HTTP/1.1"), both);
        assertTrue(both.contains("GET /api/data/v9.2/contacts?$select=contactid HTTP/1.1"), both);
        assertTrue(both.endsWith("--batch_cosell--\r\n"));
        assertFalse(batch.reads("accounts", "$top=1", "contacts", null).contains("contacts"));
    }

    @Test
    void answersInOrderAndAFailedReadIsThrownWithItsOwnStatus() throws Exception {
        String ok = "--batchresponse_1\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n"
                + "Content-Type: application/json\r\n\r\n{\"value\":[{\"accountid\":\"a1\"}]}\r\n"
                + "--batchresponse_1\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n\r\n{\"value\":[]}\r\n"
                + "--batchresponse_1--\r\n";
        var answers = batch.answers(ok);
        assertEquals(2, answers.size());
        assertEquals("a1", new ODataResults().first(answers.get(0), "accountid"));
        assertEquals(null, new ODataResults().first(answers.get(1), "contactid"));

        String throttled = "--batchresponse_2\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 429 Too Many Requests\r\n\r\n"
                + "{\"error\":{\"code\":\"0x80072322\"}}\r\n--batchresponse_2--\r\n";
        assertEquals(429, assertThrows(HttpOperationFailedException.class, () -> batch.answers(throttled)).getStatusCode());
        assertThrows(IllegalStateException.class, () -> batch.answers("<html>proxy error</html>"));
    }
}
