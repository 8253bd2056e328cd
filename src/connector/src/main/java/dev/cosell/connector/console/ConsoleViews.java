package dev.cosell.connector.console;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.function.Function;

import javax.sql.DataSource;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.cosell.connector.Settings;
import dev.cosell.connector.auth.BearerToken;
import dev.cosell.connector.backfill.Reconciliation;
import dev.cosell.connector.backfill.ReconciliationRuns;
import dev.cosell.connector.decision.SyncDecisions;
import dev.cosell.connector.ledger.DeadLetters;
import dev.cosell.connector.ledger.SyncLedger;
import dev.cosell.connector.mapping.FieldMappings;
import dev.cosell.connector.mapping.MappingException;
import dev.cosell.connector.remote.RemoteCircuitBreakers;
import io.micrometer.core.instrument.MeterRegistry;
import org.apache.camel.CamelContext;
import org.apache.camel.Exchange;
import org.apache.camel.ProducerTemplate;
import org.apache.camel.health.HealthCheck;
import org.apache.camel.health.HealthCheckRegistry;

/**
 * The console's pages as models for the templates: reads through the connector's beans, the flows' request
 * routes ({@code routes/console.camel.yaml}) and read-only SQL on the store; the actions through the beans
 * and routes the JMX operations use, each with an audit line naming the console user.
 */
final class ConsoleViews {

