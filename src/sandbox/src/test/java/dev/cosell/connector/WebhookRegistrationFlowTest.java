package dev.cosell.connector;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.List;
import java.util.Set;

import javax.management.MBeanServer;
import javax.management.ObjectName;

import dev.cosell.connector.sandbox.partnercenter.PartnerCenterEmulator;
import dev.cosell.connector.sandbox.partnercenter.WebhookDispatcher;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The Partner Center Webhook Registration flow ({@code routes/partner-center-webhook-registration.camel.yaml})
 * run by the real connector against the Partner Center emulator; outcomes are read back from the
 * emulator's registrations and call counters.
 */
class WebhookRegistrationFlowTest {

    private ConnectorHarness harness;

    @AfterEach
    void stop() {
        if (harness != null) {
            harness.close();
        }
    }

    private PartnerCenterEmulator pc() {
        return harness.sandbox.partnerCenter();
    }

    private WebhookDispatcher.Registration registration() {
        return pc().webhooks().registration(harness.tenant());
    }

    @Test
    void warmsUpReadOnlyBeforeItRegisters() throws Exception {
        harness = new ConnectorHarness();
        harness.start();
        harness.awaitWebhookRegistration();
        var dv = harness.sandbox.dataverse();
        var registered = pc().calls().entries().stream().filter(e -> e.method().equals("POST")
                && e.uri().startsWith("/webhooks/v1/registration")).findFirst().orElseThrow();
        // The documented example's customer looked up (one $batch of GETs) and the currencies loaded, then,
        // last, Partner Center's referrals API read (one referral): all before Partner Center is told to post
        // events (the read and the registration in Partner Center's own call order).
        assertTrue(dv.calls().entries().stream().anyMatch(e -> e.uri().contains("$batch")), "the lookup $batch");
        assertTrue(dv.calls().entries().stream().anyMatch(e -> e.uri().contains("transactioncurrencies")), "the currencies");
        var read = pc().calls().entries().stream()
                .filter(e -> e.uri().startsWith("/v1.0/engagements/referrals?") && e.uri().contains("top=1")).findFirst().orElseThrow();
        assertEquals(200, read.status());
        assertTrue(read.seq() < registered.seq(), "warm-up before the registration");
        // Nothing written anywhere.
        assertEquals(0, dv.calls().entries().stream().filter(e -> !e.method().equals("GET") && !e.uri().contains("$batch")).count());
        assertEquals(0, dv.api().rows("accounts").size() + dv.api().rows("contacts").size() + dv.api().rows("opportunities").size());
        assertEquals(0, harness.count("select count(*) from sync_link"));
    }

    @Test
    void registersAtStartUpAndASecondRunChangesNothing() throws Exception {
        harness = new ConnectorHarness();
        ConnectorRuntime runtime = harness.start();
        await().atMost(Duration.ofSeconds(20)).until(() -> registration() != null);
        assertEquals(harness.callbackUrl(), registration().webhookUrl());
        assertEquals(List.of("referral-created", "referral-updated"), registration().webhookEvents());
        String subscriber = registration().subscriberId();
        await().atMost(Duration.ofSeconds(10)).until(() ->
                runtime.context().getInflightRepository().size() == 0);

        assertEquals("unchanged", runtime.registerWebhook());
        assertEquals(subscriber, registration().subscriberId());
        assertEquals(1, pc().calls().count("POST /webhooks/v1/registration"));
        assertEquals(0, pc().calls().count("PUT /webhooks/v1/registration"));
        assertEquals(2, pc().calls().count("GET /webhooks/v1/registration"));
    }

    @Test
    void anotherEndpointIsAConflictUnlessOverwriteIsOn() throws Exception {
        harness = new ConnectorHarness().with("partnercenter.webhook.register-on-startup", "false");
        ConnectorRuntime runtime = harness.start();
        assertNull(registration(), "start-up registration is off");
        // Someone else (Microsoft's Power Automate flow, say) registered first.
        registerElsewhere();

        assertEquals("conflict", runtime.registerWebhook());
        assertEquals("https://flow.example.com/hook", registration().webhookUrl(), "not changed");
        assertEquals(0, pc().calls().count("PUT /webhooks/v1/registration"));
        harness.stopConnector();

        harness.with("partnercenter.webhook.overwrite", "true");
        runtime = harness.start();
        assertEquals("overwritten", runtime.registerWebhook());
        assertEquals(harness.callbackUrl(), registration().webhookUrl());
        assertEquals(1, pc().calls().count("PUT /webhooks/v1/registration"));
        assertEquals("unchanged", runtime.registerWebhook());
        assertEquals(1, pc().calls().count("PUT /webhooks/v1/registration"));
    }

    @Test
    void createdWhenNoneAndAvailableAsAJmxOperation() throws Exception {
        harness = new ConnectorHarness().with("partnercenter.webhook.register-on-startup", "false");
        ConnectorRuntime runtime = harness.start();
        MBeanServer jmx = ManagementFactory.getPlatformMBeanServer();
        Set<ObjectName> names = jmx.queryNames(new ObjectName("org.apache.camel:context="
                + runtime.context().getManagementName() + ",type=services,name=ConnectorOperations"), null);
        assertEquals(1, names.size(), "ConnectorOperations MBean");
        assertEquals("created", jmx.invoke(names.iterator().next(), "registerWebhook", new Object[0], new String[0]));
        assertNotNull(registration());
        assertEquals(1, pc().calls().count("POST /webhooks/v1/registration"));
        assertEquals("unchanged", jmx.invoke(names.iterator().next(), "registerWebhook", new Object[0], new String[0]));
    }

    private void registerElsewhere() {
        pc().webhooks().put(harness.tenant(), "https://flow.example.com/hook", List.of("referral-created"), false);
    }
}
