package dev.cosell.connector.sandbox.partnercenter;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** A Microsoft co-sell referral as Microsoft would send it (the V3 contract's shape), for tests and the benchmark. */
public final class SampleReferrals {

    private static final ObjectMapper JSON = new ObjectMapper();

    private SampleReferrals() {
    }

    /** A co-sell referral for {@code customer} (its contact's e-mail is derived from the name). */
    public static ObjectNode coSell(String customer, String name, String size) {
        ObjectNode r = JSON.createObjectNode().put("name", name).put("type", "Shared").put("qualification", "SalesQualified")
                .put("salesStage", "Qualify");
        ObjectNode cp = r.putObject("customerProfile").put("name", customer).put("size", size);
        cp.putObject("address").put("addressLine1", "1 Main St").put("city", "Seattle").put("country", "US");
        cp.putArray("team").addObject().put("firstName", "Sue").put("lastName", "Smith")
                .put("email", "sue@" + customer.toLowerCase().replace(' ', '-') + ".example");
        cp.putArray("ids");
        r.putObject("consent").put("consentToToShareInfoWithOthers", true).put("consentToContact", true)
                .put("consentToShareReferralWithMicrosoftSellers", true);
        ObjectNode details = r.putObject("details").put("notes", "needs help").put("dealValue", 50000)
                .put("currency", "USD").put("closingDateTime", "2027-03-31T00:00:00Z");
        details.putObject("requirements").putArray("solutions").addObject().put("id", "Azure-AI").put("name", "AI")
                .put("type", "Category");
        r.putArray("team").addObject().put("firstName", "John").put("lastName", "Doe").put("email", "john@microsoft.example");
        return r;
    }
}