    /** What a page handler sees of the request: the signed-in user, path parameters, query or form values. */
    record Request(String user, Map<String, String> path, Function<String, String> param, boolean htmx) {
        String param(String name) {
            String v = param.apply(name);
            return v == null || v.isBlank() ? null : v.trim();
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper PRETTY = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final CamelContext context;
    private final ProducerTemplate template;
    private final DataSource dataSource;
    private final DeadLetters deadLetters;
    private final SyncLedger ledger;
    private final Reconciliation reconciliation;
    private final ReconciliationRuns runs;
    private final FieldMappings mappings;
    private final SyncDecisions decisions;
    private final RemoteCircuitBreakers breakers;
    private final ApiActivity activity;
    private final ExecutorService background;

    ConsoleViews(CamelContext context, Settings settings, ExecutorService background) {
        this.context = context;
        this.background = background;
        this.template = context.createProducerTemplate();
        var registry = context.getRegistry();
        this.dataSource = registry.lookupByNameAndType("dataSource", DataSource.class);
        this.deadLetters = registry.lookupByNameAndType("deadLetters", DeadLetters.class);
        this.ledger = registry.lookupByNameAndType("syncLedger", SyncLedger.class);
        this.reconciliation = registry.lookupByNameAndType("reconciliation", Reconciliation.class);
        this.runs = registry.lookupByNameAndType("reconciliationRuns", ReconciliationRuns.class);
        this.mappings = registry.lookupByNameAndType("fieldMappings", FieldMappings.class);
        this.decisions = registry.lookupByNameAndType("syncDecisions", SyncDecisions.class);
        this.breakers = registry.lookupByNameAndType("remoteCircuitBreakers", RemoteCircuitBreakers.class);
        this.activity = new ApiActivity(registry.findSingleByType(MeterRegistry.class));
        activity.sample();
        // The counters are sampled every minute, so each hour gets what happened in it.
        context.getExecutorServiceManager().newSingleThreadScheduledExecutor(this, "console-activity")
                .scheduleWithFixedDelay(activity::sample, 60, 60, java.util.concurrent.TimeUnit.SECONDS);
    }

    // ------------------------------------------------------------------------------------------- overview

    Map<String, Object> overview(Request request) {
        Map<String, Object> m = new LinkedHashMap<>();
        Map<String, String> breakerStates = breakers.states();
        List<Map<String, Object>> systems = new ArrayList<>();
        systems.add(system("Partner Center", health("partner-center"), breakerStates.getOrDefault("partnercenter", "CLOSED")));
        systems.add(system("Dataverse", health("dataverse"), breakerStates.getOrDefault("dataverse", "CLOSED")));
        m.put("systems", systems);
        HealthCheck.Result store = health("store");
        HealthCheck.Result registration = health("webhook-registration");
        HealthCheck.Result freshness = health("last-sync");
        m.put("storeUp", isUp(store));
        m.put("storeMessage", message(store));

        BearerToken pc = context.getRegistry().lookupByNameAndType("partnerCenterToken", BearerToken.class);
        var info = pc == null ? null : pc.info();
        m.put("pcUser", info == null ? "no token yet" : info.user() == null ? "(application token)" : info.user());
        m.put("pcMode", pc == null ? "" : pc.mode().toString().toLowerCase());
        if (info != null) {
            long minutes = Duration.between(Instant.now(), info.expiresOn()).toMinutes();
            m.put("tokenExpiry", time(info.expiresOn()) + (minutes >= 0 ? " (in " + minutes + " min)" : " (expired)"));
        }
        Object reg = registration == null ? null : registration.getDetails().get("registration");
        m.put("registration", reg == null ? "unknown" : reg);
        m.put("registrationUp", isUp(registration));
        m.put("registrationMessage", message(registration));
        Object lastPoll = freshness == null ? null : freshness.getDetails().get("lastSuccessfulPoll");
        m.put("lastPoll", lastPoll == null ? "unknown" : "never".equals(lastPoll) ? "never" : time(Instant.parse(lastPoll.toString())));
        m.put("lastPollUp", isUp(freshness));
        m.put("inboxBacklog", count("select count(*) from webhook_inbox where state = 'received'"));
        m.put("deadLetters", deadLetters.openCount());
        m.put("syncChart", json(syncsPerHour()));
        m.put("apiChart", json(activity.lastDay()));
        return m;
    }

    private Map<String, Object> system(String name, HealthCheck.Result r, String breaker) {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("name", name);
        s.put("up", isUp(r));
        s.put("state", r == null ? "UNKNOWN" : r.getState().name());
        s.put("message", message(r));
        s.put("breaker", breaker);
        s.put("breakerClosed", breaker.startsWith("CLOSED"));
        return s;
    }

    private HealthCheck.Result health(String id) {
        HealthCheckRegistry registry = HealthCheckRegistry.get(context);
        return registry == null ? null : registry.getCheck(id).map(HealthCheck::call).orElse(null);
    }

    private static boolean isUp(HealthCheck.Result r) {
        return r != null && r.getState() == HealthCheck.State.UP;
    }

    private static String message(HealthCheck.Result r) {
        return r == null ? "no such check" : r.getMessage().orElse("");
    }

    /** Created / updated / failed sync decisions per hour over the last day (the audit trail, all nodes). */
    private Map<String, Map<String, Long>> syncsPerHour() {
        Instant now = Instant.now().truncatedTo(ChronoUnit.HOURS);
        Map<String, Map<String, Long>> out = new LinkedHashMap<>();
        for (int i = 23; i >= 0; i--) {
            Map<String, Long> row = new LinkedHashMap<>();
            row.put("created", 0L);
            row.put("updated", 0L);
            row.put("failed", 0L);
            out.put(now.minus(i, ChronoUnit.HOURS).toString().substring(11, 16), row);
        }
        query("select at, action from sync_audit where at >= ? and flow <> 'console' and action in ('created', 'updated', 'failed')",
                List.of(Timestamp.from(now.minus(23, ChronoUnit.HOURS))), rs -> {
                    String hour = rs.getTimestamp(1).toInstant().truncatedTo(ChronoUnit.HOURS).toString().substring(11, 16);
                    Map<String, Long> row = out.get(hour);
                    if (row != null) {
                        row.merge(rs.getString(2), 1L, Long::sum);
                    }
                    return null;
                });
        return out;
    }

    // -------------------------------------------------------------------------------------------- records

    Map<String, Object> records(Request request) {
        String q = request.param("q");
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("q", q);
        List<Map<String, Object>> rows;
        if (q == null) {
            rows = query("select referral_id, opportunity_id, state, origin, updated_at, referral_body from sync_link"
                    + " order by updated_at desc", List.of(), this::linkRow);
            m.put("recent", true);
        } else {
            String needle = q.toLowerCase();
            rows = query("select referral_id, opportunity_id, state, origin, updated_at, referral_body from sync_link"
                    + " where lower(referral_id) = ? or lower(opportunity_id) = ? or lower(referral_body) like ? order by updated_at desc",
                    List.of(needle, needle, "%" + needle.replace("%", "").replace("_", "") + "%"), this::linkRow);
            // a name search: the customer's (or the referral's) name, not any text of the referral
            rows.removeIf(r -> !needle.equalsIgnoreCase((String) r.get("referralId"))
                    && !needle.equalsIgnoreCase(String.valueOf(r.get("opportunityId")))
                    && !String.valueOf(r.get("customer")).toLowerCase().contains(needle)
                    && !String.valueOf(r.get("name")).toLowerCase().contains(needle));
        }
        if (rows.size() > 50) {
            rows = rows.subList(0, 50);
        }
        m.put("links", rows);
        m.put("none", rows.isEmpty());
        return m;
    }

    private Map<String, Object> linkRow(ResultSet rs) throws SQLException {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("referralId", rs.getString(1));
        r.put("opportunityId", rs.getString(2));
        r.put("state", rs.getString(3));
        r.put("origin", rs.getString(4));
        r.put("updatedAt", time(rs.getTimestamp(5).toInstant()));
        Map<String, Object> body = parse(rs.getString(6));
        r.put("name", body == null ? "" : String.valueOf(body.getOrDefault("name", "")));
        r.put("customer", body == null ? "" : customerName(body));
        return r;
    }

    @SuppressWarnings("unchecked")
    private static String customerName(Map<String, Object> referral) {
        Object profile = referral.get("customerProfile");
        return profile instanceof Map<?, ?> p && p.get("name") != null ? String.valueOf(((Map<String, Object>) p).get("name")) : "";
    }

    Map<String, Object> record(Request request) {
        String referralId = request.path().get("referralId");
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("referralId", referralId);
        Map<String, Object> link = ledger.find(referralId);
        if (link == null) {
            m.put("status", 404);
            m.put("error", "No link for referral " + referralId + " in the ledger.");
            return m;
        }
        m.put("opportunityId", link.get("opportunity_id"));
        m.put("state", link.get("state"));
        m.put("origin", link.get("origin"));
        m.put("lastDirection", link.get("last_direction"));
        m.put("updatedAt", String.valueOf(link.get("updated_at")));
        Exchange current = currentValues(referralId, null);
        if (current.getException() != null) {
            m.put("readError", "Could not read the current values: " + current.getException().getMessage());
        } else {
            Map<String, Object> referral = map(current.getProperty("referral"));
            Map<String, Object> opportunity = map(current.getProperty("opportunity"));
            m.put("referralFound", referral != null);
            m.put("opportunityFound", opportunity != null);
            if (referral != null) {
                m.put("referralName", referral.get("name"));
                m.put("customer", customerName(referral));
                m.put("referralStatus", referral.get("status") + " / " + referral.get("substatus"));
            }
            if (opportunity != null) {
                m.put("opportunityName", opportunity.get("name"));
            }
            List<Map<String, Object>> fields = new ArrayList<>();
            if (referral != null) {
                try {
                    Map<String, Object> mapped = mappings.mapRecord("referral-to-opportunity-update", current::getProperty);
                    for (var e : new TreeMap<>(mapped).entrySet()) {
                        fields.add(field(e.getKey(), e.getValue(), column(opportunity, e.getKey(), e.getValue())));
                    }
                } catch (MappingException e) {
                    m.put("mappingError", e.getMessage());
                }
            }
            m.put("fields", fields);
            m.put("differences", fields.stream().filter(f -> Boolean.TRUE.equals(f.get("differs"))).count());
        }
        m.putAll(timeline(request));
        return m;
    }

    Map<String, Object> timeline(Request request) {
        String referralId = request.path().get("referralId");
        Map<String, Object> link = ledger.find(referralId);
        Object opportunityId = link == null ? null : link.get("opportunity_id");
        List<Map<String, Object>> lines = query("select at, flow, action, detail, correlation_id, actor, opportunity_id from sync_audit"
                + " where referral_id = ? or (opportunity_id is not null and opportunity_id = ?) order by id",
                List.of(referralId, opportunityId == null ? "" : opportunityId), rs -> {
                    Map<String, Object> l = new LinkedHashMap<>();
                    l.put("at", time(rs.getTimestamp(1).toInstant()));
                    l.put("flow", rs.getString(2));
                    l.put("action", rs.getString(3));
                    l.put("detail", rs.getString(4));
                    l.put("correlationId", rs.getString(5));
                    l.put("actor", rs.getString(6));
                    l.put("failed", "failed".equals(rs.getString(3)));
                    return l;
                });
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("referralId", referralId);
        m.put("timeline", lines);
        m.put("noTimeline", lines.isEmpty());
        return m;
    }

    Map<String, Object> syncNow(Request request) {
        String referralId = request.path().get("referralId");
        Map<String, Object> link = ledger.find(referralId);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("referralId", referralId);
        if (link == null) {
            m.put("status", 404);
            m.put("error", "No link for referral " + referralId + ".");
            return m;
        }
        String correlationId = UUID.randomUUID().toString();
        audit(request.user(), referralId, (String) link.get("opportunity_id"), "sync-now",
                "sync now: the referral is read again and what differs is written to the opportunity", correlationId);
        template.sendBodyAndHeader("seda:console-sync-now", referralId, "CosellCorrelationId", correlationId);
        m.put("correlationId", correlationId);
        return m;
    }

    // --------------------------------------------------------------------------------------- dead letters

    Map<String, Object> deadLetters(Request request) {
        boolean all = request.param("all") != null;
        List<Map<String, Object>> rows = new ArrayList<>();
        for (DeadLetters.Letter l : deadLetters.list(!all, 200)) {
            rows.add(letter(l, false));
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("letters", rows);
        m.put("none", rows.isEmpty());
        m.put("all", all);
        m.put("open", deadLetters.openCount());
        return m;
    }

    Map<String, Object> deadLetter(Request request) {
        DeadLetters.Letter l = deadLetters.get(id(request));
        if (l == null) {
            return Map.of("status", 404, "notFound", "No dead letter " + request.path().get("id") + ".");
        }
        return letter(l, true);
    }

    private Map<String, Object> letter(DeadLetters.Letter l, boolean withBody) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("id", l.id());
        r.put("at", time(l.at()));
        r.put("flow", l.flow());
        r.put("key", l.key());
        r.put("endpoint", l.endpoint());
        r.put("error", l.error());
        r.put("attempts", l.attempts());
        r.put("state", l.state());
        r.put("isOpen", "open".equals(l.state()));
        r.put("replayedAt", l.replayedAt() == null ? null : time(l.replayedAt()));
        r.put("discardedReason", l.discardedReason());
        r.put("handledBy", l.handledBy());
        r.put("outcome", l.replayOutcome());
        if (withBody) {
            r.put("body", pretty(l.body()));
        }
        return r;
    }

    Map<String, Object> replay(Request request) {
        long id = id(request);
        Instant since = Instant.now();
        boolean sent = deadLetters.replay(id, request.user());
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        if (!sent) {
            m.put("status", 409);
            m.put("outcome", "Dead letter " + id + " is not open: nothing replayed.");
            return m;
        }
        audit(request.user(), null, null, "replay", "replayed dead letter " + id, null);
        background.submit(() -> deadLetters.awaitOutcome(id, since, 20_000));
        m.put("pending", true);
        m.put("outcome", "re-sent; waiting for its outcome");
        return m;
    }

    Map<String, Object> replayOutcome(Request request) {
        DeadLetters.Letter l = deadLetters.get(id(request));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", request.path().get("id"));
        String outcome = l == null ? "no such dead letter" : l.replayOutcome();
        m.put("outcome", outcome == null ? "not replayed" : outcome);
        m.put("pending", outcome != null && outcome.endsWith("waiting for its outcome"));
        m.put("failed", outcome != null && outcome.startsWith("failed again"));
        m.put("applied", outcome != null && outcome.startsWith("applied"));
        return m;
    }

    Map<String, Object> replayAll(Request request) {
        Instant since = Instant.now();
        List<Long> ids = deadLetters.list(true, 10_000).stream().map(DeadLetters.Letter::id).sorted().toList();
        int sent = 0;
        for (long id : ids) {
            if (deadLetters.replay(id, request.user())) {
                sent++;
                background.submit(() -> deadLetters.awaitOutcome(id, since, 20_000));
            }
        }
        audit(request.user(), null, null, "replay", "replayed all open dead letters: " + sent + " re-sent", null);
        return Map.of("sent", sent);
    }

    Map<String, Object> discard(Request request) {
        long id = id(request);
        String reason = request.param("reason");
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        if (reason == null) {
            m.put("status", 400);
            m.put("error", "Give a reason to discard dead letter " + id + ".");
            return m;
        }
        if (!deadLetters.discard(id, reason, request.user())) {
            m.put("status", 409);
            m.put("error", "Dead letter " + id + " is not open: nothing discarded.");
            return m;
        }
        audit(request.user(), null, null, "discard", "discarded dead letter " + id + ": " + reason, null);
        m.put("reason", reason);
        return m;
    }

    // ------------------------------------------------------------------------------------------- backfill

    Map<String, Object> backfill(Request request) {
        Map<String, Object> m = new LinkedHashMap<>(progress(request));
        List<Map<String, Object>> last = new ArrayList<>();
        for (ReconciliationRuns.Run r : runs.last(10)) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("id", r.id());
            row.put("startedAt", time(r.startedAt()));
            row.put("finishedAt", r.finishedAt() == null ? "" : time(r.finishedAt()));
            row.put("kind", r.dryRun() ? "dry run" : "run");
            row.put("state", r.state());
            row.put("processed", r.processed());
            row.put("planned", r.planned());
            row.put("startedBy", r.startedBy());
            last.add(row);
        }
        m.put("runs", last);
        m.put("noRuns", last.isEmpty());
        return m;
    }

