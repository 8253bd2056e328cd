package dev.cosell.connector.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.CallLog;
import dev.cosell.connector.sandbox.Sandbox;
import dev.cosell.connector.sandbox.TestHttp;
import org.junit.jupiter.api.Test;

/**
 * The benchmark's bare replay is only a fair floor if it really re-does the connector's work: here a
 * recorded sequence with server-generated ids and eTags is replayed against fresh emulators and must
 * answer with the same statuses and leave the same data behind.
 */
class BareReplayTest {

    static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void replayMapsGeneratedIdsAndEtagsAndLeavesTheSameData() throws Exception {
        List<BareReplay.Call> recorded;
        String recordedId;
        try (Sandbox first = Sandbox.start(Sandbox.Options.defaults())) {
            TestHttp http = dataverseClient(first);
            String api = first.dataverse().environmentUrl() + "/api/data/v9.2/";
            first.dataverse().calls().capture(true);
            // Create (the server makes the id and the eTag), update with that eTag, read, update with the
            // stale eTag (412): every later request depends on a value an earlier answer produced.
            TestHttp.Resp created = http.send("POST", api + "accounts", "{\"name\":\"Contoso\",\"address1_city\":\"Oslo\"}",
                    "Prefer", "return=representation");
            assertEquals(201, created.status());
            recordedId = created.json().path("accountid").asText();
            String etag = created.json().path("@odata.etag").asText();
            assertEquals(204, http.send("PATCH", api + "accounts(" + recordedId + ")", "{\"name\":\"Contoso Renamed\"}",
                    "If-Match", etag).status());
            assertEquals(200, http.get(api + "accounts(" + recordedId + ")?$select=name").status());
            assertEquals(412, http.send("PATCH", api + "accounts(" + recordedId + ")", "{\"name\":\"lost update\"}",
                    "If-Match", etag).status());
            first.dataverse().calls().capture(false);
            recorded = first.dataverse().calls().captured().stream().map(c -> new BareReplay.Call(c, false)).toList();
        }
        assertEquals(4, recorded.size());

        try (Sandbox fresh = Sandbox.start(Sandbox.Options.defaults())) {
            long connectionsBefore = fresh.dataverse().connectionsOpened();
            BareReplay.Result result = new BareReplay(fresh).replay(recorded, 1, 2);

            assertEquals(4, result.calls());
            assertEquals(1, fresh.dataverse().connectionsOpened() - connectionsBefore,
                    "four calls one after another over one kept-alive TLS connection (the emulator counts them)");
            assertEquals(4, result.sameStatus(), "every replayed call answered as recorded (incl. the 412)");
            List<ObjectNode> accounts = fresh.dataverse().api().rows("accounts");
            assertEquals(1, accounts.size());
            assertEquals("Contoso Renamed", accounts.get(0).path("name").asText());
            assertNotEquals(recordedId, accounts.get(0).path("accountid").asText(), "a new id, mapped by the replay");
        }
    }

    @Test
    void concurrencyIsTheLargestNumberOfCallsInFlightAtOnce() {
        List<BareReplay.Call> calls = List.of(call(0, 10), call(5, 20), call(8, 9), call(20, 30), call(31, 40));
        // 0-10, 5-20 and 8-9 overlap at 8; the call ending at 20 has ended when the one starting at 20 starts.
        assertEquals(3, BareReplay.concurrency(calls));
        assertEquals(1, BareReplay.concurrency(List.of(call(0, 1), call(1, 2))));
    }

    private static BareReplay.Call call(long start, long end) {
        return new BareReplay.Call(new CallLog.Captured(start, start, end, "GET", "/x", Map.of(), null, 200, Map.of(), null),
                false);
    }

    private static TestHttp dataverseClient(Sandbox sandbox) throws Exception {
        var o = sandbox.options();
        String form = "grant_type=client_credentials&client_id=" + enc(o.clientId()) + "&client_secret="
                + enc(o.clientSecret()) + "&scope=" + enc(sandbox.dataverse().environmentUrl() + "/.default");
        HttpResponse<String> r = HttpClient.newBuilder().sslContext(sandbox.pki().clientSslContext()).build()
                .send(HttpRequest.newBuilder(URI.create(sandbox.entra().baseUrl() + "/" + o.tenant() + "/oauth2/v2.0/token"))
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .POST(HttpRequest.BodyPublishers.ofString(form)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        JsonNode token = JSON.readTree(r.body());
        assertNotNull(token.get("access_token"));
        String authorization = "Bearer " + token.path("access_token").asText();
        return new TestHttp(sandbox.pki().clientSslContext(), () -> authorization);
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }
}
