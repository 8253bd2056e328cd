package dev.cosell.connector.flows;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.TimeUnit;

import dev.cosell.connector.ConnectorConfiguration;
import dev.cosell.connector.RouteTests;
import org.apache.camel.test.main.junit5.CamelMainTest;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The route tests of every flow, on one connector started for all of them (a start costs more than all their cases):
 * application.properties, routes/ and the connector's beans, an in-memory store, the remote systems' request routes
 * moved aside for the stand-ins' ({@link RemoteStandIn}), and the schedules (Dataverse poll, reconciliation, inbox
 * sweep) turned into direct endpoints a test triggers. Each flow's cases are a class of their own, nested here.
 */
@CamelMainTest(propertyPlaceholderLocations = "file:application.properties",
        configurationClasses = ConnectorConfiguration.class,
        properties = { RouteTests.STORE, RouteTests.SECRET_KEY, RouteTests.TENANT, RouteTests.CLIENT, RouteTests.SECRET,
                RouteTests.REFRESH_TOKEN, RouteTests.DATAVERSE, RouteTests.CALLBACK, RouteTests.NO_REGISTRATION,
                RouteTests.NO_SERVER_PORT, RouteTests.NO_MANAGEMENT, RouteTests.NO_POLL, RouteTests.NO_SWEEP,
                // A retried answer (429/5xx) is tried again at once: the tests wait for nothing.
                "sync.retry.initial-delay-ms=10", "sync.retry.max-delay-ms=50", "sync.retry.max-redeliveries=3",
                // No MBean for each of the routes' processors (what a test does not look at, and most of a start).
                "camel.main.jmx-enabled=false" },
        replaceRouteFromWith = {
                // The remote systems' request routes are moved aside: the stand-ins' routes take their endpoints.
                "dataverse=direct:dataverse-not-called", "partner-center=direct:partner-center-not-called",
                // Nothing runs by itself: the tests start the poll, the reconciliation and the sweep.
                "dynamics-365-to-partner-center=direct:dynamics-365-to-partner-center",
                "reconciliation=direct:reconciliation-schedule", "partner-center-inbox-recovery=direct:inbox-sweep" })
// A flow that loops or waits for ever (the poll waits for its rows without a timeout) fails its test instead.
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class ConnectorFlowsTest extends FlowTestSupport {

    /** Runs before the nested classes: the connector they share is started for it. */
    @Test
    void everyFlowIsStartedWithTheRemoteSystemsStoodInAndNothingScheduled() {
        for (String route : List.of("partner-center-webhook-registration", "partner-center-to-dynamics-365",
                "partner-center-to-dynamics-365-processing", "partner-center-referral-updates-to-dynamics-365",
                "dynamics-365-opportunity-changed", "create-cosell-referral-dynamics-365-to-partner-center",
                "dynamics-365-opportunity-to-partner-center", "dynamics-365-microsoft-solutions-to-partner-center",
                "look-up-customer", "load-transaction-currencies", "fit-to-columns", "reconcile", "dataverse-stand-in",
                "partner-center-stand-in")) {
            assertTrue(context.getRouteController().getRouteStatus(route).isStarted(), route);
        }
        assertEquals("direct://dataverse", context.getRoute("dataverse-stand-in").getEndpoint().getEndpointUri());
        assertEquals("direct://partner-center", context.getRoute("partner-center-stand-in").getEndpoint().getEndpointUri());
        for (String scheduled : List.of("dynamics-365-to-partner-center", "reconciliation", "partner-center-inbox-recovery",
                "dataverse", "partner-center")) {
            assertTrue(context.getRoute(scheduled).getEndpoint().getEndpointUri().startsWith("direct:"), scheduled);
        }
    }

    @Nested
    class PartnerCenterWebhookRegistration extends PartnerCenterWebhookRegistrationTest {
    }

    @Nested
    class PartnerCenterToDynamics365 extends PartnerCenterToDynamics365Test {
    }

    @Nested
    class PartnerCenterReferralUpdatesToDynamics365 extends PartnerCenterReferralUpdatesToDynamics365Test {
    }

    @Nested
    class Dynamics365ToPartnerCenter extends Dynamics365ToPartnerCenterTest {
    }

    @Nested
    class CreateCosellReferralDynamics365ToPartnerCenter extends CreateCosellReferralDynamics365ToPartnerCenterTest {
    }

    @Nested
    class Dynamics365OpportunityToPartnerCenter extends Dynamics365OpportunityToPartnerCenterTest {
    }

    @Nested
    class Dynamics365MicrosoftSolutionsToPartnerCenter extends Dynamics365MicrosoftSolutionsToPartnerCenterTest {
    }

    @Nested
    class BackfillAndReconciliation extends ReconciliationFlowTest {
    }
}
