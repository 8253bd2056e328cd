package dev.cosell.connector.cli;

import java.io.PrintStream;
import java.nio.file.Files;
import java.util.Properties;
import java.util.Set;

import dev.cosell.connector.CommandLine;
import dev.cosell.connector.ConnectorConfiguration;
import dev.cosell.connector.Settings;
import dev.cosell.connector.auth.DeviceCodeSignIn;
import dev.cosell.connector.auth.EntraTokenProvider;
import dev.cosell.connector.auth.TrustStores;
import dev.cosell.connector.store.ConnectorStore;
import dev.cosell.connector.store.JdbcTokenCacheStore;
import dev.cosell.connector.store.SecretBox;
import org.apache.camel.impl.DefaultCamelContext;

/**
 * The {@code sign-in} command: signs the Partner Center user (one with the Referrals admin role) in by
 * device code and keeps the token cache in the state store, sealed, where the connector renews from it
 * silently (no {@code auth.partnercenter.refresh-token} needed). Prints who signed in, the tenant and
 * when the refresh token was issued. The same configuration as the connector ({@code --config},
 * {@code --set}, environment variables); it can run while the connector runs, except on the embedded H2
 * file store, which one process opens at a time.
 * <p>
 * Exit codes: 0 signed in, 1 another failure (Entra's error printed), 2 configuration, 5 the user
 * declined (authorization_declined, access_denied), 6 the code expired before the sign-in.
 */
public final class SignInCommand {

    public static final int SIGNED_IN = 0;
    public static final int FAILED = 1;
    public static final int CONFIGURATION = 2;
    public static final int DENIED = 5;
    public static final int EXPIRED = 6;

    private SignInCommand() {
    }

    /** Returns the process exit code. */
    public static int run(CommandLine cli) throws Exception {
        return run(cli, System.out);
    }

    /** The command, printing to {@code out}; returns the exit code. */
    public static int run(CommandLine cli, PrintStream out) throws Exception {
        if (!Files.isRegularFile(cli.config())) {
            out.println("sign-in: configuration file not found: " + cli.config().toAbsolutePath());
            return CONFIGURATION;
        }
        try (DefaultCamelContext properties = new DefaultCamelContext()) {
            // The connector's own resolution: the file, environment variables, then --set.
            properties.getPropertiesComponent().setLocation("file:" + cli.config().toAbsolutePath());
            Properties overrides = new Properties();
            overrides.putAll(cli.overrides());
            properties.getPropertiesComponent().setOverrideProperties(overrides);
            return signIn(new Settings(properties), out);
        } catch (IllegalArgumentException e) {
            out.println("sign-in: " + e.getMessage());
            return CONFIGURATION;
        }
    }

    private static int signIn(Settings settings, PrintStream out) throws Exception {
        if (EntraTokenProvider.Mode.of(settings.require("auth.partnercenter.mode")) != EntraTokenProvider.Mode.DELEGATED) {
            out.println("sign-in: auth.partnercenter.mode is application: Partner Center is called with the app's own"
                    + " token, no user signs in");
            return CONFIGURATION;
        }
        EntraTokenProvider.Settings auth = ConnectorConfiguration.authSettings(settings);
        var ssl = TrustStores.sslContext(settings.get("tls.truststore"), settings.get("tls.truststore-password"));
        String secretKey = settings.require("store.secret-key");
        ConnectorStore store;
        try {
            store = ConnectorStore.open(settings.require("store.url"), settings.get("store.user"),
                    settings.get("store.password"), secretKey, 2);
        } catch (RuntimeException e) {
            out.println("sign-in: cannot open the state store: " + rootMessage(e));
            if (String.valueOf(rootMessage(e)).contains("already in use")) {
                out.println("  The embedded H2 store is open in the running connector: stop it, sign in, start it"
                        + " (or put the store on PostgreSQL, where sign-in works beside the running connector).");
            }
            return FAILED;
        }
        try {
            DeviceCodeSignIn signIn = new DeviceCodeSignIn(auth, ssl, new JdbcTokenCacheStore(store, new SecretBox(secretKey)));
            DeviceCodeSignIn.Result r = signIn.signIn(Set.of(settings.require("partnercenter.user-scope")), code -> {
                out.println("Sign in as the Partner Center user with the Referrals admin role:");
                out.println("  open   " + code.verificationUri());
                out.println("  enter  " + code.userCode());
                out.println(code.message());
                out.println("Waiting for the sign-in (the code expires in " + Math.max(1, code.expiresIn() / 60)
                        + " min; polling every " + code.interval() + " s) ...");
                out.flush();
            });
            switch (r.outcome()) {
                case SIGNED_IN -> {
                    out.println("Signed in: " + r.user().user());
                    out.println("Tenant: " + r.user().tenant());
                    out.println("Refresh token issued: " + r.user().refreshTokenIssuedAt());
                    out.println("Kept in the state store (encrypted); the connector uses it at its next token renewal,"
                            + " no restart needed.");
                    return SIGNED_IN;
                }
                case DENIED -> {
                    out.println("sign-in: the sign-in was declined (" + r.error() + "): nothing changed");
                    return DENIED;
                }
                case EXPIRED -> {
                    out.println("sign-in: the code expired before the sign-in (" + r.error() + "): run sign-in again");
                    return EXPIRED;
                }
                default -> {
                    out.println("sign-in: Entra ID refused: " + r.error() + " " + r.message());
                    if ("invalid_client".equals(r.error())) {
                        out.println("  Device code sign-in needs \"Allow public client flows\" = Yes on the app registration"
                                + " (Authentication page).");
                    }
                    return FAILED;
                }
            }
        } finally {
            store.stop();
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c.getMessage();
    }
}
