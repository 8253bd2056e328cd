package dev.cosell.connector.remote;

import org.apache.camel.http.base.HttpOperationFailedException;

/** Reads failures for the retry policy (HTTP answers, token refusals), wherever Camel wrapped them. */
public final class HttpAnswers {

    /** The HTTP failure behind an exception, or null. */
    public static HttpOperationFailedException httpFailure(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof HttpOperationFailedException h) {
                return h;
            }
        }
        return null;
    }

    /** For the retry policy: throttled (429) or unavailable (5xx). */
    public boolean unavailable(Exception e) {
        HttpOperationFailedException h = httpFailure(e);
        return h != null && (h.getStatusCode() == 429 || h.getStatusCode() >= 500);
    }

    /**
     * For the retry policy: Entra refused the Partner Center user's token and only a new sign-in helps
     * (revoked, password changed: invalid_grant). The change waits; it is no dead letter.
     */
    public boolean signInNeeded(Exception e) {
        return dev.cosell.connector.auth.EntraTokenProvider.TokenException.signInNeeded(e);
    }

}
