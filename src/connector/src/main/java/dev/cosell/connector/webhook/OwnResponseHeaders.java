package dev.cosell.connector.webhook;

import java.util.Locale;
import java.util.Set;

import org.apache.camel.Exchange;
import org.apache.camel.http.base.HttpHeaderFilterStrategy;

/**
 * The webhook endpoints' answers carry only the headers we set: Camel would otherwise copy every
 * message header to the HTTP answer, request headers, query parameters and form fields included, so
 * whoever posts could make us answer with a header of their choice ({@code ?Set-Cookie=x}). Request
 * headers still reach the route as usual.
 */
public final class OwnResponseHeaders extends HttpHeaderFilterStrategy {

    private static final Set<String> ALLOWED = Set.of("content-type", "retry-after");

    @Override
    public boolean applyFilterToCamelHeaders(String headerName, Object headerValue, Exchange exchange) {
        return !ALLOWED.contains(headerName.toLowerCase(Locale.ROOT)) || super.applyFilterToCamelHeaders(headerName,
                headerValue, exchange);
    }
}
