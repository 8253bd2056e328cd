package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.CookieManager;
import java.net.HttpCookie;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;


import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.backfill.Reconciliation;
import dev.cosell.connector.console.ConsolePassword;
import dev.cosell.connector.sandbox.partnercenter.SampleReferrals;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The operator console refuses what it must, over plain HTTP (no browser): every page and every action
 * without a signed-in session, every action without its CSRF token (or with another session's), a wrong
 * password, a sign-in without a token; and a refused action changes nothing. The session cookie is HttpOnly
 * and SameSite=Strict.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConsoleSecurityTest {

    static final String PASSWORD = "security-test-password";
    static ConnectorHarness harness;
    static String base;
    static String referralId;
    static long letterToDiscard;
    static long letterToReplay;

    @BeforeAll
    static void start() throws Exception {
        harness = new ConnectorHarness().with("console.user", "admin")
                .with("console.password-hash", ConsolePassword.hash(PASSWORD)).with("sync.retry.initial-delay-ms", "50")
                .with("sync.poll-interval-ms", "3600000");
        harness.start();
        var pc = harness.sandbox.partnerCenter();
        pc.webhooks().setFirstRetryDelayMs(50);
        harness.awaitWebhookRegistration();
        referralId = pc.createAsMicrosoft(harness.tenant(), SampleReferrals.coSell("Secure Customer", "Secure Customer co-sell",
                "10to50employees")).path("id").asText();
        await().atMost(Duration.ofSeconds(20)).until(() -> ledger().find(referralId) != null);
        for (String customer : List.of("Franc One", "Franc Two")) {
            ObjectNode francs = SampleReferrals.coSell(customer, customer + " co-sell", "10to50employees");
            ((ObjectNode) francs.path("details")).put("currency", "CHF");
            pc.createAsMicrosoft(harness.tenant(), francs);
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> count("select count(*) from dead_letter where state = 'open'") == 2);
        letterToDiscard = count("select min(id) from dead_letter");
        letterToReplay = count("select max(id) from dead_letter");
        base = dev.cosell.connector.console.OperatorConsole.url(new Settings(harness.runtime().context())).replaceAll("/$", "");
    }

    @AfterAll
    static void stop() {
        harness.close();
    }

    static List<String> pages() {
        return List.of("/", "/records", "/records?q=secure", "/records/" + referralId, "/records/" + referralId + "/timeline",
                "/dead-letters", "/dead-letters?all=1", "/dead-letters/" + letterToDiscard, "/dead-letters/" + letterToReplay + "/outcome",
                "/backfill", "/backfill/progress", "/mapping", "/mapping?referral=" + referralId);
    }

    /** Every action, with the form it needs. */
    static Map<String, String> actions() {
        Map<String, String> a = new LinkedHashMap<>();
        a.put("/records/" + referralId + "/sync", "");
        a.put("/dead-letters/" + letterToDiscard + "/discard", "reason=test");
        a.put("/dead-letters/" + letterToReplay + "/replay", "");
        a.put("/dead-letters/replay-all", "");
        a.put("/backfill/start", "dryRun=true");
        return a;
    }

    @Test
    @Order(1)
    void withoutASignedInSessionEveryPageAndActionIsRefused() throws Exception {
        Browser anonymous = new Browser();
        for (String page : pages()) {
            HttpResponse<String> r = anonymous.get(page, Map.of());
            assertEquals(303, r.statusCode(), page);
            assertEquals("/console/login", r.headers().firstValue("Location").orElse(""), page);
            assertFalse(r.body().contains("<h1>"), page);
            assertEquals(401, anonymous.get(page, Map.of("HX-Request", "true")).statusCode(), page + " (htmx)");
        }
        // The sign-in page hands out a CSRF token, with which an action is still refused: no session.
        String token = anonymous.token();
        for (var action : actions().entrySet()) {
            assertEquals(403, anonymous.post(action.getKey(), action.getValue(), null).statusCode(), action.getKey() + " without a token");
            assertEquals(401, anonymous.post(action.getKey(), action.getValue(), anonymous.cookieToken()).statusCode(),
                    action.getKey() + " with a token, not signed in");
        }
        assertEquals(0, count("select count(*) from sync_audit where flow = 'console'"), "no console action was carried out");
        assertEquals(2, count("select count(*) from dead_letter where state = 'open'"));
        assertEquals(null, reconciliation().currentProgress().startedAt(), "no run was started");
        assertTrue(token.length() > 20);
        // the front-end files are public (the sign-in page needs them), and only those
        assertEquals(200, anonymous.get("/assets/htmx.min.js", Map.of()).statusCode());
        assertEquals(404, anonymous.get("/assets/..%2F..%2Fapplication.properties", Map.of()).statusCode());
    }

    @Test
    @Order(2)
    void signInNeedsTheRightPasswordAndItsTokenAndTheCookieIsHttpOnlyAndStrict() throws Exception {
        Browser b = new Browser();
        HttpResponse<String> login = b.get("/login", Map.of());
        // The session cookie's own Set-Cookie header: its attributes, not another cookie's.
        String session = login.headers().allValues("set-cookie").stream().filter(c -> c.startsWith("cosell_console_session="))
                .findFirst().orElseThrow(() -> new AssertionError(login.headers().allValues("set-cookie").toString()));
        assertTrue(java.net.HttpCookie.parse(session).get(0).isHttpOnly(), session);
        assertTrue(session.contains("SameSite=Strict"), session);
        assertEquals(403, b.post("/login", "username=admin&password=" + PASSWORD, null).statusCode(), "no token");
        assertEquals(401, b.post("/login", "username=admin&password=wrong", b.cookieToken()).statusCode(), "wrong password");
        assertEquals(401, b.post("/login", "username=root&password=" + PASSWORD, b.cookieToken()).statusCode(), "wrong user");
        assertEquals(303, b.get("/", Map.of()).statusCode(), "still not signed in");
    }

    @Test
    @Order(3)
    void theMappingPreviewTakesOnlyIdsAndCallsNoRemoteForAnythingElse() throws Exception {
        Browser operator = Browser.signedIn();
        long pcCalls = harness.sandbox.partnerCenter().calls().entries().size();
        long dvCalls = harness.sandbox.dataverse().calls().entries().size();
        for (String bad : List.of("../../v1.0/engagements/referrals", "x')?$select=*")) {
            HttpResponse<String> r = operator.get("/mapping?referral=" + java.net.URLEncoder.encode(bad, java.nio.charset.StandardCharsets.UTF_8), Map.of());
            assertEquals(200, r.statusCode(), bad);
            assertTrue(r.body().contains("is not a referral or opportunity id (a GUID)"), r.body());
        }
        assertTrue(operator.get("/mapping?opportunity=foo", Map.of()).body().contains("is not a referral or opportunity id"));
        assertEquals(pcCalls, harness.sandbox.partnerCenter().calls().entries().size(), "no Partner Center call");
        assertEquals(dvCalls, harness.sandbox.dataverse().calls().entries().size(), "no Dataverse call");
    }

    @Test
    @Order(3)
    void noActionWorksWithoutItsCsrfToken() throws Exception {
        Browser operator = Browser.signedIn();
        Browser other = Browser.signedIn();
        long consoleLines = count("select count(*) from sync_audit where flow = 'console' and action <> 'console-sign-in'");
        for (var action : actions().entrySet()) {
            assertEquals(403, operator.post(action.getKey(), action.getValue(), null).statusCode(), action.getKey() + " without a token");
            assertEquals(403, operator.post(action.getKey(), action.getValue() + (action.getValue().isEmpty() ? "" : "&")
                    + "X-XSRF-TOKEN=forged", "forged").statusCode(), action.getKey() + " with a forged token");
            assertEquals(403, operator.post(action.getKey(), action.getValue(), other.cookieToken()).statusCode(),
                    action.getKey() + " with another session's token");
        }
        assertEquals(consoleLines, count("select count(*) from sync_audit where flow = 'console' and action <> 'console-sign-in'"),
                "a refused action changed nothing");
        assertEquals(2, count("select count(*) from dead_letter where state = 'open'"));
        assertEquals(null, reconciliation().currentProgress().startedAt());

        // With the token, each works and names the user in the audit trail.
        for (var action : actions().entrySet()) {
            HttpResponse<String> r = operator.post(action.getKey(), action.getValue(), operator.cookieToken());
            assertEquals(200, r.statusCode(), action.getKey() + ": " + r.body());
        }
        assertEquals("discarded", text("select state from dead_letter where id = " + letterToDiscard));
        assertEquals("test", text("select discarded_reason from dead_letter where id = " + letterToDiscard));
        assertEquals("replayed", text("select state from dead_letter where id = " + letterToReplay));
        assertEquals(5, count("select count(*) from sync_audit where flow = 'console' and actor = 'admin'"
                + " and action in ('sync-now', 'discard', 'replay', 'dry-run')"));
        await().atMost(Duration.ofSeconds(20)).until(() -> !reconciliation().running());
        // signing out is an action too
        assertEquals(403, operator.post("/logout", "", null).statusCode());
        assertEquals(303, operator.post("/logout", "", operator.cookieToken()).statusCode());
        assertEquals(303, operator.get("/", Map.of()).statusCode(), "signed out");
    }

    // ----------------------------------------------------------------------------------------- helpers

    /** A client with its own cookies, as one browser. */
    static final class Browser {
        final CookieManager cookies = new CookieManager();
        final HttpClient http = HttpClient.newBuilder().cookieHandler(cookies).followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(Duration.ofSeconds(5)).build();

        static Browser signedIn() throws Exception {
            Browser b = new Browser();
            b.token();
            HttpResponse<String> r = b.post("/login", "username=admin&password=" + PASSWORD, b.cookieToken());
            assertEquals(303, r.statusCode(), r.body());
            assertEquals(200, b.get("/", Map.of()).statusCode());
            return b;
        }

        HttpResponse<String> get(String path, Map<String, String> headers) throws Exception {
            HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30)).GET();
            headers.forEach(r::header);
            return http.send(r.build(), HttpResponse.BodyHandlers.ofString());
        }

        /** POST a form; the CSRF token (when not null) as the X-XSRF-TOKEN header, as the console's script sends it. */
        HttpResponse<String> post(String path, String form, String token) throws Exception {
            HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30))
                    .header("Content-Type", "application/x-www-form-urlencoded").header("HX-Request", "true")
                    .POST(HttpRequest.BodyPublishers.ofString(form));
            if (token != null) {
                r.header("X-XSRF-TOKEN", token);
            }
            return http.send(r.build(), HttpResponse.BodyHandlers.ofString());
        }

        /** The sign-in page's hidden token field (which also sets the CSRF cookie). */
        String token() throws Exception {
            Matcher m = Pattern.compile("name=\"X-XSRF-TOKEN\" value=\"([^\"]+)\"").matcher(get("/login", Map.of()).body());
            assertTrue(m.find());
            return m.group(1);
        }

        String cookieToken() {
            return cookies.getCookieStore().getCookies().stream().filter(c -> c.getName().equals("XSRF-TOKEN"))
                    .map(HttpCookie::getValue).findFirst().orElseThrow();
        }
    }

    static dev.cosell.connector.ledger.SyncLedger ledger() {
        return harness.runtime().context().getRegistry().lookupByNameAndType("syncLedger", dev.cosell.connector.ledger.SyncLedger.class);
    }

    static Reconciliation reconciliation() {
        return harness.runtime().context().getRegistry().lookupByNameAndType("reconciliation", Reconciliation.class);
    }

    static long count(String sql) throws Exception {
        return harness.count(sql);
    }

    static String text(String sql) throws Exception {
        return harness.text(sql);
    }
}
