package dev.cosell.connector.mapping;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import com.dashjoin.jsonata.JException;
import com.dashjoin.jsonata.Jsonata;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cosell.connector.dataverse.TransactionCurrencies;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The field mappings engineers edit: JSONata expressions in {@code routes/mappings/*.jsonata} (one per
 * direction and purpose) and the enum tables in {@code routes/mappings/enums.json} (Partner Center
 * strings to Dataverse option-set values). Functions the mapping files call, each failing the mapping
 * with a message naming the field and the value:
 * <ul>
 * <li>{@code $enum(table, value, field)}: a Partner Center value → its Dataverse choice;
 * {@code $enumName(table, choice, field)}: back;</li>
 * <li>{@code $required(value, field)}: a value that must be there;</li>
 * <li>{@code $currencyRef(isoCode, field)}: the opportunity's {@code transactioncurrencyid} binding of an ISO
 * 4217 code; {@code $isoCurrency(currencyId, field)}: back (both from {@link TransactionCurrencies}).</li>
 * </ul>
 */
public final class FieldMappings {

    private static final Logger LOG = LoggerFactory.getLogger(FieldMappings.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final Map<String, Map<String, Object>> enums;
    private final Map<String, String> sources = new TreeMap<>();
    private final ThreadLocal<Map<String, Jsonata>> compiled = ThreadLocal.withInitial(LinkedHashMap::new);

    private final String referralLink;
    private final boolean checkmark;
    private final TransactionCurrencies currencies;
    private String currency = "USD";

    /** Currency of referrals created from opportunities (sync.default-currency). */
    public void setCurrency(String currency) {
        this.currency = currency;
    }

    /**
     * @param referralLink link template to a referral in Partner Center ({id} replaced)
     * @param checkmark whether synced opportunities get the check mark
     */
    public FieldMappings(String mappingsDir, String referralLink, boolean checkmark, TransactionCurrencies currencies) {
        Path dir = Path.of(mappingsDir);
        this.dir = dir;
        this.currencies = currencies;
        this.referralLink = referralLink;
        this.checkmark = checkmark;
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("sync.mappings-dir: no mapping folder at " + dir.toAbsolutePath());
        }
        try {
            Path enumFile = dir.resolve("enums.json");
            Map<String, Object> tables = Files.exists(enumFile)
                    ? JSON.readValue(enumFile.toFile(), new TypeReference<Map<String, Object>>() { }) : Map.of();
            enums = new TreeMap<>();
            tables.forEach((name, table) -> {
                if (table instanceof Map<?, ?> m) { // skips "_comment"
                    @SuppressWarnings("unchecked")
                    Map<String, Object> t = (Map<String, Object>) m;
                    enums.put(name, t);
                }
            });
            try (Stream<Path> files = Files.list(dir)) {
                for (Path f : files.filter(p -> p.toString().endsWith(".jsonata")).toList()) {
                    String name = f.getFileName().toString().replaceFirst("\\.jsonata$", "");
                    String source = Files.readString(f, StandardCharsets.UTF_8);
                    Jsonata.jsonata(source); // fail at start-up, not on the first referral
                    sources.put(name, source);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the mappings in " + dir, e);
        } catch (JException e) {
            throw new IllegalArgumentException("a mapping file in " + dir + " does not parse: " + e.getMessage(), e);
        }
        LOG.info("Field mappings from {}: {} ({} enum tables)", dir, sources.keySet(), enums.size());
    }

    /**
     * Maps the record a route works on: the input is the exchange properties {@code referral},
     * {@code opportunity}, {@code account}, {@code contact}, {@code accountId}, {@code contactId},
     * {@code solutions}, {@code projection} (what the update mapping made of the same record), plus
     * {@code referralLink}, {@code checkmark} and {@code currency} (sync.default-currency).
     */
    public Map<String, Object> map(String mapping, org.apache.camel.Exchange exchange) {
        return mapRecord(mapping, exchange::getProperty);
    }

    /** As {@link #map}, for another referral than the exchange's (what the CRM holds of it, say). */
    public Map<String, Object> mapReferral(String mapping, Map<String, Object> referral, org.apache.camel.Exchange exchange) {
        return mapRecord(mapping, name -> "referral".equals(name) ? referral : exchange.getProperty(name));
    }

    private static final List<String> INPUTS = List.of("accountId", "contactId", "opportunity", "account", "contact", "solutions",
            "projection");

    /** As {@link #map(String, org.apache.camel.Exchange)}, for a record held outside an exchange (a backfill page). */
    public Map<String, Object> mapRecord(String mapping, java.util.function.Function<String, Object> record) {
        Map<String, Object> input = new LinkedHashMap<>();
        Object referral = record.apply("referral");
        input.put("referral", referral);
        for (String name : INPUTS) {
            input.put(name, record.apply(name));
        }
        input.put("currency", currency);
        if (referral instanceof Map<?, ?> r && r.get("id") != null) {
            input.put("referralLink", referralLink.replace("{id}", r.get("id").toString()));
        }
        input.put("checkmark", checkmark);
        return apply(mapping, input);
    }

    public List<String> names() {
        return List.copyOf(sources.keySet());
    }

    /**
     * Evaluates a mapping over an input (maps and lists as Jackson reads JSON) and returns the mapped
     * object, without the properties the mapping left undefined.
     */
    @SuppressWarnings("unchecked")
    public Map<String, Object> apply(String mapping, Object input) {
        Jsonata expression = compiled.get().computeIfAbsent(mapping, this::compile);
        Object result;
        try {
            result = expression.evaluate(input);
        } catch (MappingException e) {
            throw e;
        } catch (JException e) {
            if (e.getCause() instanceof MappingException m) {
                throw m;
            }
            String message = e.getMessage();
            if (message != null && message.startsWith("mapping:")) {
                throw new MappingException(mapping + ": " + message.substring(8).trim());
            }
            throw new MappingException(mapping + ": " + message, e);
        }
        if (!(result instanceof Map<?, ?> map)) {
            throw new MappingException(mapping + ": the mapping must produce a JSON object, it produced " + result);
        }
        return (Map<String, Object>) map;
    }

    private Jsonata compile(String mapping) {
        String source = sources.get(mapping);
        if (source == null) {
            throw new IllegalArgumentException("no mapping file " + mapping + ".jsonata in " + dir);
        }
        Jsonata j = Jsonata.jsonata(source);
        j.registerFunction("enum", Jsonata.function("enum", (Jsonata.Fn3<String, Object, String, Object>) this::lookup,
                "<sxs:x>"));
        j.registerFunction("enumName", Jsonata.function("enumName", (Jsonata.Fn3<String, Object, String, Object>) this::name,
                "<sxs:x>"));
        j.registerFunction("currencyRef", Jsonata.function("currencyRef", (Jsonata.Fn2<String, String, Object>) (code, field) ->
                code == null ? null : currencies.binding(code, field), "<ss:x>"));
        j.registerFunction("isoCurrency", Jsonata.function("isoCurrency", (Jsonata.Fn2<String, String, Object>) (id, field) ->
                id == null ? null : currencies.isoCode(id, field), "<ss:x>"));
        j.registerFunction("required", Jsonata.function("required", (Jsonata.Fn2<Object, String, Object>) (value, field) -> {
            if (value == null || value == Jsonata.NULL_VALUE || (value instanceof String s && s.isBlank())
                    || (value instanceof java.util.Collection<?> c && c.isEmpty())) {
                throw new MappingException("missing required field " + field);
            }
            return value;
        }, "<xs:x>"));
        return j;
    }

    /** A Dataverse choice value → the Partner Center value of the enum table (the reverse of {@code $enum}). */
    private Object name(String table, Object choice, String field) {
        if (choice == null || choice == Jsonata.NULL_VALUE) {
            return null;
        }
        String key = choice instanceof Number n ? new java.math.BigDecimal(n.toString()).stripTrailingZeros().toPlainString()
                : choice.toString();
        Map<String, Object> t = table(table, field);
        for (var e : t.entrySet()) {
            if (String.valueOf(e.getValue()).equals(key)) {
                return e.getKey();
            }
        }
        throw unknown(choice, field, table, t.values());
    }

    /** A Partner Center value → its Dataverse choice ({@code $enum}), names compared case-insensitively. */
    private Object lookup(String table, Object value, String field) {
        if (value == null || value == Jsonata.NULL_VALUE) {
            return null;
        }
        Map<String, Object> t = table(table, field);
        for (var e : t.entrySet()) {
            if (e.getKey().equalsIgnoreCase(String.valueOf(value))) {
                return e.getValue();
            }
        }
        throw unknown(value, field, table, t.keySet());
    }

    private Map<String, Object> table(String table, String field) {
        Map<String, Object> t = enums.get(table);
        if (t == null) {
            throw new MappingException("no enum table '" + table + "' in enums.json (field " + field + ")");
        }
        return t;
    }

    private static MappingException unknown(Object value, String field, String table, java.util.Collection<?> known) {
        return new MappingException("unknown value '" + value + "' for field " + field + " (enum table " + table + " knows "
                + known + ")");
    }
}
