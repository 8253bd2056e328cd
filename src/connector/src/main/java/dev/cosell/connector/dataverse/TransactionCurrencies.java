package dev.cosell.connector.dataverse;

import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import dev.cosell.connector.mapping.MappingException;

/**
 * Dataverse's currencies ({@code transactioncurrencies}: ISO code ↔ row id), cached. A referral's
 * {@code details.currency} becomes the opportunity's {@code transactioncurrencyid} and back; a code the
 * environment has no currency for is a mapping error naming it (never the base currency in silence).
 * The table is small and changes rarely: it is read whole (routes/dynamics-365-currencies.camel.yaml) when a
 * code or id is not known yet, at most once per {@code dataverse.currency-refresh-seconds}.
 */
public final class TransactionCurrencies {

    /** How long an unknown code or id is taken as unknown before the table is read again. */
    private final Duration reloadAfterMiss;

    private final Map<String, String> idByCode = new ConcurrentHashMap<>();
    private final Map<String, String> codeById = new ConcurrentHashMap<>();
    private volatile Instant loadedAt;

    /** @param reloadAfterMissSeconds how soon an unknown code may read the table again (dataverse.currency-refresh-seconds) */
    public TransactionCurrencies(long reloadAfterMissSeconds) {
        this.reloadAfterMiss = Duration.ofSeconds(reloadAfterMissSeconds);
    }

    /**
     * Whether the table must be read before these ISO codes or row ids (a String, a collection, or null)
     * can be mapped: one of them is unknown and the table was not read within the refresh time.
     */
    public boolean needs(Object codesOrIds) {
        Collection<?> values = codesOrIds == null ? List.of() : codesOrIds instanceof Collection<?> c ? c : List.of(codesOrIds);
        boolean unknown = values.stream().filter(v -> v != null && !v.toString().isBlank())
                .anyMatch(v -> !idByCode.containsKey(code(v)) && !codeById.containsKey(v.toString().toLowerCase(Locale.ROOT)));
        return unknown && (loadedAt == null || !loadedAt.plus(reloadAfterMiss).isAfter(Instant.now()));
    }

    /** Takes a Dataverse answer {@code {"value": [{transactioncurrencyid, isocurrencycode}, ...]}}. */
    public void load(Map<String, Object> answer) {
        if (answer != null && answer.get("value") instanceof List<?> rows) {
            for (Object r : rows) {
                if (r instanceof Map<?, ?> row && row.get("transactioncurrencyid") != null && row.get("isocurrencycode") != null) {
                    String id = row.get("transactioncurrencyid").toString().toLowerCase(Locale.ROOT);
                    String code = code(row.get("isocurrencycode"));
                    idByCode.put(code, id);
                    codeById.put(id, code);
                }
            }
        }
        loadedAt = Instant.now();
    }

    /** The lookup binding of an ISO code ({@code /transactioncurrencies(<id>)}); unknown → MappingException. */
    public String binding(String isoCode, String field) {
        String id = idByCode.get(code(isoCode));
        if (id == null) {
            throw new MappingException("unknown currency '" + isoCode + "' for field " + field
                    + ": Dataverse has no currency (transactioncurrencies) with ISO code " + code(isoCode)
                    + "; add it in Dataverse (Settings > Business Management > Currencies), then replay");
        }
        return "/transactioncurrencies(" + id + ")";
    }

    /** The ISO code of a currency row id; unknown → MappingException. */
    public String isoCode(String id, String field) {
        String code = codeById.get(id.toLowerCase(Locale.ROOT));
        if (code == null) {
            throw new MappingException("unknown currency id " + id + " for field " + field);
        }
        return code;
    }

    private static String code(Object v) {
        return v.toString().trim().toUpperCase(Locale.ROOT);
    }
}
