package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.sql.DataSource;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cosell.connector.cli.SignInCommand;
import dev.cosell.connector.sandbox.Emulator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The refresh token stops working (revoked: what a password change or "revoke sessions" does) while
 * the connector runs on a device code sign-in, over real HTTP: health sign-in turns DOWN with "sign in
 * again", a webhook event that arrives meanwhile stays in the inbox (no dead letter), a flagged
 * opportunity waits in the poll; after {@code cosell-connector sign-in} (the code approved through the
 * Entra emulator's admin API) health is UP again and both reach the other side.
 */
class SignInAgainTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static final String TOKEN_ENDPOINT = "POST /:tenant/oauth2/v2.0/token";
    static ConnectorHarness harness;
    static HttpClient emulators;
    static final HttpClient HTTP = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        // No refresh token configured: the connector runs on the sign-in alone. Waiting changes are
        // tried again every 300 ms (default 15 s).
        harness = new ConnectorHarness().with("auth.partnercenter.refresh-token", "")
                .with("sync.retry.sign-in-delay-ms", "300").with("sync.poll-interval-ms", "300");
        emulators = HttpClient.newBuilder().sslContext(harness.sandbox.pki().clientSslContext()).build();
        harness.sandbox.entra().setDeviceCodeTiming(60, 1);
        // Access tokens under msal4j's 5-minute margin are renewed at each use: a revoked refresh
        // token shows at the next call instead of within the hour an access token stays valid.
        harness.sandbox.entra().setAccessTokenLifetimeSeconds(120);
        assertEquals(SignInCommand.SIGNED_IN, signIn());
        harness.start();
        harness.awaitWebhookRegistration();
    }

    @AfterAll
    static void stop() {
        harness.close();
    }

    /** cosell-connector sign-in on the harness's store; the user approves the printed code. */
    static int signIn() throws Exception {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(buffer, true, StandardCharsets.UTF_8);
        CommandLine cli = new CommandLine(Path.of("application.properties"), harness.properties(), Map.of());
        CompletableFuture<Integer> exit = CompletableFuture.supplyAsync(() -> {
            try {
                return SignInCommand.run(cli, out);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        Matcher code = Pattern.compile("^ +enter +(\\S+)$", Pattern.MULTILINE).matcher("");
        await().atMost(Duration.ofSeconds(20)).until(() -> code.reset(buffer.toString(StandardCharsets.UTF_8)).find());
        assertEquals(204, admin("/device-codes/" + code.group(1) + "/approve",
                "{\"upn\":\"" + harness.sandbox.options().user() + "\"}"));
        int result = exit.get(30, TimeUnit.SECONDS);
        assertTrue(buffer.toString(StandardCharsets.UTF_8).contains("Signed in: " + harness.sandbox.options().user()),
                buffer.toString(StandardCharsets.UTF_8));
        return result;
    }

    static int admin(String path, String body) throws Exception {
        return emulators.send(HttpRequest.newBuilder(URI.create(harness.sandbox.entra().baseUrl() + Emulator.ADMIN + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode();
    }

    /** The sign-in check as /observe/health serves it. */
    static JsonNode signInCheck() throws Exception {
        String body = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + harness.managementPort
                + "/observe/health?data=true")).build(), HttpResponse.BodyHandlers.ofString()).body();
        for (JsonNode check : JSON.readTree(body).path("checks")) {
            if (check.path("name").asText().endsWith("sign-in")) {
                return check;
            }
        }
        throw new AssertionError("no sign-in check in " + body);
    }

    /** Token requests Entra refused (400: invalid_grant for the revoked refresh token). */
    static long refusedTokenRequests() {
        return harness.sandbox.entra().calls().entries().stream()
                .filter(e -> e.template().equals(TOKEN_ENDPOINT) && e.status() == 400).count();
    }

    static long count(String sql) throws Exception {
        DataSource ds = harness.runtime().context().getRegistry().lookupByNameAndType("dataSource", DataSource.class);
        try (var c = ds.getConnection(); var s = c.createStatement(); var rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static long opportunitiesFor(String referralId) {
        return harness.sandbox.dataverse().api().rows("opportunities").stream()
                .filter(o -> referralId.equals(o.path("cosell_referralid").asText())).count();
    }

    @Test
    void aRevokedRefreshTokenTurnsHealthDownThenSignInResumesEverythingWithNothingLost() throws Exception {
        JsonNode up = signInCheck();
        assertEquals("UP", up.path("status").asText(), up.toString());
        assertEquals(harness.sandbox.options().user(), up.path("data").path("user").asText(), up.toString());
        assertEquals(harness.tenant(), up.path("data").path("tenant").asText(), up.toString());
        assertTrue(up.path("data").has("refreshTokenIssuedAt"), up.toString());

        // The user's refresh tokens are revoked (a password change, "revoke sessions").
        assertEquals(200, admin("/refresh-tokens/revoke", "{\"upn\":\"" + harness.sandbox.options().user() + "\"}"));
        await().atMost(Duration.ofSeconds(10)).until(() -> "DOWN".equals(signInCheck().path("status").asText()));
        JsonNode down = signInCheck();
        assertEquals("sign in again: cosell-connector sign-in", down.path("message").asText(), down.toString());
        assertEquals("invalid_grant", down.path("data").path("error").asText(), down.toString());
        long refusalsWhenDown = refusedTokenRequests();

        // Meanwhile Microsoft shares a referral (webhook) and a seller flags an opportunity (poll).
        String referralId = harness.sandbox.partnerCenter().createAsMicrosoft(harness.tenant(),
                PartnerCenterToDynamicsTest.referral("Paused Sign-in Co", "10to50employees")).path("id").asText();
        Seller seller = new Seller(harness);
        String opportunityId = seller.opportunity("Paused Flag Co", true, "Azure");
        await().atMost(Duration.ofSeconds(10)).until(() -> count("select count(*) from webhook_inbox where resource_id = '"
                + referralId + "'") == 1);
        Thread.sleep(3000); // ten retry rounds of 300 ms
        assertEquals(1, count("select count(*) from webhook_inbox where state = 'received' and resource_id = '" + referralId + "'"),
                "the event stays in the inbox");
        assertEquals(0, count("select count(*) from dead_letter"), "nothing is dead-lettered");
        assertEquals(0, opportunitiesFor(referralId));
        assertEquals(0, seller.referralsFor(opportunityId).size());
        // Waiting changes do not ask Entra again and again with the refused token (msal4j replays a
        // refused answer for a while, the provider stops asking msal4j until a new sign-in; the app's
        // own tokens, for Dataverse, go on: those answers are 200).
        long refused = refusedTokenRequests() - refusalsWhenDown;
        assertTrue(refused <= 1, refused + " refused token requests while waiting for the sign-in");
        assertEquals("DOWN", signInCheck().path("status").asText());

        // The admin signs in again; nothing is restarted.
        assertEquals(SignInCommand.SIGNED_IN, signIn());
        await().atMost(Duration.ofSeconds(15)).until(() -> "UP".equals(signInCheck().path("status").asText()));
        await().atMost(Duration.ofSeconds(15)).until(() -> opportunitiesFor(referralId) == 1);
        await().atMost(Duration.ofSeconds(15)).until(() -> count("select count(*) from webhook_inbox where state = 'done'"
                + " and resource_id = '" + referralId + "'") == 1);
        seller.referralOf(opportunityId);
        assertEquals(0, count("select count(*) from dead_letter"));
    }
}
