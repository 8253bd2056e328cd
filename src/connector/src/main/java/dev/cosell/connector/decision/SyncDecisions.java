package dev.cosell.connector.decision;

import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * What a referral or an opportunity needs: the one decision table per direction. Every path that
 * decides uses it — the webhook flow and the backfill's one-by-one path
 * ({@code sync-referral-to-opportunity}), the backfill's bulk path ({@code BackfillPage}), the dry-run
 * plan ({@code Reconciliation.plan}) and the Dataverse poll ({@code dynamics-365-opportunity-changed}) —
 * so a rule changed here changes for all of them. The first row whose condition holds decides.
 *
 * <p>Partner Center → Dynamics 365, for a referral and its link (the ledger row, or none):
 * <table>
 * <tr><th>row</th><th>when</th><th>decision</th></tr>
 * <tr><td>1</td><td>linked, and the referral's eTag is the one our last write got</td><td>OWN_WRITE: nothing to apply</td></tr>
 * <tr><td>2</td><td>not linked, and it names an opportunity (externalReferenceId)</td><td>FROM_CRM: the CRM flow links it</td></tr>
 * <tr><td>3</td><td>not linked, sync.cosell-only, and not a co-sell referral (type ≠ Shared)</td><td>SKIP_NOT_COSELL</td></tr>
 * <tr><td>4</td><td>not linked, and closed</td><td>SKIP_CLOSED</td></tr>
 * <tr><td>5</td><td>not linked</td><td>CREATE the opportunity (and account, contact)</td></tr>
 * <tr><td>6</td><td>linked</td><td>UPDATE the opportunity with what differs</td></tr>
 * </table>
 * A linked referral is followed whatever its type: a private deal we created from the CRM stays in sync.
 *
 * <p>Dynamics 365 → Partner Center, for a changed opportunity and its link:
 * <table>
 * <tr><th>row</th><th>when</th><th>decision</th></tr>
 * <tr><td>1</td><td>linked, and its version is the one our last write made</td><td>OWN_WRITE</td></tr>
 * <tr><td>2</td><td>not flagged "Sync with Partner Center"</td><td>SKIP_NOT_FLAGGED</td></tr>
 * <tr><td>3</td><td>not linked, and it carries a referral id</td><td>FROM_PARTNER_CENTER: that flow links it</td></tr>
 * <tr><td>4</td><td>not linked</td><td>CREATE the referral</td></tr>
 * <tr><td>5</td><td>linked</td><td>UPDATE the referral with what differs</td></tr>
 * </table>
 */
public final class SyncDecisions {

    /** What to do with a referral. */
    public enum Referral { OWN_WRITE, FROM_CRM, SKIP_NOT_COSELL, SKIP_CLOSED, CREATE, UPDATE }

    /** What to do with a changed opportunity. */
    public enum Opportunity { OWN_WRITE, SKIP_NOT_FLAGGED, FROM_PARTNER_CENTER, CREATE, UPDATE }

    /** A referral, its link and the setting the table reads. */
    record ReferralCase(Map<String, Object> referral, Map<String, Object> link, boolean cosellOnly) {
        boolean linked() {
            return link != null;
        }
    }

    record OpportunityCase(Map<String, Object> opportunity, Map<String, Object> link) {
        boolean linked() {
            return link != null;
        }
    }

    private record Row<C, D>(String when, Predicate<C> condition, D decision) {
    }

    private static final List<Row<ReferralCase, Referral>> REFERRAL_TABLE = List.of(
            new Row<>("linked, our own write", c -> c.linked() && same(c.referral().get("eTag"), c.link().get("referral_etag")),
                    Referral.OWN_WRITE),
            new Row<>("not linked, names an opportunity", c -> !c.linked() && present(c.referral().get("externalReferenceId")),
                    Referral.FROM_CRM),
            new Row<>("not linked, not co-sell", c -> !c.linked() && c.cosellOnly() && !"Shared".equals(c.referral().get("type")),
                    Referral.SKIP_NOT_COSELL),
            new Row<>("not linked, closed", c -> !c.linked() && "Closed".equals(c.referral().get("status")), Referral.SKIP_CLOSED),
            new Row<>("not linked", c -> !c.linked(), Referral.CREATE),
            new Row<>("linked", c -> true, Referral.UPDATE));

    private static final List<Row<OpportunityCase, Opportunity>> OPPORTUNITY_TABLE = List.of(
            new Row<>("linked, our own write", c -> c.linked()
                    && same(c.opportunity().get("versionnumber"), c.link().get("opportunity_version")), Opportunity.OWN_WRITE),
            new Row<>("not flagged", c -> !"true".equals(String.valueOf(c.opportunity().get("cosell_syncwithpartnercenter"))),
                    Opportunity.SKIP_NOT_FLAGGED),
            new Row<>("not linked, carries a referral id", c -> !c.linked() && present(c.opportunity().get("cosell_referralid")),
                    Opportunity.FROM_PARTNER_CENTER),
            new Row<>("not linked", c -> !c.linked(), Opportunity.CREATE),
            new Row<>("linked", c -> true, Opportunity.UPDATE));

    private final boolean cosellOnly;

    /** @param cosellOnly sync.cosell-only */
    public SyncDecisions(boolean cosellOnly) {
        this.cosellOnly = cosellOnly;
    }

    /** The decision for a referral and its ledger link (null: not linked). */
    public Referral forReferral(Map<String, Object> referral, Map<String, Object> link) {
        return decide(REFERRAL_TABLE, new ReferralCase(referral, link, cosellOnly));
    }

    /** The decision for a changed opportunity and its ledger link (null: not linked). */
    public Opportunity forOpportunity(Map<String, Object> opportunity, Map<String, Object> link) {
        return decide(OPPORTUNITY_TABLE, new OpportunityCase(opportunity, link));
    }

    /**
     * The rows of a Dataverse page (body: {"value": [rows]}) without those that are our own writes
     * (row 1 of the table, by {@code links}: the page's links by opportunity id). The poll reads back
     * every opportunity the other direction writes; they leave here instead of one by one.
     */
    public List<Object> withoutOwnWrites(Map<String, Object> page, Map<String, Map<String, Object>> links) {
        List<Object> rows = new java.util.ArrayList<>();
        if (page != null && page.get("value") instanceof List<?> value) {
            for (Object r : value) {
                if (r instanceof Map<?, ?> row && row.get("opportunityid") instanceof String id && links.get(id) != null) {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> opportunity = (Map<String, Object>) row;
                    if (forOpportunity(opportunity, links.get(id)) == Opportunity.OWN_WRITE) {
                        continue;
                    }
                }
                rows.add(r);
            }
        }
        return rows;
    }

    private static <C, D> D decide(List<Row<C, D>> table, C c) {
        for (Row<C, D> row : table) {
            if (row.condition().test(c)) {
                return row.decision();
            }
        }
        throw new IllegalStateException("the table's last row always holds");
    }

    private static boolean present(Object value) {
        return value != null && !value.toString().isEmpty();
    }

    /** Equal as text: the ledger keeps versions and eTags as text, the APIs answer numbers or text. */
    private static boolean same(Object a, Object b) {
        return a != null && b != null && a.toString().equals(b.toString());
    }
}
