package dev.cosell.connector.auth;

import java.io.InputStream;
import java.net.MalformedURLException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

import javax.net.ssl.SSLContext;

import com.microsoft.aad.msal4j.ClientCredentialFactory;
import com.microsoft.aad.msal4j.ClientCredentialParameters;
import com.microsoft.aad.msal4j.ConfidentialClientApplication;
import com.microsoft.aad.msal4j.IAccount;
import com.microsoft.aad.msal4j.IAuthenticationResult;
import com.microsoft.aad.msal4j.IClientCredential;
import com.microsoft.aad.msal4j.ITokenCacheAccessAspect;
import com.microsoft.aad.msal4j.ITokenCacheAccessContext;
import com.microsoft.aad.msal4j.MsalException;
import com.microsoft.aad.msal4j.MsalServiceException;
import com.microsoft.aad.msal4j.PublicClientApplication;
import com.microsoft.aad.msal4j.RefreshTokenParameters;
import com.microsoft.aad.msal4j.SilentParameters;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Access tokens from Entra ID for every outbound call, through msal4j.
 * <ul>
 * <li><b>Application</b> (client credentials, secret or certificate): Dataverse, and Partner Center
 * endpoints that accept App-only tokens.</li>
 * <li><b>Delegated</b> (App+User): Partner Center's referral API documents App+User for listing, so
 * the connector can act as a user with the Referrals admin role. The user signs in once with
 * {@code cosell-connector sign-in} (device code, {@link DeviceCodeSignIn}: a public client, whose
 * msal4j cache is kept under {@link #signInCacheKey}); or, as before, a refresh token is configured
 * (property), redeemed by the confidential client. msal4j then renews silently; the rotating refresh
 * token is kept by the {@link TokenCacheStore} so a restart does not fall back to an old one. The
 * signed-in account comes first, the configured refresh token second.</li>
 * </ul>
 * msal4j caches tokens and renews them shortly before they expire; this class adds nothing to that
 * cache, it only chooses the flow. Each msal4j call reads the cache from the store when it changed
 * there (a sign-in by the command, another node's renewal). When Entra refuses the user's refresh
 * token (revoked, password changed: {@code invalid_grant}), {@link TokenException#signInNeeded()} says
 * so; the refusal is remembered until the stored cache changes (a new sign-in) or for
 * {@value #SIGN_IN_RECHECK_MS} ms, so waiting flows do not ask Entra again on every retry. Secrets and
 * tokens are never logged.
 */
public final class EntraTokenProvider {

    private static final Logger LOG = LoggerFactory.getLogger(EntraTokenProvider.class);

    /** How the connector signs in. */
    public enum Mode {
        APPLICATION, DELEGATED;

        public static Mode of(String value) {
            return "delegated".equalsIgnoreCase(value) || "user".equalsIgnoreCase(value) ? DELEGATED : APPLICATION;
        }
    }

    /** Everything msal4j needs; built from the {@code auth.*} properties. */
    public record Settings(String authority, String clientId, String clientSecret, String certificatePath,
            String certificatePassword, boolean instanceDiscovery, String instanceDiscoveryMetadata,
            String refreshToken) {

        @Override
        public String toString() {
            // never print the secret, the certificate password or the refresh token
            return "Settings[authority=" + authority + ", clientId=" + clientId + ", credential="
                    + (certificatePath != null && !certificatePath.isBlank() ? "certificate " + certificatePath
                            : clientSecret != null && !clientSecret.isBlank() ? "secret" : "none")
                    + ", instanceDiscovery=" + instanceDiscovery + ", refreshToken="
                    + (refreshToken != null && !refreshToken.isBlank() ? "set" : "not set") + "]";
        }
    }

    private final ConfidentialClientApplication app;
    /** The user signed in by {@code cosell-connector sign-in} (device code: a public client). */
    private final PublicClientApplication userApp;
    private final Settings settings;
    private final TokenCacheStore cacheStore;

    public EntraTokenProvider(Settings settings, SSLContext sslContext, TokenCacheStore cacheStore) {
        this.settings = settings;
        this.cacheStore = cacheStore;
        try {
            ConfidentialClientApplication.Builder b = configure(ConfidentialClientApplication
                    .builder(require(settings.clientId(), "auth.client-id"), credential(settings)), settings, sslContext);
            if (cacheStore != null) {
                b.setTokenCacheAccessAspect(new PersistentCache(cacheStore, settings.clientId()));
            }
            this.app = b.build();
        } catch (MalformedURLException e) {
            throw new IllegalArgumentException("auth.authority is not a URL: " + settings.authority(), e);
        }
        this.userApp = userApplication(settings, sslContext, cacheStore);
        LOG.info("Entra ID token provider ready: {}", settings);
    }

    /** Where the signed-in user's msal4j cache is kept (beside the app's, under {@code clientId}). */
    public static String signInCacheKey(String clientId) {
        return clientId + "#sign-in";
    }

    /** Where who signed in, and when, is kept ({@link SignedInUser}). */
    public static String signInRecordKey(String clientId) {
        return clientId + "#sign-in-record";
    }

    /**
     * The public client of the same app registration, with its cache in the store: the device code
     * sign-in writes the account there, the running connector renews from it silently. (msal4j offers
     * the device code flow on public clients only, and Entra binds a refresh token to the kind of client
     * it was issued to.)
     */
    static PublicClientApplication userApplication(Settings settings, SSLContext sslContext, TokenCacheStore cacheStore) {
        try {
            PublicClientApplication.Builder b = configure(PublicClientApplication
                    .builder(require(settings.clientId(), "auth.client-id")), settings, sslContext);
            if (cacheStore != null) {
                b.setTokenCacheAccessAspect(new PersistentCache(cacheStore, signInCacheKey(settings.clientId())));
            }
            return b.build();
        } catch (MalformedURLException e) {
            throw new IllegalArgumentException("auth.authority is not a URL: " + settings.authority(), e);
        }
    }

    private static <B extends com.microsoft.aad.msal4j.AbstractClientApplicationBase.Builder<B>> B configure(B b,
            Settings settings, SSLContext sslContext) throws MalformedURLException {
        b.authority(require(settings.authority(), "auth.authority")).instanceDiscovery(settings.instanceDiscovery())
                .logPii(false);
        if (settings.instanceDiscoveryMetadata() != null && !settings.instanceDiscoveryMetadata().isBlank()) {
            // msal4j's offline instance metadata, for authorities whose discovery endpoint it cannot
            // reach (sovereign clouds, the sandbox). It also lets msal4j's token cache match an
            // authority on a non-default port, which it otherwise never does.
            b.aadInstanceDiscoveryResponse(settings.instanceDiscoveryMetadata());
        }
        if (sslContext != null) {
            b.sslSocketFactory(sslContext.getSocketFactory());
        }
        return b;
    }

    /** Who signed in with {@code cosell-connector sign-in}, and when; empty without a sign-in (or a store). */
    public java.util.Optional<SignedInUser> signedInUser() {
        return cacheStore == null ? java.util.Optional.empty()
                : java.util.Optional.ofNullable(SignedInUser.parse(cacheStore.load(signInRecordKey(settings.clientId()))));
    }

    /** {@code "Bearer <token>"} for the given scope (e.g. https://api.partner.microsoft.com/.default). */
    public String authorization(String scope, Mode mode) {
        return "Bearer " + accessToken(scope, mode);
    }

    /** Tokens handed out, reused while msal4j would return them from its cache too. */
    private final java.util.Map<String, IAuthenticationResult> current = new java.util.concurrent.ConcurrentHashMap<>();

    /** msal4j renews a cached token this long before it expires; the same rule applies here. */
    private static final long RENEW_BEFORE_EXPIRY_MS = 5 * 60 * 1000;

    /** Who a token was issued for (null for an application token) and until when. */
    public record TokenInfo(String user, java.time.Instant expiresOn) {
    }

    /** The token last handed out for this scope and mode, or null before the first one. */
    public TokenInfo tokenInfo(String scope, Mode mode) {
        IAuthenticationResult known = current.get(mode + " " + scope);
        if (known == null) {
            return null;
        }
        String user = known.account() == null ? null : known.account().username();
        return new TokenInfo(user, known.expiresOnDate().toInstant());
    }

    public String accessToken(String scope, Mode mode) {
        try {
            // Every call of every flow asks for a token: skip msal4j's cache round (which serialises
            // the whole cache through the store) while the one we have is far from expiry.
            String key = mode + " " + scope;
            IAuthenticationResult known = current.get(key);
            if (known != null && known.expiresOnDate().getTime() - System.currentTimeMillis() > RENEW_BEFORE_EXPIRY_MS) {
                return known.accessToken();
            }
            IAuthenticationResult result = mode == Mode.DELEGATED ? delegated(scope) : application(scope);
            current.put(key, result);
            return result.accessToken();
        } catch (MsalException e) {
            throw new TokenException(scope, mode, e);
        }
    }

    private IAuthenticationResult application(String scope) {
        return join(() -> app.acquireToken(
                // msal4j consults its token cache for client credentials only when told so explicitly
                ClientCredentialParameters.builder(Set.of(scope)).skipCache(false).build()).get());
    }

    /** A refused sign-in is asked again at the latest after this long, even if nobody signed in since. */
    static final long SIGN_IN_RECHECK_MS = 5 * 60 * 1000;

    /** Entra refused the user's tokens: the error, and the stored sign-in cache it was refused with. */
    private record SignInRefused(MsalException cause, String storedCache, long at) {
    }

    private volatile SignInRefused refused;

    private IAuthenticationResult delegated(String scope) {
        SignInRefused r = refused;
        if (r != null) {
            if (System.currentTimeMillis() - r.at() < SIGN_IN_RECHECK_MS
                    && java.util.Objects.equals(cacheStore.load(signInCacheKey(settings.clientId())), r.storedCache())) {
                throw r.cause(); // still refused: nobody signed in since
            }
            refused = null;
        }
        try {
            return delegatedFromEntra(scope);
        } catch (MsalException e) {
            if (cacheStore != null && TokenException.signInNeeded(e.errorCode())) {
                if (refused == null) {
                    LOG.warn("Partner Center user sign-in refused ({}): sign in again with cosell-connector sign-in;"
                            + " flows that need Partner Center wait", e.errorCode());
                }
                refused = new SignInRefused(e, cacheStore.load(signInCacheKey(settings.clientId())),
                        System.currentTimeMillis());
            }
            throw e;
        }
    }

    private IAuthenticationResult delegatedFromEntra(String scope) {
        // Delegated scopes name a permission of the resource; ".default" asks for all consented ones.
        Set<String> scopes = Set.of(scope);
        MsalException signInFailure = null;
        IAccount user = userApp.getAccounts().join().stream().findFirst().orElse(null);
        if (user != null) {
            try {
                return join(() -> userApp.acquireTokenSilently(SilentParameters.builder(scopes, user).build()).get());
            } catch (MsalException e) {
                signInFailure = e;
                LOG.warn("Silent token renewal for the signed-in user failed ({})", e.errorCode());
            }
        }
        IAccount account = app.getAccounts().join().stream().findFirst().orElse(null);
        if (account != null) {
            try {
                return join(() -> app.acquireTokenSilently(SilentParameters.builder(scopes, account).build()).get());
            } catch (MsalException e) {
                LOG.warn("Silent token renewal failed ({}); falling back to the configured refresh token",
                        e.errorCode());
            }
        }
        String rt = settings.refreshToken();
        if (rt == null || rt.isBlank()) {
            if (signInFailure != null) {
                throw signInFailure;
            }
            throw new MsalException("Delegated sign-in needed: run cosell-connector sign-in, or set"
                    + " auth.partnercenter.refresh-token (see docs/configuration.md: Signing in)", NO_SIGN_IN);
        }
        return join(() -> app.acquireToken(RefreshTokenParameters.builder(scopes, rt).build()).get());
    }

    /** The error code when no user was signed in and no refresh token is configured. */
    static final String NO_SIGN_IN = "no_refresh_token";

    private interface Call<T> {
        T run() throws InterruptedException, ExecutionException, MalformedURLException;
    }

    private static <T> T join(Call<T> call) {
        try {
            return call.run();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MsalException(e);
        } catch (MalformedURLException e) {
            throw new MsalException(e);
        } catch (ExecutionException | CompletionException e) {
            if (e.getCause() instanceof MsalException m) {
                throw m;
            }
            throw new MsalException(e.getCause() != null ? e.getCause() : e);
        }
    }

    private static IClientCredential credential(Settings s) {
        if (s.certificatePath() != null && !s.certificatePath().isBlank()) {
            try (InputStream in = Files.newInputStream(Path.of(s.certificatePath()))) {
                return ClientCredentialFactory.createFromCertificate(in,
                        s.certificatePassword() == null ? "" : s.certificatePassword());
            } catch (Exception e) {
                throw new IllegalArgumentException("auth.certificate-path: cannot read a PKCS12 certificate from "
                        + s.certificatePath() + " (" + e.getClass().getSimpleName() + ")", e);
            }
        }
        return ClientCredentialFactory.createFromSecret(require(s.clientSecret(),
                "auth.client-secret (or auth.certificate-path)"));
    }

    private static String require(String value, String property) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException(property + " is not set");
        }
        return value;
    }

    /**
     * Reads msal4j's serialized cache from the store before each use when it changed there (a sign-in by
     * the command in another process, a renewal by another node), saves it whenever msal4j changed it
     * (new refresh token). msal4j is asked only when a token is near expiry, so this is a read per renewal.
     */
    static final class PersistentCache implements ITokenCacheAccessAspect {
        private final TokenCacheStore store;
        private final String key;
        private String seen;

        PersistentCache(TokenCacheStore store, String key) {
            this.store = store;
            this.key = key;
        }

        @Override
        public synchronized void beforeCacheAccess(ITokenCacheAccessContext ctx) {
            String data = store.load(key);
            if (data != null && !data.equals(seen)) {
                ctx.tokenCache().deserialize(data);
                seen = data;
            }
        }

        @Override
        public synchronized void afterCacheAccess(ITokenCacheAccessContext ctx) {
            if (ctx.hasCacheChanged()) {
                String data = ctx.tokenCache().serialize();
                store.save(key, data);
                seen = data;
            }
        }
    }

    /** A token could not be obtained; says which scope and flow, and Entra's error code, never a secret. */
    public static final class TokenException extends RuntimeException {
        private final Integer status;
        private final String errorCode;

        TokenException(String scope, Mode mode, MsalException cause) {
            super("Entra ID refused a " + mode.name().toLowerCase() + " token for " + scope + ": "
                    + cause.errorCode() + " " + firstLine(cause.getMessage()), cause);
            this.status = cause instanceof MsalServiceException s ? s.statusCode() : null;
            this.errorCode = cause.errorCode();
        }

        public Integer status() {
            return status;
        }

        public String errorCode() {
            return errorCode;
        }

        /**
         * Only a new sign-in helps: Entra refused the user's refresh token (revoked, password changed,
         * expired: {@code invalid_grant}), asks for an interactive sign-in ({@code interaction_required}:
         * MFA or a policy), or there is no user token at all.
         */
        public boolean signInNeeded() {
            return signInNeeded(errorCode);
        }

        static boolean signInNeeded(String errorCode) {
            return "invalid_grant".equals(errorCode) || "interaction_required".equals(errorCode)
                    || NO_SIGN_IN.equals(errorCode);
        }

        /** The token failure behind an exception (wherever Camel wrapped it) that only a sign-in fixes. */
        public static boolean signInNeeded(Throwable t) {
            for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
                if (c instanceof TokenException e) {
                    return e.signInNeeded();
                }
            }
            return false;
        }

        private static String firstLine(String m) {
            if (m == null) {
                return "";
            }
            int cut = m.indexOf(" Trace ID");
            return cut > 0 ? m.substring(0, cut) : m;
        }
    }
}
