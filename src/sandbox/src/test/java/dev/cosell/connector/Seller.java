package dev.cosell.connector;

import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.UUID;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cosell.connector.sandbox.dataverse.DataverseApi;
import dev.cosell.connector.ledger.SyncLedger;

/** Test helper: what a seller does in the CRM, and what the tests read back, for one harness. */
final class Seller {

    static final ObjectMapper JSON = new ObjectMapper();
    private final ConnectorHarness harness;

    Seller(ConnectorHarness harness) {
        this.harness = harness;
    }

    DataverseApi dv() {
        return harness.sandbox.dataverse().api();
    }

    SyncLedger ledger() {
        return harness.runtime().context().getRegistry().lookupByNameAndType("syncLedger", SyncLedger.class);
    }

    /** A seller's opportunity with its account; returns the opportunity id. */
    String opportunity(String name, boolean flagged, String products) {
        String accountId = UUID.randomUUID().toString();
        dv().seed("accounts", List.of((ObjectNode) JSON.createObjectNode().put("accountid", accountId).put("name", name + " Ltd")
                .put("address1_city", "Oslo").put("address1_country", "NO")));
        String id = UUID.randomUUID().toString();
        ObjectNode opp = JSON.createObjectNode().put("opportunityid", id).put("name", name).put("estimatedvalue", 40000)
                .put("estimatedclosedate", "2027-04-30").put("description", "Partner-led " + name)
                .put("cosell_syncwithpartnercenter", flagged).put("cosell_howcanmicrosofthelp", 100000001)
                .put("parentaccountid@odata.bind", "/accounts(" + accountId + ")");
        if (products != null) {
            opp.put("cosell_products", products);
        }
        dv().seed("opportunities", List.of(opp));
        return id;
    }

    /** A seller edits an opportunity (the row's version moves on, as with any Dataverse update). */
    void edit(String opportunityId, ObjectNode changes) {
        changes.put("opportunityid", opportunityId);
        dv().seed("opportunities", List.of(changes));
    }

    /**
     * True once the connector has handled the opportunity's current version: its idempotent repository
     * key, or it is the version the connector wrote itself (the ledger's; the poll drops such rows
     * before the row's pipeline, so they get no key).
     */
    boolean handledCurrentVersion(String opportunityId) {
        var repo = harness.runtime().context().getRegistry().lookupByNameAndType("opportunityChangeRepository",
                org.apache.camel.spi.IdempotentRepository.class);
        long version = dv().row("opportunities", opportunityId).path("versionnumber").asLong();
        var link = ledger().findByOpportunity(opportunityId);
        return repo.contains(opportunityId + "|" + version)
                || link != null && link.get("opportunity_version") instanceof Number v && v.longValue() == version;
    }

    List<ObjectNode> referralsFor(String opportunityId) {
        return harness.sandbox.partnerCenter().referrals().all(harness.tenant()).stream()
                .filter(r -> opportunityId.equals(r.path("externalReferenceId").asText())).toList();
    }

    /** Waits for the one referral of an opportunity, linked and written back. */
    ObjectNode referralOf(String opportunityId) {
        await().atMost(Duration.ofSeconds(10)).until(() -> referralsFor(opportunityId).size() == 1
                && ledger().findByOpportunity(opportunityId) != null
                && ledger().findByOpportunity(opportunityId).get("opportunity_version") != null);
        return referralsFor(opportunityId).get(0);
    }
}
