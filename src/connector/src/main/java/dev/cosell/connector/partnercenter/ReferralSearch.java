package dev.cosell.connector.partnercenter;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * Finds the referral an earlier, interrupted attempt may have created for an opportunity
 * ({@code externalReferenceId} = opportunity id), with what Partner Center documents only: list filters
 * on {@code updatedDateTime} (not on externalReferenceId, which is not a documented filter) and the
 * {@code createdDateTime} order. The referrals created since the attempt began are read newest first and
 * matched here; should the service refuse the filter, the same order is read without it, stopping at the
 * first referral older than the attempt. Either way a referral the attempt made is found, never made twice.
 */
public final class ReferralSearch {

    /** Clocks differ: the window opens this long before the attempt was recorded. */
    static final Duration SKEW = Duration.ofMinutes(10);

    /** The list query for referrals changed since {@code attemptedAt} (an ISO instant), newest first. */
    public String query(String attemptedAt) {
        return "$filter=" + encode("updatedDateTime ge " + since(attemptedAt)) + "&$orderby=" + encode("createdDateTime desc");
    }

    /** The same without the filter, for a service that refuses it. */
    public String fallbackQuery() {
        return "$orderby=" + encode("createdDateTime desc");
    }

    /** The referral of a page ({@code value}) that was made for the opportunity, or null. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> match(Map<String, Object> page, String opportunityId) {
        for (Map<String, Object> r : rows(page)) {
            if (opportunityId.equalsIgnoreCase(String.valueOf(r.get("externalReferenceId")))) {
                return r;
            }
        }
        return null;
    }

    /** True when the page (newest first) already reached referrals created before the attempt: no need to read on. */
    public boolean past(Map<String, Object> page, String attemptedAt) {
        Instant from = Instant.parse(since(attemptedAt));
        for (Map<String, Object> r : rows(page)) {
            Object created = r.get("createdDateTime");
            if (created != null && Instant.parse(created.toString()).isBefore(from)) {
                return true;
            }
        }
        return false;
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> rows(Map<String, Object> page) {
        return page != null && page.get("value") instanceof List<?> l ? (List<Map<String, Object>>) l : List.of();
    }

    private static String since(String attemptedAt) {
        return Instant.parse(attemptedAt).minus(SKEW).toString();
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
