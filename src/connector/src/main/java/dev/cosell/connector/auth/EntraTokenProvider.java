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
 * the connector can act as a user with the Referrals admin role. It starts from a refresh token
 * (property), then msal4j renews silently; the rotating refresh token is kept by the
 * {@link TokenCacheStore} so a restart does not fall back to an old one.</li>
 * </ul>
 * msal4j caches tokens and renews them shortly before they expire; this class adds nothing to that
 * cache, it only chooses the flow. Secrets and tokens are never logged.
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
    private final Settings settings;

    public EntraTokenProvider(Settings settings, SSLContext sslContext, TokenCacheStore cacheStore) {
        this.settings = settings;
        try {
            ConfidentialClientApplication.Builder b = ConfidentialClientApplication
                    .builder(require(settings.clientId(), "auth.client-id"), credential(settings))
                    .authority(require(settings.authority(), "auth.authority"))
                    .instanceDiscovery(settings.instanceDiscovery())
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
            if (cacheStore != null) {
                b.setTokenCacheAccessAspect(new PersistentCache(cacheStore, settings.clientId()));
            }
            this.app = b.build();
        } catch (MalformedURLException e) {
            throw new IllegalArgumentException("auth.authority is not a URL: " + settings.authority(), e);
        }
        LOG.info("Entra ID token provider ready: {}", settings);
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

    private IAuthenticationResult delegated(String scope) {
        // Delegated scopes name a permission of the resource; ".default" asks for all consented ones.
        Set<String> scopes = Set.of(scope);
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
            throw new TokenException(scope, Mode.DELEGATED, new MsalException(
                    "Delegated sign-in needs auth.partnercenter.refresh-token (see README: Authentication)",
                    "no_refresh_token"));
        }
        return join(() -> app.acquireToken(RefreshTokenParameters.builder(scopes, rt).build()).get());
    }

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

    /** Loads msal4j's serialized cache once, saves it whenever msal4j changed it (new refresh token). */
    private static final class PersistentCache implements ITokenCacheAccessAspect {
        private final TokenCacheStore store;
        private final String key;
        private volatile boolean loaded;

        PersistentCache(TokenCacheStore store, String key) {
            this.store = store;
            this.key = key;
        }

        @Override
        public void beforeCacheAccess(ITokenCacheAccessContext ctx) {
            if (!loaded) {
                synchronized (this) {
                    if (!loaded) {
                        String data = store.load(key);
                        if (data != null) {
                            ctx.tokenCache().deserialize(data);
                        }
                        loaded = true;
                    }
                }
            }
        }

        @Override
        public void afterCacheAccess(ITokenCacheAccessContext ctx) {
            if (ctx.hasCacheChanged()) {
                store.save(key, ctx.tokenCache().serialize());
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

        private static String firstLine(String m) {
            if (m == null) {
                return "";
            }
            int cut = m.indexOf(" Trace ID");
            return cut > 0 ? m.substring(0, cut) : m;
        }
    }
}
