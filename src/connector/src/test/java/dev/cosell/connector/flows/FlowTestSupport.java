package dev.cosell.connector.flows;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

import javax.sql.DataSource;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cosell.connector.flows.RemoteStandIn.Call;
import dev.cosell.connector.ledger.SyncLedger;
import org.apache.camel.BeanInject;
import org.apache.camel.CamelContext;
import org.apache.camel.Exchange;
import org.apache.camel.ProducerTemplate;
import org.apache.camel.builder.RouteBuilder;
import org.apache.camel.main.MainConfigurationProperties;
import org.apache.camel.test.main.junit5.Configure;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;

/**
 * What the route tests of the flows share: the connector as it runs (application.properties, routes/, its beans; an
 * in-memory store), started once for all of them by {@link ConnectorFlowsTest}, with the two remote systems stood in
 * for at their request endpoints ({@link RemoteStandIn} behind {@code direct:dataverse} and
 * {@code direct:partner-center}), samples of what they answer, and the store's tables. Every test resets the
 * stand-ins and uses ids of its own.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class FlowTestSupport {

    static final ObjectMapper JSON = new ObjectMapper();

    /** Dataverse's currency rows (transactioncurrencies). */
    static final String USD = "c0ffee00-0000-4000-8000-000000000840";
    static final String EUR = "c0ffee00-0000-4000-8000-000000000978";
    static final String REFERRAL_LINK = "https://partner.microsoft.com/dashboard/v2/referrals/";

    static final RemoteStandIn dataverse = new RemoteStandIn("dataverse");
    static final RemoteStandIn partnerCenter = new RemoteStandIn("partnercenter");

    /** The connector the tests run on: injected into the instances it was started for; the others take it from here. */
    private static CamelContext connector;
    private static MainConfigurationProperties configured;

    @BeanInject
    CamelContext injected;
    CamelContext context;
    ProducerTemplate template;
    DataSource store;
    SyncLedger ledger;

    /**
     * The stand-ins' request routes, like the real ones a shared step without an error handler of its own (a failure
     * is the calling flow's: retried or dead-lettered there). Once per start (the enclosing and a nested instance may
     * both be asked).
     */
    @Configure
    protected void standInForTheRemoteSystems(MainConfigurationProperties configuration) {
        if (configuration == configured) {
            return;
        }
        configured = configuration;
        configuration.addRoutesBuilder(new RouteBuilder() {
            @Override
            public void configure() {
                from("direct:dataverse").routeId("dataverse-stand-in").errorHandler(noErrorHandler()).process(dataverse);
                from("direct:partner-center").routeId("partner-center-stand-in").errorHandler(noErrorHandler())
                        .process(partnerCenter);
            }
        });
    }

    @BeforeEach
    void standIns() {
        if (injected != null) {
            connector = injected;
        }
        if (context != connector) {
            context = connector;
            template = context.createProducerTemplate();
            store = context.getRegistry().lookupByNameAndType("dataSource", DataSource.class);
            ledger = context.getRegistry().lookupByNameAndType("syncLedger", SyncLedger.class);
        }
        dataverse.reset();
        partnerCenter.reset();
        dataverse.answer("GET transactioncurrencies", Map.of("value", List.of(
                Map.of("transactioncurrencyid", USD, "isocurrencycode", "USD"),
                Map.of("transactioncurrencyid", EUR, "isocurrencycode", "EUR"))));
    }

    static String id() {
        return UUID.randomUUID().toString();
    }

    /** A short unique suffix, for customer names (a customer is created once per store). */
    static String unique() {
        return UUID.randomUUID().toString().substring(0, 8);
    }

    // ------------------------------------------------------------------------------------------- samples

    /** A new Microsoft co-sell referral as Partner Center answers it (the V3 contract, as in the sandbox's samples). */
    static Map<String, Object> referral(String id, String customer) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("id", id);
        r.put("eTag", "\"etag-" + unique() + "\"");
        r.put("name", "AI rollout for " + customer);
        r.put("type", "Shared");
        r.put("qualification", "SalesQualified");
        r.put("status", "New");
        r.put("substatus", "Pending");
        r.put("salesStage", "Qualify");
        r.put("createdDateTime", "2026-11-30T10:00:00Z");
        r.put("updatedDateTime", "2026-11-30T10:00:00Z");
        r.put("customerProfile", map("name", customer, "size", "51to250employees",
                "address", map("addressLine1", "1 Main St", "city", "Seattle", "country", "US"),
                "team", List.of(map("firstName", "Sue", "lastName", "Smith", "email", email(customer))),
                "ids", List.of()));
        r.put("consent", map("consentToToShareInfoWithOthers", true, "consentToContact", true,
                "consentToShareReferralWithMicrosoftSellers", true));
        r.put("details", map("notes", "needs help", "dealValue", 50000, "currency", "USD",
                "closingDateTime", "2027-03-31T00:00:00Z",
                "requirements", map("solutions", List.of(map("id", "Azure-AI", "name", "AI", "type", "Category")))));
        r.put("team", List.of(map("firstName", "John", "lastName", "Doe", "email", "john@microsoft.example")));
        return r;
    }

    static String email(String customer) {
        return "sue@" + customer.toLowerCase().replace(' ', '-') + ".example";
    }

    /** A Partner Center webhook event for a referral. */
    static String event(String name, String referralId) {
        return "{\"EventName\":\"" + name + "\",\"ResourceUri\":\"https://api.partnercenter.microsoft.com/engagements/v1/referrals/"
                + referralId + "\",\"ResourceName\":\"referral\",\"AuditUri\":null,\"ResourceChangeUtcDate\":\""
                + Instant.now() + "\"}";
    }

    /** A flagged opportunity without a referral, as Dataverse answers it. */
    static Map<String, Object> opportunity(String id, String accountId, String contactId) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("@odata.etag", "W/\"5001\"");
        o.put("opportunityid", id);
        o.put("name", "Fabrikam data platform");
        o.put("description", "Migration to Azure");
        o.put("estimatedvalue", 120000);
        o.put("estimatedclosedate", "2027-06-30");
        o.put("salesstage", 1);
        o.put("statecode", 0);
        o.put("statuscode", 1);
        o.put("versionnumber", 5001);
        o.put("_transactioncurrencyid_value", USD);
        o.put("_parentaccountid_value", accountId);
        o.put("_parentcontactid_value", contactId);
        o.put("cosell_syncwithpartnercenter", true);
        o.put("cosell_referralid", null);
        o.put("cosell_products", "Azure-AI,Dynamics-365");
        o.put("cosell_howcanmicrosofthelp", 100000002);
        o.put("cosell_sharewithmicrosoftsellers", true);
        o.put("cosell_consenttoshare", true);
        o.put("cosell_requestdealregistration", false);
        o.put("cosell_audit", null);
        return o;
    }

    static Map<String, Object> account(String id, String name) {
        return map("@odata.etag", "W/\"77\"", "accountid", id, "name", name, "address1_line1", "1 Lake Rd",
                "address1_city", "Redmond", "address1_stateorprovince", "WA", "address1_postalcode", "98052",
                "address1_country", "US", "numberofemployees", 120, "cosell_dunsnumber", "123456789");
    }

    static Map<String, Object> contact(String id) {
        return map("@odata.etag", "W/\"78\"", "contactid", id, "firstname", "Ana", "lastname", "Lima",
                "emailaddress1", "ana@fabrikam.example", "telephone1", "+1 425 555 0100");
    }

    /** Dataverse's representation of a record written with {@code body} (lookups bound become _x_value). */
    static Map<String, Object> row(Map<String, Object> written, String idColumn, String id, long version) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("@odata.etag", "W/\"" + version + "\"");
        row.put(idColumn, id);
        row.put("versionnumber", version);
        written.forEach((k, v) -> {
            if (k.endsWith("@odata.bind")) {
                String column = k.substring(0, k.length() - "@odata.bind".length()).replaceFirst("_account$", "");
                row.put("_" + column + "_value", v == null ? null : v.toString().replaceAll("^.*\\((.*)\\)$", "$1"));
            } else {
                row.put(k, v);
            }
        });
        return row;
    }

    /** An answer that is the opportunity written by the call, as Dataverse returns it (Prefer: return=representation). */
    static Function<Call, Object> writtenOpportunity(String opportunityId, long version) {
        return call -> row(call.json(), "opportunityid", opportunityId, version);
    }

    /** The referral Partner Center makes of a POSTed one: ids, eTag, status New/Pending. */
    static Function<Call, Map<String, Object>> createdReferral(String referralId) {
        return call -> {
            Map<String, Object> r = new LinkedHashMap<>(call.<Map<String, Object>>json());
            r.put("id", referralId);
            r.put("engagementId", "eng-" + referralId);
            r.put("eTag", "\"etag-created\"");
            r.put("status", "New");
            r.put("substatus", "Pending");
            r.put("createdDateTime", Instant.now().toString());
            r.put("updatedDateTime", Instant.now().toString());
            return r;
        };
    }

    /** A JSON Patch (replace/add of members) applied to a copy of a referral, with a new eTag: what Partner Center answers. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> patched(Map<String, Object> referral, List<Map<String, Object>> ops, String eTag) {
        Map<String, Object> out = (Map<String, Object>) RemoteStandIn.copy(referral);
        for (Map<String, Object> op : ops) {
            String[] parts = op.get("path").toString().substring(1).split("/");
            Map<String, Object> cur = out;
            for (int i = 0; i < parts.length - 1; i++) {
                cur = (Map<String, Object>) cur.computeIfAbsent(parts[i], k -> new LinkedHashMap<>());
            }
            cur.put(parts[parts.length - 1], op.get("value"));
        }
        out.put("eTag", eTag);
        return out;
    }

    /** A deep copy (nested maps and lists too). */
    @SuppressWarnings("unchecked")
    static Map<String, Object> copyOf(Map<String, Object> record) {
        return (Map<String, Object>) RemoteStandIn.copy(record);
    }

    static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    // ------------------------------------------------------------------------------------------- running flows

    /** Sends to a direct endpoint with these exchange properties; the exchange afterwards. */
    Exchange send(String endpoint, Map<String, Object> properties) {
        return template.send(endpoint, e -> properties.forEach(e::setProperty));
    }

    /** As {@link #send}, failing on any error. */
    Exchange run(String endpoint, Map<String, Object> properties) {
        Exchange done = send(endpoint, properties);
        if (done.getException() != null) {
            throw new AssertionError(endpoint + " failed", done.getException());
        }
        return done;
    }

    /**
     * A referral linked to a new opportunity the way the webhook flow links it (router, customer found, opportunity
     * created); the stand-ins are reset afterwards. Returns the opportunity row Dataverse answered (version 1001).
     */
    Map<String, Object> linkReferral(Map<String, Object> referral, String opportunityId) {
        String accountId = id();
        String contactId = id();
        String referralId = referral.get("id").toString();
        dataverse.answer("POST $batch", RemoteStandIn.batch(Map.of("value", List.of(Map.of("accountid", accountId, "name", "x"))),
                Map.of("value", List.of(Map.of("contactid", contactId)))));
        dataverse.answer("PATCH opportunities(cosell_referralid='" + referralId + "')", writtenOpportunity(opportunityId, 1001));
        run("direct:sync-referral-to-opportunity", Map.of("referral", referral, "referralId", referralId,
                "flow", "partner-center-to-dynamics-365"));
        Map<String, Object> created = dataverse.calls().stream()
                .filter(c -> c.key().startsWith("PATCH opportunities(cosell_referralid")).findFirst()
                .map(c -> row(c.json(), "opportunityid", opportunityId, 1001)).orElseThrow();
        standIns();
        return created;
    }

    /**
     * An opportunity linked to a new referral the way the CRM flow links it (customer read, referral POSTed, link
     * fields written back: version 5002); the stand-ins are reset afterwards. Returns the referral Partner Center
     * answered, and puts the opportunity as written back into {@code written} (when not null).
     */
    Map<String, Object> linkOpportunity(Map<String, Object> opportunity, String referralId, Map<String, Object> written) {
        String opportunityId = opportunity.get("opportunityid").toString();
        String accountId = opportunity.get("_parentaccountid_value").toString();
        String contactId = opportunity.get("_parentcontactid_value").toString();
        dataverse.answer("GET accounts(" + accountId + ")", account(accountId, "Fabrikam " + unique()));
        dataverse.answer("GET contacts(" + contactId + ")", contact(contactId));
        AtomicReference<Map<String, Object>> answered = new AtomicReference<>();
        partnerCenter.answer("POST v1.0/engagements/referrals", call -> {
            Map<String, Object> r = createdReferral(referralId).apply(call);
            answered.set(r);
            return r;
        });
        dataverse.answer("PATCH opportunities(" + opportunityId + ")", call -> {
            Map<String, Object> row = new LinkedHashMap<>(opportunity);
            row.putAll(call.json());
            row.put("versionnumber", 5002);
            row.put("@odata.etag", "W/\"5002\"");
            return row;
        });
        run("direct:create-cosell-referral-dynamics-365-to-partner-center", Map.of("opportunity", opportunity,
                "opportunityId", opportunityId, "flow", "dynamics-365-to-partner-center"));
        Map<String, Object> referral = answered.get();
        if (written != null) {
            written.putAll(opportunity);
            written.putAll(dataverse.only("PATCH opportunities(" + opportunityId + ")").json());
            written.put("versionnumber", 5002);
            written.put("@odata.etag", "W/\"5002\"");
        }
        if (ledger.find(referralId) == null) {
            throw new AssertionError("referral " + referralId + " not linked to opportunity " + opportunityId);
        }
        standIns();
        return referral;
    }

    // ------------------------------------------------------------------------------------------- the store

    List<Map<String, Object>> rows(String sql, Object... args) {
        try (Connection c = store.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                List<Map<String, Object>> out = new ArrayList<>();
                while (rs.next()) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
                        Object v = rs.getObject(i);
                        row.put(rs.getMetaData().getColumnLabel(i).toLowerCase(),
                                v instanceof java.sql.Clob clob ? clob.getSubString(1, (int) clob.length()) : v);
                    }
                    out.add(row);
                }
                return out;
            }
        } catch (SQLException e) {
            throw new IllegalStateException(sql, e);
        }
    }

    void update(String sql, Object... args) {
        try (Connection c = store.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i]);
            }
            ps.executeUpdate();
        } catch (SQLException e) {
            throw new IllegalStateException(sql, e);
        }
    }

    /** The audit actions recorded for a referral or an opportunity, oldest first. */
    List<String> audit(String id) {
        return rows("select action from sync_audit where referral_id = ? or opportunity_id = ? order by id", id, id).stream()
                .map(r -> r.get("action").toString()).toList();
    }

    Map<String, Object> link(String referralId) {
        List<Map<String, Object>> found = rows("select * from sync_link where referral_id = ?", referralId);
        return found.isEmpty() ? null : found.get(0);
    }
}