    Map<String, Object> progress(Request request) {
        Reconciliation.Progress p = reconciliation.currentProgress();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("running", p.running());
        m.put("everRun", p.startedAt() != null);
        m.put("kind", p.dryRun() ? "Dry run" : "Run");
        m.put("processed", p.processed());
        m.put("expected", p.expected());
        m.put("rate", String.format("%.1f", p.ratePerSecond()));
        m.put("eta", p.etaSeconds() == null ? null : p.etaSeconds() + " s");
        m.put("percent", p.percent());
        m.put("indeterminate", p.percent() == null);
        m.put("startedAt", p.startedAt() == null ? null : time(p.startedAt()));
        m.put("finishedAt", p.finishedAt() == null ? null : time(p.finishedAt()));
        m.put("startedBy", p.startedBy());
        m.put("complete", p.complete());
        m.put("interrupted", !p.running() && p.finishedAt() != null && !p.complete());
        if (p.dryRun() && !p.running()) {
            List<Map<String, Object>> plan = new ArrayList<>();
            for (Reconciliation.PlanEntry e : reconciliation.planEntries()) {
                plan.add(Map.of("referralId", e.referralId(), "decision", e.decision(), "customer", e.customer(), "status", e.status()));
            }
            m.put("plan", plan);
            m.put("hasPlan", p.startedAt() != null);
            m.put("planSize", plan.size());
        }
        return m;
    }

