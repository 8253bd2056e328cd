package dev.cosell.connector.cli;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cosell.connector.CommandLine;
import dev.cosell.connector.auth.EntraTokenProvider;
import dev.cosell.connector.sandbox.CallLog;
import dev.cosell.connector.sandbox.Emulator;
import dev.cosell.connector.sandbox.Sandbox;
import dev.cosell.connector.store.ConnectorStore;
import dev.cosell.connector.store.JdbcTokenCacheStore;
import dev.cosell.connector.store.SecretBox;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code cosell-connector sign-in} against the Entra ID emulator over real HTTPS: msal4j's device code
 * flow on the documented endpoints, the user's part (approve, deny) done through the emulator's admin
 * API, as a browser sign-in would. Each test gets its own in-memory store.
 */
class SignInCommandTest {

    static final String USER = "referrals.admin@contoso.example";
    static final String TOKEN_ENDPOINT = "POST /:tenant/oauth2/v2.0/token";
    static final ObjectMapper JSON = new ObjectMapper();
    static Sandbox sandbox;
    static HttpClient http;
    static ExecutorService pool = Executors.newCachedThreadPool();
    Map<String, String> props;

    @BeforeAll
    static void start() throws Exception {
        sandbox = Sandbox.start(new Sandbox.Options(0, 0, 0, "tenant-" + UUID.randomUUID().toString().substring(0, 8),
                "connector-app", "connector-secret", USER, 3599));
        // Codes live 60 s and are polled every second (Entra: 900 s, 5 s).
        sandbox.entra().setDeviceCodeTiming(60, 1);
        http = HttpClient.newBuilder().sslContext(sandbox.pki().clientSslContext()).build();
    }

    @AfterAll
    static void stop() {
        pool.shutdownNow();
        sandbox.close();
    }

    @BeforeEach
    void properties() throws Exception {
        props = new HashMap<>(sandbox.connectorProperties(Files.createTempDirectory("cosell-sign-in"), 0));
        props.put("auth.partnercenter.refresh-token", ""); // the sign-in replaces it
        props.put("store.url", "jdbc:h2:mem:" + UUID.randomUUID()
                + ";DB_CLOSE_DELAY=-1;MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH");
        sandbox.entra().calls().reset();
    }

    /** The command in the background, as a user runs it; its output and its exit code. */
    final class Run {
        final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        final Future<Integer> exit;

        Run() {
            PrintStream out = new PrintStream(buffer, true, StandardCharsets.UTF_8);
            CommandLine cli = new CommandLine(Path.of("application.properties"), props, Map.of());
            exit = pool.submit(() -> SignInCommand.run(cli, out));
        }

        String output() {
            return buffer.toString(StandardCharsets.UTF_8);
        }

        /** The code the command prints for the user to enter. */
        String userCode() {
            Matcher m = Pattern.compile("^ +enter +(\\S+)$", Pattern.MULTILINE).matcher("");
            await().atMost(Duration.ofSeconds(20)).until(() -> m.reset(output()).find());
            return m.group(1);
        }

        int exitCode() throws Exception {
            return exit.get(40, TimeUnit.SECONDS);
        }
    }

