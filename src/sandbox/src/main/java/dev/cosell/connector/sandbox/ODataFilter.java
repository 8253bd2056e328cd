package dev.cosell.connector.sandbox;

import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The subset of OData 4.0 {@code $filter} that Dataverse's Web API accepts and the connector uses:
 * comparison ({@code eq ne gt ge lt le}), logical ({@code and or not}, parentheses), the string
 * functions {@code contains startswith endswith}, and literals: strings, numbers, booleans,
 * {@code null}, GUIDs and ISO dates. String comparison is case-insensitive, as in Dataverse's
 * default collation.
 * <p>
 * Parsed once into a predicate over a record's JSON; an unknown column or a syntax error is a
 * {@link FilterException} that the emulator answers with Dataverse's error code.
 */
public final class ODataFilter {

    /** A syntax error or an unknown property, with Dataverse's message. */
    public static final class FilterException extends RuntimeException {
        final boolean unknownProperty;

        FilterException(String message, boolean unknownProperty) {
            super(message);
            this.unknownProperty = unknownProperty;
        }
    }

    public interface Predicate {
        boolean test(JsonNode row);
    }

    private interface Operand {
        Object eval(JsonNode row);
    }

    private static final Pattern GUID = Pattern.compile("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
    private static final Pattern DATE = Pattern.compile("\\d{4}-\\d{2}-\\d{2}");
    private static final Pattern DATETIME = Pattern.compile("\\d{4}-\\d{2}-\\d{2}T[0-9:.]+(Z|[+-]\\d{2}:\\d{2})");

    private final List<String> tokens;
    private final Function<String, Boolean> knownProperty;
    private final String entityName;
    private int pos;

    private ODataFilter(String text, Function<String, Boolean> knownProperty, String entityName) {
        this.tokens = tokenize(text);
        this.knownProperty = knownProperty;
        this.entityName = entityName;
    }

    /**
     * @param knownProperty says whether a name is a column of the entity (including lookup value
     *        properties such as {@code _parentaccountid_value})
     */
    public static Predicate parse(String text, Function<String, Boolean> knownProperty, String entityName) {
        ODataFilter p = new ODataFilter(text, knownProperty, entityName);
        Predicate result = p.or();
        if (p.pos < p.tokens.size()) {
            throw p.syntax("Syntax error at position " + p.pos + " in '" + text + "'.");
        }
        return result;
    }

    // ------------------------------------------------------------------ grammar

    private Predicate or() {
        Predicate left = and();
        while (peekWord("or")) {
            pos++;
            Predicate l = left;
            Predicate r = and();
            left = row -> l.test(row) || r.test(row);
        }
        return left;
    }

    private Predicate and() {
        Predicate left = not();
        while (peekWord("and")) {
            pos++;
            Predicate l = left;
            Predicate r = not();
            left = row -> l.test(row) && r.test(row);
        }
        return left;
    }

    private Predicate not() {
        if (peekWord("not")) {
            pos++;
            Predicate inner = not();
            return row -> !inner.test(row);
        }
        return comparison();
    }

    private Predicate comparison() {
        if (peek("(")) {
            pos++;
            Predicate inner = or();
            expect(")");
            return inner;
        }
        String t = peekToken();
        if (t != null && (t.equalsIgnoreCase("contains") || t.equalsIgnoreCase("startswith")
                || t.equalsIgnoreCase("endswith")) && "(".equals(tokenAt(pos + 1))) {
            return stringFunction();
        }
        Operand left = operand();
        String op = next();
        if (op == null) {
            throw syntax("Expected an operator after the operand.");
        }
        Operand right = operand();
        return switch (op.toLowerCase(Locale.ROOT)) {
            case "eq" -> row -> compare(left.eval(row), right.eval(row)) == 0;
            case "ne" -> row -> compare(left.eval(row), right.eval(row)) != 0;
            case "gt" -> row -> ordered(left.eval(row), right.eval(row), c -> c > 0);
            case "ge" -> row -> ordered(left.eval(row), right.eval(row), c -> c >= 0);
            case "lt" -> row -> ordered(left.eval(row), right.eval(row), c -> c < 0);
            case "le" -> row -> ordered(left.eval(row), right.eval(row), c -> c <= 0);
            default -> throw syntax("Unknown operator '" + op + "'.");
        };
    }

    private Predicate stringFunction() {
        String fn = next().toLowerCase(Locale.ROOT);
        expect("(");
        Operand a = operand();
        expect(",");
        Operand b = operand();
        expect(")");
        return row -> {
            Object x = a.eval(row);
            Object y = b.eval(row);
            if (!(x instanceof String s) || !(y instanceof String v)) {
                return false;
            }
            String ls = s.toLowerCase(Locale.ROOT);
            String lv = v.toLowerCase(Locale.ROOT);
            return switch (fn) {
                case "contains" -> ls.contains(lv);
                case "startswith" -> ls.startsWith(lv);
                default -> ls.endsWith(lv);
            };
        };
    }

    private Operand operand() {
        String t = next();
        if (t == null) {
            throw syntax("Unexpected end of the filter.");
        }
        if (t.startsWith("'")) {
            String s = t.substring(1, t.length() - 1).replace("''", "'");
            return row -> s;
        }
        if (t.equalsIgnoreCase("null")) {
            return row -> null;
        }
        if (t.equalsIgnoreCase("true") || t.equalsIgnoreCase("false")) {
            Boolean b = Boolean.valueOf(t.toLowerCase(Locale.ROOT));
            return row -> b;
        }
        if (GUID.matcher(t).matches()) {
            String g = t.toLowerCase(Locale.ROOT);
            return row -> g;
        }
        if (DATETIME.matcher(t).matches()) {
            Instant i = OffsetDateTime.parse(t).toInstant();
            return row -> i;
        }
        if (DATE.matcher(t).matches()) {
            LocalDate d = LocalDate.parse(t);
            return row -> d;
        }
        if (Character.isDigit(t.charAt(0)) || (t.charAt(0) == '-' && t.length() > 1)) {
            try {
                BigDecimal n = new BigDecimal(t.endsWith("M") || t.endsWith("m") ? t.substring(0, t.length() - 1) : t);
                return row -> n;
            } catch (NumberFormatException e) {
                throw syntax("'" + t + "' is not a valid number.");
            }
        }
        if (!t.matches("[A-Za-z_][A-Za-z0-9_]*")) {
            throw syntax("Unexpected token '" + t + "'.");
        }
        if (!knownProperty.apply(t)) {
            throw new FilterException("Could not find a property named '" + t + "' on type 'Microsoft.Dynamics.CRM."
                    + entityName + "'.", true);
        }
        String name = t;
        return row -> value(row.get(name));
    }

    // ------------------------------------------------------------------ evaluation

    private static Object value(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        if (n.isNumber()) {
            return n.decimalValue();
        }
        if (n.isBoolean()) {
            return n.booleanValue();
        }
        return n.asText();
    }

    /** Compares with type coercion (column text against a date or GUID literal); null equals only null. */
    private static int compare(Object a, Object b) {
        if (a == null || b == null) {
            return a == b ? 0 : 1;
        }
        Integer c = orderOf(a, b);
        return c == null ? 1 : c;
    }

    private static boolean ordered(Object a, Object b, java.util.function.IntPredicate test) {
        if (a == null || b == null) {
            return false;
        }
        Integer c = orderOf(a, b);
        return c != null && test.test(c);
    }

    private static Integer orderOf(Object a, Object b) {
        if (b instanceof Instant bi) {
            Instant ai = toInstant(a);
            return ai == null ? null : ai.compareTo(bi);
        }
        if (b instanceof LocalDate bd) {
            LocalDate ad = toDate(a);
            return ad == null ? null : ad.compareTo(bd);
        }
        if (a instanceof BigDecimal x && b instanceof BigDecimal y) {
            return x.compareTo(y);
        }
        if (a instanceof Boolean x && b instanceof Boolean y) {
            return x.compareTo(y);
        }
        if (a instanceof String x && b instanceof String y) {
            return x.compareToIgnoreCase(y);
        }
        if (a instanceof String x && b instanceof BigDecimal y) {
            try {
                return new BigDecimal(x).compareTo(y);
            } catch (NumberFormatException e) {
                return null;
            }
        }
        return null;
    }

    private static Instant toInstant(Object a) {
        if (a instanceof String s) {
            try {
                return s.length() == 10 ? LocalDate.parse(s).atStartOfDay().toInstant(java.time.ZoneOffset.UTC)
                        : OffsetDateTime.parse(s).toInstant();
            } catch (RuntimeException e) {
                return null;
            }
        }
        return null;
    }

    private static LocalDate toDate(Object a) {
        if (a instanceof String s && s.length() >= 10) {
            try {
                return LocalDate.parse(s.substring(0, 10));
            } catch (RuntimeException e) {
                return null;
            }
        }
        return null;
    }

    // ------------------------------------------------------------------ tokens

    private static List<String> tokenize(String s) {
        List<String> out = new ArrayList<>();
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (Character.isWhitespace(c)) {
                i++;
            } else if (c == '(' || c == ')' || c == ',') {
                out.add(String.valueOf(c));
                i++;
            } else if (c == '\'') {
                int j = i + 1;
                while (true) {
                    if (j >= s.length()) {
                        throw new FilterException("Unterminated string literal in '" + s + "'.", false);
                    }
                    if (s.charAt(j) == '\'') {
                        if (j + 1 < s.length() && s.charAt(j + 1) == '\'') {
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    j++;
                }
                out.add(s.substring(i, j + 1));
                i = j + 1;
            } else {
                int j = i;
                while (j < s.length() && !Character.isWhitespace(s.charAt(j)) && "(),'".indexOf(s.charAt(j)) < 0) {
                    j++;
                }
                out.add(s.substring(i, j));
                i = j;
            }
        }
        return out;
    }

    private String next() {
        return pos < tokens.size() ? tokens.get(pos++) : null;
    }

    private String peekToken() {
        return tokenAt(pos);
    }

    private String tokenAt(int i) {
        return i < tokens.size() ? tokens.get(i) : null;
    }

    private boolean peek(String t) {
        return t.equals(peekToken());
    }

    private boolean peekWord(String w) {
        String t = peekToken();
        return t != null && t.equalsIgnoreCase(w);
    }

    private void expect(String t) {
        String n = next();
        if (!t.equals(n)) {
            throw syntax("Expected '" + t + "' but found '" + n + "'.");
        }
    }

    private FilterException syntax(String message) {
        return new FilterException(message, false);
    }
}
