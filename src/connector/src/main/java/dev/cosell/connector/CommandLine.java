package dev.cosell.connector;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The arguments every entry point takes (the connector, the sandbox demo): {@code --config FILE},
 * {@code --set key=value} (repeatable), and the entry point's own flags and options.
 *
 * @param options the entry point's own options: flags map to "", options with a value to the value
 */
public record CommandLine(Path config, Map<String, String> overrides, Map<String, String> options) {

    /** Thrown for an argument the entry point does not know, or one missing its value. */
    public static final class UsageException extends Exception {
        public UsageException(String message) {
            super(message);
        }
    }

    /**
     * @param flags options without a value (e.g. {@code --stay})
     * @param valued options followed by a value (e.g. {@code --replay-dead-letter})
     */
    public static CommandLine parse(String[] args, Set<String> flags, Set<String> valued) throws UsageException {
        Path config = Path.of("application.properties");
        Map<String, String> overrides = new LinkedHashMap<>();
        Map<String, String> options = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--config") || a.equals("--set") || valued.contains(a)) {
                if (i + 1 >= args.length) {
                    throw new UsageException(a + " needs a value");
                }
                String v = args[++i];
                if (a.equals("--config")) {
                    config = Path.of(v);
                } else if (a.equals("--set")) {
                    int eq = v.indexOf('=');
                    if (eq < 1) {
                        throw new UsageException("--set expects key=value, got " + v);
                    }
                    overrides.put(v.substring(0, eq), v.substring(eq + 1));
                } else {
                    options.put(a, v);
                }
            } else if (flags.contains(a)) {
                options.put(a, "");
            } else {
                throw new UsageException("unknown argument " + a);
            }
        }
        return new CommandLine(config, overrides, options);
    }

    public boolean has(String option) {
        return options.containsKey(option);
    }
}
