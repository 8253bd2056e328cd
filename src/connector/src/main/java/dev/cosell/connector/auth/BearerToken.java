package dev.cosell.connector.auth;

/**
 * The Authorization header for one remote system, used by the routes as
 * {@code ${bean:partnerCenterToken.header}} / {@code ${bean:dataverseToken.header}}.
 */
public final class BearerToken {

    private final EntraTokenProvider provider;
    private final String scope;
    private final EntraTokenProvider.Mode mode;

    public BearerToken(EntraTokenProvider provider, String scope, EntraTokenProvider.Mode mode) {
        this.provider = provider;
        this.scope = scope;
        this.mode = mode;
    }

    public String header() {
        return provider.authorization(scope, mode);
    }

    /** The signed-in user and expiry of the token last handed out (null before the first call). */
    public EntraTokenProvider.TokenInfo info() {
        return provider.tokenInfo(scope, mode);
    }

    public String scope() {
        return scope;
    }

    public EntraTokenProvider.Mode mode() {
        return mode;
    }

    @Override
    public String toString() {
        return "BearerToken[" + scope + ", " + mode + "]";
    }
}
