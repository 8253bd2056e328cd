package dev.cosell.connector.sandbox;

import java.util.Map;

import dev.cosell.connector.sandbox.dataverse.ServiceProtection;

/**
 * Real-world behaviour of the emulators from sandbox properties (all off by default, so the demo and the
 * tests answer at loopback speed with no limits unless asked):
 * <ul>
 * <li>{@code sandbox.latency.<entra|partnercenter|dataverse>-ms} and {@code ...-jitter-ms}: each answer takes
 * mean ± jitter ms ({@link Latency});</li>
 * <li>{@code sandbox.dataverse.service-protection.*}: Dataverse's documented limits ({@link ServiceProtection}):
 * {@code enabled}, {@code requests}, {@code execution-time-ms}, {@code concurrent}, {@code window-seconds},
 * {@code dop-hint} (x-ms-dop-hint on answers, 0 = none), {@code batch-operation-ms} (service time per
 * operation inside a $batch);</li>
 * <li>{@code sandbox.partnercenter.rate-limit-requests} per {@code sandbox.partnercenter.rate-limit-window-seconds}
 * (0 = off): Partner Center's throttling, 429 with Retry-After past that rate.</li>
 * </ul>
 * The same settings can be changed at run time over each emulator's admin API ({@code /_admin/latency},
 * {@code /_admin/faults}, Dataverse's {@code /_admin/service-protection}).
 */
public final class RealWorld {

    private RealWorld() {
    }

    /** Applies the {@code sandbox.*} properties present in {@code props}; absent ones leave the emulator as it is. */
    public static void apply(Sandbox sandbox, Map<String, String> props) {
        latency(sandbox.entra(), props, "entra");
        latency(sandbox.partnerCenter(), props, "partnercenter");
        latency(sandbox.dataverse(), props, "dataverse");
        String sp = "sandbox.dataverse.service-protection.";
        if (Boolean.parseBoolean(props.getOrDefault(sp + "enabled", "false"))) {
            ServiceProtection.Limits d = ServiceProtection.Limits.documented();
            sandbox.dataverse().serviceProtection().limits(new ServiceProtection.Limits(true,
                    integer(props, sp + "requests", d.requests()), longer(props, sp + "execution-time-ms", d.executionMs()),
                    integer(props, sp + "concurrent", d.concurrent()), integer(props, sp + "window-seconds", d.windowSeconds()),
                    integer(props, sp + "dop-hint", d.dopHint()), longer(props, sp + "batch-operation-ms", d.batchOperationMs())));
        }
        int pcRequests = integer(props, "sandbox.partnercenter.rate-limit-requests", 0);
        if (pcRequests > 0) {
            // The referrals API only (the webhook registration and certificate are not throttled here).
            sandbox.partnerCenter().faults().add(Faults.Rule.rateLimit(pcRequests,
                    integer(props, "sandbox.partnercenter.rate-limit-window-seconds", 60)).on(null, "^/v1\\.0/"));
        }
    }

    private static void latency(Emulator emulator, Map<String, String> props, String name) {
        String mean = props.get("sandbox.latency." + name + "-ms");
        if (mean != null && !mean.isBlank()) {
            emulator.latency().set(Long.parseLong(mean.trim()), longer(props, "sandbox.latency." + name + "-jitter-ms", 0));
        }
    }

    private static int integer(Map<String, String> props, String key, int otherwise) {
        String v = props.get(key);
        return v == null || v.isBlank() ? otherwise : Integer.parseInt(v.trim());
    }

    private static long longer(Map<String, String> props, String key, long otherwise) {
        String v = props.get(key);
        return v == null || v.isBlank() ? otherwise : Long.parseLong(v.trim());
    }
}
