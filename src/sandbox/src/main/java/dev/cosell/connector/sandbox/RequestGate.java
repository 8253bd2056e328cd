package dev.cosell.connector.sandbox;

import java.util.function.Consumer;

import io.vertx.ext.web.RoutingContext;

/**
 * A service's own admission control in front of its API routes (Dataverse's service protection, for
 * one), asked once per request after injected faults and before the latency and the handler. It may
 * add headers to the answer, ask for extra service time (a $batch's operations), or reject the request
 * with the service's own answer (written after the latency, as the real answer would come back).
 */
public interface RequestGate {

    /** What to do with one request. */
    record Admission(long extraMs, Consumer<RoutingContext> rejection) {
        public static final Admission ADMIT = new Admission(0, null);

        public static Admission admit(long extraMs) {
            return extraMs <= 0 ? ADMIT : new Admission(extraMs, null);
        }

        public static Admission reject(Consumer<RoutingContext> writer) {
            return new Admission(0, writer);
        }
    }

    RequestGate OPEN = ctx -> Admission.ADMIT;

    Admission admit(RoutingContext ctx);
}
