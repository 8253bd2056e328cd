package dev.cosell.connector.sandbox;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import com.fasterxml.jackson.databind.JsonNode;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;

/**
 * Partner Center's published contract as a JSON Schema ({@value #LOCATION}, our own file derived from
 * the swagger of Microsoft's Partner Center Referrals connector): the emulator validates every request
 * body it accepts and every body it serves against it, and the contract tests validate what the
 * connector sends. Validation by networknt's json-schema-validator (draft 2020-12).
 */
public final class ContractSchema {

    public static final String LOCATION = "classpath:sandbox/contract/partner-center-referrals.schema.json";

    /** The shapes of the contract the connector and the emulator use, by their name in the schema's $defs. */
    public enum Shape {
        Referral, NewReferral, ReferralList, ReferralPatch, UpdateReferralDetails, DealRegistration, UpdateDealRegistration,
        WebhookEvent
    }

    private static final ContractSchema PARTNER_CENTER = new ContractSchema();

    private final SchemaRegistry registry = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
    private final Map<Shape, Schema> schemas = new ConcurrentHashMap<>();

    private ContractSchema() {
    }

    public static ContractSchema partnerCenter() {
        return PARTNER_CENTER;
    }

    /** What is wrong with a body for a shape, one line per problem, naming the property by its JSON Pointer; empty when it fits. */
    public List<String> problems(Shape shape, JsonNode body) {
        Schema schema = schemas.computeIfAbsent(shape, s -> {
            Schema loaded = registry.getSchema(SchemaLocation.of(LOCATION + "#/$defs/" + s.name()));
            loaded.initializeValidators();
            return loaded;
        });
        return schema.validate(body).stream().map(ContractSchema::describe).distinct().toList();
    }

    private static String describe(Error e) {
        String at = e.getInstanceLocation() == null ? "/" : e.getInstanceLocation().toString();
        return at + ": " + e.getMessage();
    }
}
