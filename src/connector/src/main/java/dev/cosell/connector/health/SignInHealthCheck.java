package dev.cosell.connector.health;

import java.util.Map;

import dev.cosell.connector.auth.BearerToken;
import dev.cosell.connector.auth.EntraTokenProvider;
import org.apache.camel.health.HealthCheckResultBuilder;
import org.apache.camel.impl.health.AbstractHealthCheck;

/**
 * The Partner Center user's sign-in (delegated mode): UP while a delegated token can be had; DOWN with
 * "sign in again: cosell-connector sign-in" when only a new sign-in helps (the refresh token was
 * revoked, the password changed, MFA is asked again: {@link EntraTokenProvider.TokenException#signInNeeded()}).
 * Meanwhile the flows that call Partner Center wait (routes/error-handling.camel.yaml); nothing is lost.
 * Details: who signed in, the tenant, when the refresh token was issued. Readiness only.
 */
public final class SignInHealthCheck extends AbstractHealthCheck {

    public static final String SIGN_IN_AGAIN = "sign in again: cosell-connector sign-in";

    private final EntraTokenProvider tokens;
    private final BearerToken partnerCenter;

    public SignInHealthCheck(EntraTokenProvider tokens, BearerToken partnerCenter) {
        super("cosell", "sign-in");
        this.tokens = tokens;
        this.partnerCenter = partnerCenter;
    }

    @Override
    public boolean isLiveness() {
        return false;
    }

    @Override
    protected void doCall(HealthCheckResultBuilder builder, Map<String, Object> options) {
        try {
            tokens.signedInUser().ifPresentOrElse(u -> builder.detail("user", String.valueOf(u.user()))
                    .detail("tenant", String.valueOf(u.tenant()))
                    .detail("refreshTokenIssuedAt", u.refreshTokenIssuedAt().toString()),
                    () -> builder.detail("user", "none signed in (auth.partnercenter.refresh-token, if set)"));
        } catch (RuntimeException e) {
            builder.detail("user", "unknown: " + e.getMessage());
        }
        try {
            partnerCenter.header();
            builder.up();
        } catch (EntraTokenProvider.TokenException e) {
            builder.detail("error", String.valueOf(e.errorCode()));
            builder.down().message(e.signInNeeded() ? SIGN_IN_AGAIN : "no delegated token: " + e.getMessage());
        } catch (RuntimeException e) {
            builder.down().message("no delegated token: " + e.getMessage());
        }
    }
}
