package dev.cosell.connector.flows;

import static dev.cosell.connector.flows.RemoteStandIn.status;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import dev.cosell.connector.RouteTests;
import dev.cosell.connector.flows.RemoteStandIn.Call;
import org.apache.camel.CamelExecutionException;
import org.apache.camel.http.base.HttpOperationFailedException;
import org.junit.jupiter.api.Test;

/**
 * Flow "Partner Center Webhook Registration" (routes/partner-center-webhook-registration.camel.yaml): the current
 * registration is read from the Webhooks API, then registered, left alone, or reported as a conflict.
 * Runs nested in {@link ConnectorFlowsTest}, on the connector all flows share.
 */
abstract class PartnerCenterWebhookRegistrationTest extends FlowTestSupport {

    static final String ENTRY = "direct:partner-center-webhook-registration";
    static final String CHECK = "direct:partner-center-webhook-registration-check";
    /** partnercenter.webhook.callback-url (RouteTests.CALLBACK); the events are application.properties'. */
    static final String CALLBACK = RouteTests.CALLBACK.substring(RouteTests.CALLBACK.indexOf('=') + 1);

    @Test
    void noneRegisteredIsRegisteredWithOurUrlAndBothEvents() {
        partnerCenter.answer("GET registration", status(404, "{\"code\":\"RegistrationNotFound\"}"));
        partnerCenter.answer("POST registration", Call::json);

        assertEquals("missing", template.requestBody(CHECK, null, String.class));
        assertEquals("created", template.requestBody(ENTRY, null, String.class));

        assertEquals(List.of("GET registration", "GET registration", "POST registration"), partnerCenter.keys());
        partnerCenter.calls().forEach(c -> assertEquals("webhooks", c.header("api"), "the Webhooks API, not referrals: " + c));
        Map<String, Object> body = partnerCenter.only("POST registration").json();
        assertEquals(CALLBACK, body.get("WebhookUrl"));
        assertEquals(List.of("referral-created", "referral-updated"), body.get("WebhookEvents"));
        assertEquals(List.of(), dataverse.calls());
    }

    @Test
    void oursAlreadyIsLeftUnchanged() {
        // Event names compared in any order and case.
        partnerCenter.answer("GET registration", Map.of("SubscriberId", "sub-1", "WebhookUrl", CALLBACK,
                "WebhookEvents", List.of("Referral-Updated", "referral-created")));

        assertEquals("unchanged", template.requestBody(ENTRY, null, String.class));
        assertEquals("ours", template.requestBody(CHECK, null, String.class));

        assertEquals(List.of("GET registration", "GET registration"), partnerCenter.keys());
        assertEquals(List.of(), partnerCenter.writes());
    }

    @Test
    void someoneElsesIsAConflictAndNotOverwritten() {
        // partnercenter.webhook.overwrite=false (application.properties)
        partnerCenter.answer("GET registration", Map.of("SubscriberId", "sub-1", "WebhookUrl", "https://other.example/hooks",
                "WebhookEvents", List.of("referral-created", "referral-updated")));

        assertEquals("conflict", template.requestBody(ENTRY, null, String.class));
        assertEquals("foreign", template.requestBody(CHECK, null, String.class));

        assertEquals(List.of(), partnerCenter.writes(), "no POST or PUT over another endpoint");
    }

    @Test
    void aRefusedRegistrationFailsTheCaller() {
        partnerCenter.answer("GET registration", status(404, ""));
        partnerCenter.answer("POST registration", status(400, "{\"code\":\"InvalidInput\",\"message\":\"WebhookUrl must be HTTPS\"}"));

        CamelExecutionException failed = assertThrows(CamelExecutionException.class,
                () -> template.requestBody(ENTRY, null, String.class));
        HttpOperationFailedException http = assertInstanceOf(HttpOperationFailedException.class, failed.getCause());
        assertEquals(400, http.getStatusCode());
        assertTrue(http.getResponseBody().contains("InvalidInput"));
        assertEquals(List.of("GET registration", "POST registration"), partnerCenter.keys());
    }
}
