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

    public String get(String key, String defaultValue) {
        String v = get(key);
        return v == null ? defaultValue : v;
    }

    public String require(String key) {
        String v = get(key);
        if (v == null) {
            throw new IllegalArgumentException("Property " + key + " must be set (application.properties or "
                    + envName(key) + ")");
        }
        return v;
    }

    public boolean getBoolean(String key, boolean defaultValue) {
        String v = get(key);
        return v == null ? defaultValue : Boolean.parseBoolean(v);
    }

    public int getInt(String key, int defaultValue) {
        String v = get(key);
        try {
            return v == null ? defaultValue : Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("Property " + key + " must be a whole number, not '" + v + "'");
        }
    }

    /** The environment variable that overrides a property: upper case, dots and dashes as underscores. */
    public static String envName(String key) {
        return key.toUpperCase().replace('.', '_').replace('-', '_');
    }
}
