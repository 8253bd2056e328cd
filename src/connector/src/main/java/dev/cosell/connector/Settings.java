package dev.cosell.connector;

import org.apache.camel.CamelContext;
import org.apache.camel.spi.PropertiesComponent;

/**
 * Typed access to the connector's properties ({@code application.properties}, environment variables,
 * command-line overrides), resolved through Camel's properties component so that Java beans and
 * YAML routes see the same values.
 */
public final class Settings {

    private final PropertiesComponent properties;

    public Settings(CamelContext context) {
        this.properties = context.getPropertiesComponent();
    }

    /** The value, or null when the key is absent or blank. */
    public String get(String key) {
        return properties.resolveProperty(key).map(String::trim).filter(v -> !v.isEmpty()).orElse(null);
    }

    /** The value; a missing or blank one stops start-up naming the property (defaults are in application.properties). */
    public String require(String key) {
        String v = get(key);
        if (v == null) {
            throw new IllegalArgumentException("Property " + key + " must be set (application.properties or "
                    + envName(key) + ")");
        }
        return v;
    }

    public boolean requireBoolean(String key) {
        String v = require(key);
        if (!v.equalsIgnoreCase("true") && !v.equalsIgnoreCase("false")) {
            throw new IllegalArgumentException("Property " + key + " must be true or false, not '" + v + "'");
        }
        return Boolean.parseBoolean(v);
    }

    public int requireInt(String key) {
        String v = require(key);
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("Property " + key + " must be a whole number, not '" + v + "'");
        }
    }

    /** A comma-separated property value as a list (blank items dropped). */
    public static java.util.List<String> commaList(String value) {
        return value == null ? java.util.List.of()
                : java.util.Arrays.stream(value.split(",")).map(String::trim).filter(v -> !v.isEmpty()).toList();
    }

    /** The environment variable that overrides a property: upper case, dots and dashes as underscores. */
    public static String envName(String key) {
        return key.toUpperCase().replace('.', '_').replace('-', '_');
    }
}