    static int admin(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(sandbox.entra().baseUrl() + Emulator.ADMIN + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode();
    }

    static long tokenAnswers(int status) {
        return sandbox.entra().calls().entries().stream()
                .filter(e -> e.template().equals(TOKEN_ENDPOINT) && e.status() == status).count();
    }

    ConnectorStore store() {
        return ConnectorStore.open(props.get("store.url"), "sa", null, props.get("store.secret-key"), 2);
    }

    @Test
    void pendingThenApprovedSignsInAndTheConnectorRenewsFromTheStoreSilently() throws Exception {
        Run run = new Run();
        String code = run.userCode();
        assertTrue(run.output().contains(sandbox.entra().baseUrl() + "/devicelogin"), run.output());
        // Not signed in yet: the polls are answered authorization_pending (400), the command waits.
        await().atMost(Duration.ofSeconds(10)).until(() -> tokenAnswers(400) >= 2);
        assertFalse(run.exit.isDone());
        assertEquals(204, admin("/device-codes/" + code + "/approve", "{\"upn\":\"" + USER + "\"}"), run.output());
        assertEquals(SignInCommand.SIGNED_IN, run.exitCode(), run.output());
        assertTrue(run.output().contains("Signed in: " + USER), run.output());
        assertTrue(run.output().contains("Tenant: " + sandbox.tenant()), run.output());
        Matcher issued = Pattern.compile("Refresh token issued: (\\S+)").matcher(run.output());
        assertTrue(issued.find(), run.output());
        assertTrue(Duration.between(Instant.parse(issued.group(1)), Instant.now()).abs().toSeconds() < 60);
        assertEquals(1, sandbox.entra().calls().count("POST /:tenant/oauth2/v2.0/devicecode"));

        try (ConnectorStore store = store()) {
            // Sealed at rest: no token in the table's text.
            try (Connection c = store.getConnection(); Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("select cache_key, content from auth_token_cache")) {
                int rows = 0;
                while (rs.next()) {
                    rows++;
                    assertTrue(rs.getString(2).startsWith("v1:"), rs.getString(1));
                    assertFalse(rs.getString(2).contains("sandbox-rt"), rs.getString(1));
                }
                assertEquals(2, rows, "the user's msal4j cache and the sign-in record");
            }
            // The connector's provider, with no refresh token configured, renews from that cache: for
            // both Partner Center APIs, as the signed-in user, without another sign-in.
            SecretBox box = new SecretBox(props.get("store.secret-key"));
            sandbox.entra().setAccessTokenLifetimeSeconds(120); // under msal4j's 5-minute margin: renewed each time
            try {
                EntraTokenProvider tokens = new EntraTokenProvider(dev.cosell.connector.ConnectorConfiguration.authSettings(
                        settings()), sandbox.pki().clientSslContext(), new JdbcTokenCacheStore(store, box));
                for (String scope : new String[] { "https://api.partner.microsoft.com/user_impersonation",
                        "https://api.partnercenter.microsoft.com/user_impersonation" }) {
                    JsonNode claims = claims(tokens.accessToken(scope, EntraTokenProvider.Mode.DELEGATED));
                    assertEquals(USER, claims.path("upn").asText());
                    assertEquals(scope.substring(0, scope.lastIndexOf('/')), claims.path("aud").asText());
                }
                assertEquals(USER, tokens.signedInUser().orElseThrow().user());
                assertEquals(sandbox.tenant(), tokens.signedInUser().orElseThrow().tenant());
            } finally {
                sandbox.entra().setAccessTokenLifetimeSeconds(3599);
            }
        }
    }

    @Test
    void declinedAndDeniedEndWithTheDeniedExitCodeAndNoAccount() throws Exception {
        for (String body : new String[] { "{}", "{\"error\":\"access_denied\"}" }) {
            Run run = new Run();
            assertEquals(204, admin("/device-codes/" + run.userCode() + "/deny", body));
            assertEquals(SignInCommand.DENIED, run.exitCode(), run.output());
            assertTrue(run.output().contains(body.equals("{}") ? "authorization_declined" : "access_denied"), run.output());
            assertFalse(run.output().contains("Signed in"), run.output());
        }
        try (ConnectorStore store = store()) {
            assertNull(new JdbcTokenCacheStore(store, new SecretBox(props.get("store.secret-key")))
                    .load(EntraTokenProvider.signInRecordKey("connector-app")));
        }
    }

    @Test
    void aCodeThatExpiresEndsWithTheExpiredExitCode() throws Exception {
        Run run = new Run();
        assertEquals(204, admin("/device-codes/" + run.userCode() + "/expire", ""));
        assertEquals(SignInCommand.EXPIRED, run.exitCode(), run.output());
        assertTrue(run.output().contains("expired_token"), run.output());
    }

    @Test
    void slowDownMakesThePollsFiveSecondsSlowerAndTheSignInStillSucceeds() throws Exception {
        Run run = new Run();
        String code = run.userCode();
        await().atMost(Duration.ofSeconds(10)).until(() -> tokenAnswers(400) >= 1);
        // The next poll is told slow_down; the user has approved meanwhile. A client that kept its
        // 1 s interval would be told slow_down again (the emulator now wants 6 s) and never get tokens.
        assertEquals(204, admin("/device-codes/" + code + "/slow-down", ""));
        assertEquals(204, admin("/device-codes/" + code + "/approve", "{\"upn\":\"" + USER + "\"}"), run.output());
        assertEquals(SignInCommand.SIGNED_IN, run.exitCode(), run.output());
        var polls = sandbox.entra().calls().entries().stream().filter(e -> e.template().equals(TOKEN_ENDPOINT))
                .map(CallLog.Entry::startedAtMillis).toList();
        // ... then one token request after ~6 s: the device code poll (msal4j then redeems its refresh token)
        assertTrue(polls.size() >= 3, polls.toString());
        long lastGap = polls.get(polls.size() - 2) - polls.get(polls.size() - 3);
        assertTrue(lastGap >= 6000, "waited " + lastGap + " ms after slow_down");
    }

    dev.cosell.connector.Settings settings() throws Exception {
        var context = new org.apache.camel.impl.DefaultCamelContext();
        context.getPropertiesComponent().setLocation("file:" + Path.of("application.properties").toAbsolutePath());
        java.util.Properties o = new java.util.Properties();
        o.putAll(props);
        context.getPropertiesComponent().setOverrideProperties(o);
        return new dev.cosell.connector.Settings(context);
    }

    static JsonNode claims(String jwt) throws Exception {
        return JSON.readTree(Base64.getUrlDecoder().decode(jwt.split("\\.")[1]));
    }
}
