package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.partnercenter.PartnerCenterEmulator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What engineers change without recompiling: a mapping file (a field added) and sync.cosell-only;
 * and a stop in the middle of processing, after which the inbox brings the event back.
 */
class PartnerCenterToDynamicsSettingsTest {

    private ConnectorHarness harness;

    @AfterEach
    void stop() {
        if (harness != null) {
            harness.close();
        }
    }

    private List<ObjectNode> opportunitiesFor(String referralId) {
        return harness.sandbox.dataverse().api().rows("opportunities").stream()
                .filter(o -> referralId.equals(o.path("cosell_referralid").asText())).toList();
    }

    private void awaitRegistration() {
        harness.awaitWebhookRegistration();
    }

    @Test
    void editedMappingFileAndCoSellOnlyOffTakeEffectWithoutRecompiling() throws Exception {
        Path mappings = Files.createTempDirectory("mappings");
        try (var files = Files.list(Path.of("routes/mappings"))) {
            for (Path f : files.toList()) {
                Files.copy(f, mappings.resolve(f.getFileName()));
            }
        }
        // An engineer adds a field to the create mapping: the customer's need goes to customerneed.
        Path create = mappings.resolve("referral-to-opportunity-create.jsonata");
        Files.writeString(create, Files.readString(create).replace("\"cosell_syncwithpartnercenter\": true,",
                "\"cosell_syncwithpartnercenter\": true,\n    \"customerneed\": \"Asked Microsoft: \" & $r.details.notes,"));

        harness = new ConnectorHarness().with("sync.mappings-dir", mappings.toString()).with("sync.cosell-only", "false");
        harness.start();
        awaitRegistration();
        PartnerCenterEmulator pc = harness.sandbox.partnerCenter();
        ObjectNode independent = PartnerCenterToDynamicsTest.referral("Independent Ten", "10to50employees")
                .put("type", "Independent");
        String id = pc.createAsMicrosoft(harness.tenant(), independent).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> opportunitiesFor(id).size() == 1);
        ObjectNode opp = opportunitiesFor(id).get(0);
        assertEquals("Asked Microsoft: needs help", opp.path("customerneed").asText());
        assertEquals(false, opp.path("cosell_iscosell").asBoolean());
    }

    @Test
    void eventCutOffByAStopIsProcessedAfterTheRestart() throws Exception {
        harness = new ConnectorHarness().with("camel.main.shutdown-timeout", "1");
        harness.start();
        awaitRegistration();
        // Partner Center is slow to answer the referral read: the event is accepted and recorded in
        // the inbox, then the connector stops (shutdown timeout 1 s) while it waits.
        var slow = harness.sandbox.partnerCenter().faults().add(dev.cosell.connector.sandbox.Faults.Rule.delay(6000)
                .on("GET", "/v1.0/engagements/referrals/").times(1));
        PartnerCenterEmulator pc = harness.sandbox.partnerCenter();
        String id = pc.createAsMicrosoft(harness.tenant(), PartnerCenterToDynamicsTest.referral("Restart Eleven",
                "10to50employees")).path("id").asText();
        await().atMost(Duration.ofSeconds(10)).until(() -> slow.fired() == 1);
        harness.stopConnector();
        assertEquals(0, opportunitiesFor(id).size());

        harness.start();
        await().atMost(Duration.ofSeconds(20)).until(() -> opportunitiesFor(id).size() == 1);
        ConnectorRuntime runtime = harness.runtime();
        var ledger = runtime.context().getRegistry().lookupByNameAndType("syncLedger", dev.cosell.connector.ledger.SyncLedger.class);
        await().atMost(Duration.ofSeconds(10)).until(() -> ledger.find(id) != null);
        assertEquals(1, opportunitiesFor(id).size());
        assertEquals(1, harness.sandbox.dataverse().api().rows("accounts").stream()
                .filter(a -> a.path("name").asText().equals("Restart Eleven")).count());
        var deadLetters = runtime.context().getRegistry().lookupByNameAndType("deadLetters",
                dev.cosell.connector.ledger.DeadLetters.class);
        assertEquals(0, deadLetters.openCount(), "a stop is not a dead letter");
    }
}
