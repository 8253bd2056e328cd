package dev.cosell.connector.health;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

import org.apache.camel.health.HealthCheckResultBuilder;
import org.apache.camel.impl.health.AbstractHealthCheck;

/**
 * A remote system is UP when a token can be had for it and a cheap authenticated GET answers with one
 * of the expected statuses (Dataverse: WhoAmI 200; Partner Center: webhook registration 200 or 404).
 * The detail {@code circuit-breaker} gives the state of the flows' breaker for the system. Readiness only: an outage of Partner Center or Dataverse is no reason to restart the connector.
 */
public final class RemoteSystemHealthCheck extends AbstractHealthCheck {

    private final Supplier<String> authorization;
    private final String url;
    private final Set<Integer> healthy;
    private final HttpClient http;
    private final Supplier<String> circuitBreaker;

    public RemoteSystemHealthCheck(String id, Supplier<String> authorization, String url, Set<Integer> healthy,
            javax.net.ssl.SSLContext ssl, Supplier<String> circuitBreaker) {
        super("cosell", id);
        this.circuitBreaker = circuitBreaker;
        this.authorization = authorization;
        this.url = url;
        this.healthy = healthy;
        this.http = HttpClient.newBuilder().sslContext(ssl).connectTimeout(Duration.ofSeconds(5)).build();
    }

    @Override
    public boolean isLiveness() {
        return false;
    }

    @Override
    protected void doCall(HealthCheckResultBuilder builder, Map<String, Object> options) {
        builder.detail("url", url);
        // The flows' view: OPEN means calls are paused after an outage (see RemoteCircuitBreakers).
        builder.detail("circuit-breaker", circuitBreaker.get());
        String header;
        try {
            header = authorization.get();
        } catch (RuntimeException e) {
            builder.down().message("no token: " + e.getMessage());
            return;
        }
        builder.detail("token", "valid");
        try {
            HttpResponse<Void> r = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
                    .header("Authorization", header).header("Accept", "application/json").GET().build(),
                    HttpResponse.BodyHandlers.discarding());
            builder.detail("status", r.statusCode());
            if (healthy.contains(r.statusCode())) {
                builder.up();
            } else {
                builder.down().message(url + " answered " + r.statusCode());
            }
        } catch (Exception e) {
            builder.down().message(url + " unreachable: " + e.getClass().getSimpleName() + " " + e.getMessage());
        }
    }
}
