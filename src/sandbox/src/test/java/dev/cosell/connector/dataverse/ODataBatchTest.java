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

    @Test
    void aPageIsCutIntoBodiesOfTheBatchSizeAndTheirAnswersReadBackInOrder() {
        ODataBatch small = new ODataBatch("/api/data/v9.2", 2);
        java.util.List<String> urls = java.util.List.of("accounts(1)", "accounts(2)", "accounts(3)", "accounts(4)", "accounts(5)");
        java.util.List<String> bodies = small.getBodies(urls);
        assertEquals(3, bodies.size(), "2 + 2 + 1");
        assertTrue(bodies.get(0).contains("accounts(1)") && bodies.get(0).contains("accounts(2)") && !bodies.get(0).contains("accounts(3)"));
        assertTrue(bodies.get(2).contains("accounts(5)") && bodies.get(2).endsWith("--batch_cosell--\r\n"));
        assertEquals(0, small.getBodies(java.util.List.of()).size(), "no call for nothing");

        java.util.List<String> responses = new java.util.ArrayList<>();
        for (int b = 0; b < 3; b++) {
            StringBuilder r = new StringBuilder();
            for (int i = 2 * b + 1; i <= Math.min(5, 2 * b + 2); i++) {
                r.append("--r\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n\r\n{\"accountid\":\"").append(i)
                        .append("\"}\r\n");
            }
            responses.add(r.append("--r--\r\n").toString());
        }
        var answers = small.parts(responses);
        assertEquals(5, answers.size());
        for (int i = 0; i < 5; i++) {
            assertEquals(String.valueOf(i + 1), answers.get(i).body().get("accountid"));
        }
        // A response short of an answer: the next body's answers stay on their own requests.
        responses.set(0, responses.get(0).substring(0, responses.get(0).indexOf("--r\r\nContent-Type", 5)) + "--r--\r\n");
        var shifted = small.parts(responses);
        assertEquals(5, shifted.size());
        assertEquals("1", shifted.get(0).body().get("accountid"));
        assertEquals(0, shifted.get(1).status(), "the missing answer is a failed one");
        assertFalse(shifted.get(1).ok());
        assertEquals("3", shifted.get(2).body().get("accountid"), "not moved onto request 2");
        assertThrows(IllegalArgumentException.class, () -> new ODataBatch("/api/data/v9.2", 1001), "Dataverse's limit is 1,000");
    }
}
