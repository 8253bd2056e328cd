package dev.cosell.connector.dataverse;

import dev.cosell.connector.mapping.MappingException;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * How an existing Dataverse account or contact is recognised for a referral's customer, as OData
 * queries. Account rules ({@code sync.account-match}, in order, combined with {@code or}):
 * {@code duns} (the customer's Duns id in customerProfile.ids = cosell_dunsnumber) and {@code name-country} (same name and
 * country). Contacts match on e-mail address.
 */
public final class CustomerMatch {

    private final List<String> accountRules;

    /** @param accountRules comma-separated, in order (sync.account-match) */
    public CustomerMatch(String accountRules) {
        this.accountRules = dev.cosell.connector.Settings.commaList(accountRules);
        for (String r : this.accountRules) {
            if (!r.equals("duns") && !r.equals("name-country")) {
                throw new IllegalArgumentException("sync.account-match: unknown rule '" + r + "' (duns, name-country)");
            }
        }
    }

    /** The query string ({@code $select}, {@code $filter}, {@code $top}) that finds the referral's account. */
    @SuppressWarnings("unchecked")
    public String accountQuery(Map<String, Object> referral) {
        Map<String, Object> profile = (Map<String, Object>) referral.getOrDefault("customerProfile", Map.of());
        Object duns = customerId(profile.get("ids"), "Duns");
        Map<String, Object> address = profile.get("address") instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
        List<String> clauses = new ArrayList<>();
        for (String rule : accountRules) {
            if (rule.equals("duns") && present(duns)) {
                clauses.add("cosell_dunsnumber eq " + literal(duns));
            } else if (rule.equals("name-country") && present(profile.get("name"))) {
                clauses.add("(name eq " + literal(profile.get("name")) + " and address1_country eq "
                        + literal(address.getOrDefault("country", "")) + ")");
            }
        }
        if (clauses.isEmpty()) {
            throw new MappingException("missing required field customerProfile.name (needed to find or create the account)");
        }
        return query("accountid,name", String.join(" or ", clauses));
    }

    /**
     * A customer id of a kind (Duns, External) from {@code customerProfile.ids}: a list of
     * {@code {profileType, id}} in the contract; older examples write an object {@code {Duns, External}}.
     */
    @SuppressWarnings("unchecked")
    static Object customerId(Object ids, String profileType) {
        if (ids instanceof List<?> list) {
            for (Object item : list) {
                if (item instanceof Map<?, ?> m && profileType.equalsIgnoreCase(String.valueOf(m.get("profileType")))) {
                    return ((Map<String, Object>) m).get("id");
                }
            }
            return null;
        }
        return ids instanceof Map<?, ?> m ? ((Map<String, Object>) m).get(profileType) : null;
    }

    /** The query that finds the contact for the first customer team member, or null when there is none with an e-mail. */
    @SuppressWarnings("unchecked")
    public String contactQuery(Map<String, Object> referral) {
        Map<String, Object> member = firstMember(referral);
        if (member == null || !present(member.get("email"))) {
            return null;
        }
        return query("contactid", "emailaddress1 eq " + literal(member.get("email")));
    }

    @SuppressWarnings("unchecked")
    public static Map<String, Object> firstMember(Map<String, Object> referral) {
        Object profile = referral.get("customerProfile");
        if (profile instanceof Map<?, ?> p && p.get("team") instanceof List<?> team && !team.isEmpty()
                && team.get(0) instanceof Map<?, ?> m) {
            return (Map<String, Object>) m;
        }
        return null;
    }

    private static String query(String select, String filter) {
        return "$select=" + select + "&$top=1&$filter=" + URLEncoder.encode(filter, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static boolean present(Object v) {
        return v != null && !v.toString().isBlank();
    }

    private static String literal(Object v) {
        return "'" + String.valueOf(v).replace("'", "''") + "'";
    }
}
