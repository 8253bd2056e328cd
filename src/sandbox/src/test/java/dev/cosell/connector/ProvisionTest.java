package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.auth.EntraTokenProvider;
import dev.cosell.connector.cli.ProvisionCommand;
import dev.cosell.connector.dataverse.ColumnContract;
import dev.cosell.connector.sandbox.TestHttp;
import dev.cosell.connector.sandbox.dataverse.DataverseApi;
import dev.cosell.connector.sandbox.partnercenter.PartnerCenterEmulator;
import dev.cosell.connector.sandbox.partnercenter.SampleReferrals;
import org.junit.jupiter.api.Test;

/**
 * {@code cosell-connector provision} against the Dataverse emulator over HTTPS: from tables as a new
 * environment has them (sandbox.dataverse.schema=empty) to a working sync in both directions; a second run
 * changes nothing; a dry run writes nothing; {@code --adopt} takes Microsoft-named columns by display name.
 */
class ProvisionTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static final ColumnContract CONTRACT = ColumnContract.load("routes/mappings");
    static final Map<String, String> SETS = Map.of("opportunity", "opportunities", "account", "accounts", "contact", "contacts");

    record Run(int code, String out) {
    }

    static ConnectorHarness emptyDataverse() {
        ConnectorHarness h = new ConnectorHarness("empty").with("dataverse.provision.key-poll-millis", "100")
                .with("sync.poll-interval-ms", "200").with("sync.retry.initial-delay-ms", "50");
        h.sandbox.dataverse().api().setKeyBuildMillis(1200);
        return h;
    }

    static Run provision(ConnectorHarness h, Path config, boolean dryRun, boolean adopt) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int code = ProvisionCommand.run(config, h.properties(), dryRun, adopt, new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String out = bytes.toString(StandardCharsets.UTF_8);
        System.out.println(out);
        return new Run(code, out);
    }

    /** Requests to the Dataverse emulator that could write (anything but GET and read-only $batch). */
    static long dataverseWrites(ConnectorHarness h) {
        return h.sandbox.dataverse().calls().entries().stream().filter(e -> !e.method().equals("GET")
                && !e.template().endsWith("(reads only)")).count();
    }

    @Test
    void fromAnEmptyOpportunityTableToAWorkingSyncThenNothingToChange() throws Exception {
        try (ConnectorHarness h = emptyDataverse()) {
            DataverseApi dv = h.sandbox.dataverse().api();
            Path config = Path.of("application.properties");
            assertFalse(dv.hasColumn("opportunities", "cosell_referralid"));
            assertFalse(dv.changeTracking("opportunities"));

            // Dry run: the whole plan, nothing written.
            Run dry = provision(h, config, true, false);
            assertEquals(0, dry.code(), dry.out());
            for (String step : List.of("create publisher cosellconnector", "create solution CosellConnector",
                    "create column opportunity.cosell_referralid \"Referral Identifier\" (String 100)",
                    "create column opportunity.cosell_howcanmicrosofthelp \"How can Microsoft help?\" (Picklist 6 choices)",
                    "create column account.cosell_dunsnumber", "create alternate key opportunity.cosell_referralid_key",
                    "turn on change tracking of opportunity", "publish the customisations of opportunity, account")) {
                assertTrue(dry.out().contains(step), "plan lacks: " + step);
            }
            assertEquals(0, dataverseWrites(h), "a dry run wrote to Dataverse");
            assertEquals(0, dv.metadataWrites());
            assertFalse(dv.hasColumn("opportunities", "cosell_referralid"));
            assertTrue(dv.rows("publishers").isEmpty() && dv.rows("solutions").isEmpty() && dv.published().isEmpty());

            // Provision: every column of the contract, in our solution, the key Active, change tracking on, published.
            Run first = provision(h, config, false, false);
            assertEquals(0, first.code(), first.out());
            for (var table : CONTRACT.tables().entrySet()) {
                for (var column : table.getValue()) {
                    assertTrue(dv.hasColumn(SETS.get(table.getKey()), column.name()), table.getKey() + "." + column.name());
                }
            }
            List<String> components = dv.solutionComponents("CosellConnector");
            assertTrue(components.contains("opportunity.cosell_referralid") && components.contains("account.cosell_externalid")
                    && components.contains("opportunity key cosell_referralid_key"), components.toString());
            assertEquals(CONTRACT.roles().size() + 1, components.size(), components.toString());
            assertTrue(dv.changeTracking("opportunities"));
            assertEquals(1, dv.published().size());
            assertTrue(dv.published().get(0).contains("<entity>opportunity</entity>"));
            JsonNode keys = http(h).get(h.sandbox.dataverse().environmentUrl()
                    + "/api/data/v9.2/EntityDefinitions(LogicalName='opportunity')/Keys").json();
            assertEquals("Active", keys.path("value").path(0).path("EntityKeyIndexStatus").asText());

            // Second run: nothing to change, nothing written.
            long writes = dataverseWrites(h);
            int metadataWrites = dv.metadataWrites();
            Run second = provision(h, config, false, false);
            assertEquals(0, second.code(), second.out());
            assertTrue(second.out().contains("Nothing to change"), second.out());
            assertEquals(writes, dataverseWrites(h));
            assertEquals(metadataWrites, dv.metadataWrites());
            assertEquals(1, dv.published().size());

            // A working sync on the provisioned tables, both ways.
            h.start();
            PartnerCenterEmulator pc = h.sandbox.partnerCenter();
            pc.webhooks().setFirstRetryDelayMs(50);
            await().atMost(Duration.ofSeconds(20)).until(() -> pc.webhooks().registration(h.tenant()) != null);
            String referralId = pc.createAsMicrosoft(h.tenant(), SampleReferrals.coSell("Provisioned Ltd",
                    "Provisioned Ltd co-sell", "51to250employees")).path("id").asText();
            await().atMost(Duration.ofSeconds(15)).until(() -> dv.countWhere("opportunities", "cosell_referralid", referralId) == 1);

            Seller seller = new Seller(h);
            String opportunityId = seller.opportunity("Provisioned seller deal", true, "Azure-AI");
            ObjectNode referral = seller.referralOf(opportunityId);
            assertEquals("Provisioned seller deal", referral.path("name").asText());
        }
    }

    @Test
    void adoptTakesMicrosoftsColumnsByDisplayNameAndReportsWhatItCouldNotMatch() throws Exception {
        try (ConnectorHarness h = emptyDataverse()) {
            DataverseApi dv = h.sandbox.dataverse().api();
            TestHttp http = http(h);
            String attributes = h.sandbox.dataverse().environmentUrl() + "/api/data/v9.2/EntityDefinitions(LogicalName='opportunity')/Attributes";
            // Columns as another solution made them: its own prefix, the display names the connector looks for.
            for (String body : List.of(
                    column("BooleanAttributeMetadata", "msft_synctopartnercenter", "Sync with Partner Center", ""),
                    column("StringAttributeMetadata", "msft_referralidentifier", "Referral Identifier", ", \"MaxLength\": 100"),
                    column("StringAttributeMetadata", "msft_referralurl", "Referral Link", ", \"MaxLength\": 1000"),
                    column("PicklistAttributeMetadata", "msft_assistance", "How can Microsoft help?",
                            ", \"OptionSet\": {\"OptionSetType\": \"Picklist\", \"Options\": [{\"Value\": 100000000, \"Label\": "
                                    + label("General or other") + "}]}"),
                    column("MemoAttributeMetadata", "msft_audit", "  audit ", ", \"MaxLength\": 4000"),
                    column("IntegerAttributeMetadata", "msft_products", "Products", ""))) {
                TestHttp.Resp r = http.send("POST", attributes, body);
                assertEquals(204, r.status(), r.body());
            }
            Path config = Files.createTempFile(h.workDir, "application", ".properties");
            Files.copy(Path.of("application.properties"), config, java.nio.file.StandardCopyOption.REPLACE_EXISTING);

            // Dry run: what it would adopt, nothing written (neither the file nor Dataverse).
            long writesBefore = dataverseWrites(h);
            Run dry = provision(h, config, true, true);
            assertEquals(0, dry.code(), dry.out());
            assertTrue(dry.out().contains("referral-id -> msft_referralidentifier"), dry.out());
            assertEquals(Files.readString(Path.of("application.properties")), Files.readString(config));
            assertEquals(writesBefore, dataverseWrites(h));

            Run adopt = provision(h, config, false, true);
            assertEquals(0, adopt.code(), adopt.out());
            String written = Files.readString(config);
            for (String setting : List.of("dataverse.column.sync-with-partner-center = msft_synctopartnercenter",
                    "dataverse.column.referral-id = msft_referralidentifier", "dataverse.column.referral-link = msft_referralurl",
                    "dataverse.column.how-can-microsoft-help = msft_assistance", "dataverse.column.audit = msft_audit",
                    "dataverse.column.products = cosell_products")) {
                assertTrue(written.contains("\n" + setting + "\n"), "settings lack " + setting);
            }
            // Reported: a display name found with the wrong type, and the ones not found at all.
            assertTrue(adopt.out().contains("\"Products\" (products): msft_products is Integer, the connector needs String"), adopt.out());
            assertTrue(adopt.out().contains("\"Referral Status\" (referral-status): no column of that display name"), adopt.out());
            // What was not adopted is created; the adopted choice column gets the missing values; the key is on their column.
            assertTrue(dv.hasColumn("opportunities", "cosell_products") && dv.hasColumn("opportunities", "cosell_referralstatus"));
            assertFalse(dv.hasColumn("opportunities", "cosell_referralid"));
            assertTrue(adopt.out().contains("add choice 100000005 \"Workload specific value proposition\" to opportunity.msft_assistance"),
                    adopt.out());
            assertTrue(adopt.out().contains("create alternate key opportunity.cosell_referralid_key on msft_referralidentifier"),
                    adopt.out());

            Run again = provision(h, config, false, true);
            assertTrue(again.out().contains("Adopted (role -> column): none") && again.out().contains("Nothing to change"),
                    again.out());
            assertEquals(written, Files.readString(config));

            // The connector on the adopted columns: a referral lands in Microsoft's columns.
            h.start(config);
            PartnerCenterEmulator pc = h.sandbox.partnerCenter();
            pc.webhooks().setFirstRetryDelayMs(50);
            await().atMost(Duration.ofSeconds(20)).until(() -> pc.webhooks().registration(h.tenant()) != null);
            String referralId = pc.createAsMicrosoft(h.tenant(), SampleReferrals.coSell("Adopted Ltd", "Adopted Ltd co-sell",
                    "51to250employees")).path("id").asText();
            await().atMost(Duration.ofSeconds(15)).until(() -> dv.countWhere("opportunities", "msft_referralidentifier", referralId) == 1);
            ObjectNode opp = dv.rows("opportunities").stream()
                    .filter(o -> referralId.equals(o.path("msft_referralidentifier").asText())).findFirst().orElseThrow();
            assertTrue(opp.path("msft_synctopartnercenter").asBoolean());
            assertTrue(opp.path("msft_referralurl").asText().endsWith("/referrals/" + referralId));
            assertTrue(opp.path("msft_audit").asText().contains("created from referral " + referralId));
            assertFalse(opp.has("cosell_referralid"));

            // And back: a seller flags an opportunity in Microsoft's column; it becomes a referral.
            String accountId = java.util.UUID.randomUUID().toString();
            dv.seed("accounts", List.of((ObjectNode) JSON.createObjectNode().put("accountid", accountId).put("name", "Adopted seller Ltd")
                    .put("address1_city", "Oslo").put("address1_country", "NO")));
            String opportunityId = java.util.UUID.randomUUID().toString();
            dv.seed("opportunities", List.of((ObjectNode) JSON.createObjectNode().put("opportunityid", opportunityId)
                    .put("name", "Adopted seller deal").put("estimatedvalue", 40000).put("estimatedclosedate", "2027-04-30")
                    .put("description", "Partner-led").put("msft_synctopartnercenter", true).put("msft_assistance", 100000001)
                    .put("cosell_products", "Azure-AI").put("parentaccountid@odata.bind", "/accounts(" + accountId + ")")));
            ObjectNode referral = new Seller(h).referralOf(opportunityId);
            assertEquals("CustomerTechnicalArchitecture", referral.path("inviteContext").path("assistanceRequestCode").asText());
            await().atMost(Duration.ofSeconds(10)).until(() -> referral.path("id").asText().equals(
                    dv.row("opportunities", opportunityId).path("msft_referralidentifier").asText()));
        }
    }

    static String label(String text) {
        return "{\"LocalizedLabels\": [{\"Label\": \"" + text + "\", \"LanguageCode\": 1033}]}";
    }

    static String column(String type, String schemaName, String displayName, String more) {
        return "{\"@odata.type\": \"Microsoft.Dynamics.CRM." + type + "\", \"SchemaName\": \"" + schemaName
                + "\", \"DisplayName\": " + label(displayName) + ", \"RequiredLevel\": {\"Value\": \"None\"}" + more + "}";
    }

    static TestHttp http(ConnectorHarness h) {
        var entra = h.sandbox.entra();
        Map<String, String> p = h.properties();
        EntraTokenProvider tokens = new EntraTokenProvider(new EntraTokenProvider.Settings(p.get("auth.authority"),
                p.get("auth.client-id"), p.get("auth.client-secret"), null, null, true, entra.instanceMetadata().toString(), null),
                h.sandbox.pki().clientSslContext(), null);
        return new TestHttp(h.sandbox.pki().clientSslContext(), () -> tokens.authorization(
                h.sandbox.dataverse().environmentUrl() + "/.default", EntraTokenProvider.Mode.APPLICATION));
    }
}