    Map<String, Object> startRun(Request request) {
        boolean dryRun = "true".equals(request.param("dryRun"));
        if (reconciliation.running()) {
            Map<String, Object> m = new LinkedHashMap<>(progress(request));
            m.put("message", "A run is under way already.");
            return m;
        }
        audit(request.user(), null, null, dryRun ? "dry-run" : "reconcile",
                (dryRun ? "started a dry run" : "started a backfill / reconciliation run"), null);
        Instant asked = Instant.now();
        template.asyncSend("direct:reconcile", exchange -> {
            exchange.setProperty("dryRun", dryRun);
            exchange.setProperty("startedBy", "console: " + request.user());
        });
        // until the run has started (so the progress shown is this run's)
        long deadline = System.nanoTime() + 3_000_000_000L;
        while (System.nanoTime() < deadline) {
            var started = reconciliation.currentProgress().startedAt();
            if (started != null && !started.isBefore(asked.minusMillis(5))) {
                break;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(20_000_000L);
        }
        return progress(request);
    }

    // -------------------------------------------------------------------------------------------- mapping

    private static final java.util.regex.Pattern GUID = java.util.regex.Pattern.compile(
            "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");

    Map<String, Object> mapping(Request request) {
        String referralId = request.param("referral");
        String opportunityId = request.param("opportunity");
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("referral", referralId);
        m.put("opportunity", opportunityId);
        if (referralId == null && opportunityId == null) {
            return m;
        }
        m.put("asked", true);
        // Ids go into the remote systems' paths: only GUIDs (a clear message, never a remote call for anything else).
        for (String id : java.util.Arrays.asList(referralId, opportunityId)) {
            if (id != null && !GUID.matcher(id).matches()) {
                m.put("error", "'" + id.substring(0, Math.min(60, id.length())) + "' is not a referral or opportunity id (a GUID).");
                return m;
            }
        }
        Exchange current = currentValues(referralId, opportunityId);
        if (current.getException() != null) {
            m.put("error", "Could not read the record: " + current.getException().getMessage());
            return m;
        }
        Map<String, Object> link = map(current.getProperty("link"));
        Map<String, Object> referral = map(current.getProperty("referral"));
        Map<String, Object> opportunity = map(current.getProperty("opportunity"));
        m.put("linked", link != null);
        m.put("linkReferral", link == null ? null : link.get("referral_id"));
        m.put("linkOpportunity", link == null ? null : link.get("opportunity_id"));
        List<Map<String, Object>> sections = new ArrayList<>();
        if (referralId != null) {
            if (referral == null) {
                m.put("error", "Partner Center has no referral " + referralId + ".");
                return m;
            }
            m.put("direction", "Partner Center → Dynamics 365: referral " + referralId + " (" + referral.get("name") + ")");
            var decision = decisions.forReferral(referral, link);
            m.put("decision", decision.name());
            m.put("decisionText", switch (decision) {
                case OWN_WRITE -> "nothing to apply: this version of the referral is the connector's own write";
                case FROM_CRM -> "linked by the CRM flow: the referral was created from an opportunity";
                case SKIP_NOT_COSELL -> "skipped: not a co-sell referral (sync.cosell-only)";
                case SKIP_CLOSED -> "skipped: closed before it reached the CRM";
                case CREATE -> "a new opportunity (with its account and contact when the CRM has none)";
                case UPDATE -> "the linked opportunity gets the fields that differ";
            });
            Map<String, Object> projection = section(sections, "referral-to-opportunity-update",
                    "The shared fields the referral maps to (written where they differ, for a linked opportunity)",
                    current::getProperty, opportunity, null);
            if (link == null) {
                current.setProperty("projection", projection);
                current.setProperty("accountId", "<account found or created at sync>");
                current.setProperty("contactId", "<contact found or created at sync>");
                String title = "A new opportunity (its account and contact are found or created first)";
                if (projection == null) {
                    Map<String, Object> skipped = new LinkedHashMap<>();
                    skipped.put("mapping", "referral-to-opportunity-create");
                    skipped.put("title", title);
                    skipped.put("error", "not run: it adds to what referral-to-opportunity-update makes, which failed above");
                    skipped.put("skipped", true);
                    sections.add(skipped);
                } else {
                    section(sections, "referral-to-opportunity-create", title, current::getProperty, null, null);
                }
                section(sections, "referral-to-account", "The account, if the CRM has none that matches", current::getProperty, null, null);
                section(sections, "referral-to-contact", "The contact, if the CRM has none that matches", current::getProperty, null, null);
            }
        } else {
            if (opportunity == null) {
                m.put("error", "Dataverse has no opportunity " + opportunityId + ".");
                return m;
            }
            m.put("direction", "Dynamics 365 → Partner Center: opportunity " + opportunityId + " (" + opportunity.get("name") + ")");
            var decision = decisions.forOpportunity(opportunity, link);
            m.put("decision", decision.name());
            m.put("decisionText", switch (decision) {
                case OWN_WRITE -> "nothing to send: this version of the opportunity is the connector's own write";
                case SKIP_NOT_FLAGGED -> "skipped: not flagged for Partner Center (cosell_syncwithpartnercenter)";
                case FROM_PARTNER_CENTER -> "linked by the Partner Center flow: the opportunity carries a referral id";
                case CREATE -> "a new co-sell referral";
                case UPDATE -> "the referral gets what changed in the CRM since the last sync";
            });
            try {
                Object solutions = mappings.mapRecord("opportunity-to-referral-solutions", current::getProperty).get("solutions");
                current.setProperty("solutions", solutions);
            } catch (MappingException e) {
                sections.add(errorSection("opportunity-to-referral-solutions", "The Microsoft solutions of its products", e));
            }
            if (link != null) {
                section(sections, "opportunity-to-referral-update",
                        "The referral's fields (JSON Patch paths); only what changed in the CRM since the last sync is sent",
                        current::getProperty, null, referral);
            } else {
                section(sections, "opportunity-to-referral-create", "A new co-sell referral", current::getProperty, null, null);
            }
        }
        m.put("sections", sections);
        m.put("errors", sections.stream().filter(s -> s.get("error") != null && s.get("skipped") == null).count());
        return m;
    }

    /** Runs one mapping file and lists its fields next to the current values; returns what it made (null on an error). */
    private Map<String, Object> section(List<Map<String, Object>> sections, String mapping, String title,
            Function<String, Object> input, Map<String, Object> currentColumns, Map<String, Object> currentReferral) {
        try {
            Map<String, Object> out = mappings.mapRecord(mapping, input);
            List<Map<String, Object>> fields = new ArrayList<>();
            for (var e : new TreeMap<>(out).entrySet()) {
                Object now = currentColumns != null ? column(currentColumns, e.getKey(), e.getValue())
                        : currentReferral != null ? pointer(currentReferral, e.getKey()) : null;
                Map<String, Object> f = field(e.getKey(), e.getValue(), now);
                f.put("compared", currentColumns != null || currentReferral != null);
                fields.add(f);
            }
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("mapping", mapping);
            s.put("title", title);
            s.put("fields", fields);
            s.put("compared", currentColumns != null || currentReferral != null);
            s.put("writes", fields.stream().filter(f -> Boolean.TRUE.equals(f.get("differs"))).count());
            sections.add(s);
            return out;
        } catch (MappingException e) {
            sections.add(errorSection(mapping, title, e));
            return null;
        } catch (RuntimeException e) {
            sections.add(errorSection(mapping, title, new MappingException(mapping + ": " + e.getMessage(), e)));
            return null;
        }
    }

    private static Map<String, Object> errorSection(String mapping, String title, MappingException e) {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("mapping", mapping);
        s.put("title", title);
        s.put("error", e.getMessage());
        s.put("hint", "A sync of this record would stop here and make it a dead letter with this error (nothing written)."
                + " Fix the record's data, or routes/mappings/" + mapping + ".jsonata (enum tables: routes/mappings/enums.json),"
                + " then replay the dead letter.");
        return s;
    }

    private static Map<String, Object> field(String name, Object value, Object current) {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("field", name);
        f.put("value", show(value));
        f.put("current", show(current));
        f.put("differs", !same(value, current));
        return f;
    }

    /**
     * The opportunity's current value of a column the mapping writes. A lookup written as
     * {@code x@odata.bind: /set(id)} is read back as {@code _x_value: id}.
     */
    private static Object column(Map<String, Object> opportunity, String column, Object written) {
        if (opportunity == null) {
            return null;
        }
        if (column.endsWith("@odata.bind") && written instanceof String bind && bind.contains("(")) {
            Object id = opportunity.get("_" + column.substring(0, column.length() - "@odata.bind".length()) + "_value");
            return id == null ? null : bind.substring(0, bind.indexOf('(') + 1) + id + ")";
        }
        return opportunity.get(column);
    }

    /** Equal as JSON values (numbers by value: 65000 and 65000.0 are the same; instants by time, to the second). */
    private static boolean same(Object a, Object b) {
        if (a instanceof Number x && b instanceof Number y) {
            return new java.math.BigDecimal(x.toString()).compareTo(new java.math.BigDecimal(y.toString())) == 0;
        }
        if (a instanceof String x && b instanceof String y && x.length() > 19 && y.length() > 19) {
            try {
                return Instant.parse(x).truncatedTo(ChronoUnit.SECONDS).equals(Instant.parse(y).truncatedTo(ChronoUnit.SECONDS));
            } catch (java.time.format.DateTimeParseException notInstants) {
                // compared as text below
            }
        }
        return JSON.valueToTree(a).equals(JSON.valueToTree(b));
    }

    private static Object pointer(Map<String, Object> root, String path) {
        Object at = root;
        for (String part : path.replaceFirst("^/", "").split("/")) {
            if (at instanceof Map<?, ?> map) {
                at = map.get(part.replace("~1", "/").replace("~0", "~"));
            } else if (at instanceof List<?> list && part.matches("\\d+") && Integer.parseInt(part) < list.size()) {
                at = list.get(Integer.parseInt(part));
            } else {
                return null;
            }
        }
        return at;
    }

    // ----------------------------------------------------------------------------------------------- util

    /** The current values of a record on both sides (routes/console.camel.yaml); the exchange carries them or the error. */
    private Exchange currentValues(String referralId, String opportunityId) {
        return template.send("direct:console-current-values", exchange -> {
            exchange.setProperty("referralId", referralId);
            exchange.setProperty("opportunityId", opportunityId);
        });
    }

    void audit(String user, String referralId, String opportunityId, String action, String detail, String correlationId) {
        ledger.auditBy(user, referralId, opportunityId, action, detail, correlationId);
    }

    private static long id(Request request) {
        try {
            return Long.parseLong(request.path().get("id"));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private long count(String sql) {
        List<Long> r = query(sql, List.of(), rs -> rs.getLong(1));
        return r.isEmpty() ? 0 : r.get(0);
    }

    interface Row<T> {
        T read(ResultSet rs) throws SQLException;
    }

    private <T> List<T> query(String sql, List<?> params, Row<T> row) {
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < params.size(); i++) {
                ps.setObject(i + 1, params.get(i));
            }
            ps.setMaxRows(1000);
            List<T> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    T t = row.read(rs);
                    if (t != null) {
                        out.add(t);
                    }
                }
            }
            return out;
        } catch (SQLException e) {
            throw new IllegalStateException("console query failed: " + e.getMessage(), e);
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o) {
        return o instanceof Map<?, ?> m ? (Map<String, Object>) m : null;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> parse(String json) {
        if (json == null) {
            return null;
        }
        try {
            return JSON.readValue(json, Map.class);
        } catch (Exception e) {
            return null;
        }
    }

    private static String show(Object v) {
        if (v == null) {
            return "";
        }
        if (v instanceof String s) {
            return s;
        }
        try {
            return JSON.writeValueAsString(v);
        } catch (Exception e) {
            return String.valueOf(v);
        }
    }

    private static String pretty(String body) {
        if (body == null) {
            return "";
        }
        try {
            return PRETTY.writeValueAsString(JSON.readTree(body));
        } catch (Exception e) {
            return body;
        }
    }

    private static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static String time(Instant t) {
        return t.truncatedTo(ChronoUnit.SECONDS).toString().replace('T', ' ').replace("Z", " UTC");
    }

    static String escape(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
            switch (c) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }
}
