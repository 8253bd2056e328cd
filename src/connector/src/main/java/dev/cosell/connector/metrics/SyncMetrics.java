package dev.cosell.connector.metrics;

import io.micrometer.core.instrument.MeterRegistry;
import org.apache.camel.CamelContext;

/**
 * Connector counters in Camel's Micrometer registry (scraped at /observe/metrics, next to Camel's
 * per-route timers): sync decisions per flow ({@code cosell_sync_decisions_total{flow,decision}}) and
 * throttling answers ({@code cosell_api_throttled_total{system,status}}), circuit breakers
 * ({@code cosell_api_short_circuited_total{system}}, {@code cosell_circuit_transitions_total{system,state}}). API calls per remote system are
 * counted in routes/remote-calls.camel.yaml with the micrometer component.
 */
public final class SyncMetrics implements org.apache.camel.CamelContextAware {

    private CamelContext context;
    private volatile MeterRegistry registry;

    /** As a bean: Camel sets the context. */
    public SyncMetrics() {
    }

    public SyncMetrics(CamelContext context) {
        this.context = context;
    }

    @Override
    public void setCamelContext(CamelContext context) {
        this.context = context;
    }

    @Override
    public CamelContext getCamelContext() {
        return context;
    }

    public void decision(String flow, String decision) {
        MeterRegistry r = registry();
        if (r != null) {
            r.counter("cosell.sync.decisions", "flow", flow == null ? "unknown" : flow, "decision", decision).increment();
        }
    }

    /** A remote system answered 429 or 503 ({@code cosell_api_throttled_total{system,status}}). */
    public void throttled(String system, int status) {
        MeterRegistry r = registry();
        if (r != null) {
            r.counter("cosell.api.throttled", "system", system, "status", String.valueOf(status)).increment();
        }
    }

    /** A call not sent because the system's circuit breaker is open or half-open. */
    public void shortCircuited(String system) {
        MeterRegistry r = registry();
        if (r != null) {
            r.counter("cosell.api.short.circuited", "system", system).increment();
        }
    }

    /** A circuit breaker changed state ({@code cosell_circuit_transitions_total{system,state}}). */
    public void circuitTransition(String system, String state) {
        MeterRegistry r = registry();
        if (r != null) {
            r.counter("cosell.circuit.transitions", "system", system, "state", state).increment();
        }
    }

    /** A remote system's call limit was lowered after a 429 ({@code cosell_api_concurrency_decreases_total{system}}). */
    public void concurrencyDecreased(String system) {
        MeterRegistry r = registry();
        if (r != null) {
            r.counter("cosell.api.concurrency.decreases", "system", system).increment();
        }
    }

    /** A gauge read from {@code value} at each scrape (registered once; later calls for the same name and tag are ignored). */
    public void gauge(String name, String tag, String tagValue, java.util.function.Supplier<Number> value) {
        MeterRegistry r = registry();
        if (r != null) {
            io.micrometer.core.instrument.Gauge.builder(name, value).tag(tag, tagValue).register(r);
        }
    }

    private MeterRegistry registry() {
        if (registry == null) {
            registry = context.getRegistry().findSingleByType(MeterRegistry.class);
        }
        return registry;
    }
}
