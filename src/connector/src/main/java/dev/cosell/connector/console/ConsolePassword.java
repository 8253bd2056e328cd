package dev.cosell.connector.console;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;

import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;

/**
 * The console's password hash ({@code console.password-hash}): PBKDF2 with HMAC-SHA256 from the JDK,
 * {@code pbkdf2-sha256$<iterations>$<salt, base64>$<hash, base64>}. Only the hash is configured; the
 * password is never stored.
 *
 * <p>To make one: {@code java -cp src/connector/target/cosell-connector.jar dev.cosell.connector.console.ConsolePassword}
 * (asks for the password twice, or reads one line from standard input) and put the printed line in
 * {@code console.password-hash} (or the environment variable {@code CONSOLE_PASSWORD_HASH}).
 */
public final class ConsolePassword {

    static final String SCHEME = "pbkdf2-sha256";
    /** OWASP's 2023 figure for PBKDF2-HMAC-SHA256. */
    static final int ITERATIONS = 600_000;
    private static final int SALT_BYTES = 16;
    private static final int HASH_BITS = 256;

    private ConsolePassword() {
    }

    /** A new hash of the password, with a fresh random salt. */
    public static String hash(String password) {
        return hash(password, ITERATIONS);
    }

    static String hash(String password, int iterations) {
        byte[] salt = new byte[SALT_BYTES];
        new SecureRandom().nextBytes(salt);
        Base64.Encoder b64 = Base64.getEncoder().withoutPadding();
        return SCHEME + "$" + iterations + "$" + b64.encodeToString(salt) + "$" + b64.encodeToString(derive(password, salt, iterations));
    }

    /** Whether the text is a hash this class can check (for the configuration check). */
    public static boolean isHash(String text) {
        try {
            parse(text);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** True when the password matches the hash (compared in constant time). */
    public static boolean matches(String password, String hash) {
        if (password == null || hash == null) {
            return false;
        }
        Parsed p = parse(hash);
        return MessageDigest.isEqual(p.hash(), derive(password, p.salt(), p.iterations()));
    }

    private record Parsed(int iterations, byte[] salt, byte[] hash) {
    }

    private static Parsed parse(String text) {
        String[] parts = text == null ? new String[0] : text.trim().split("\\$");
        if (parts.length != 4 || !SCHEME.equals(parts[0])) {
            throw new IllegalArgumentException("not a " + SCHEME + "$<iterations>$<salt>$<hash> value");
        }
        try {
            int iterations = Integer.parseInt(parts[1]);
            if (iterations < 1) {
                throw new IllegalArgumentException("iterations must be positive");
            }
            return new Parsed(iterations, Base64.getDecoder().decode(parts[2]), Base64.getDecoder().decode(parts[3]));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("not a " + SCHEME + "$<iterations>$<salt>$<hash> value", e);
        }
    }

    private static byte[] derive(String password, byte[] salt, int iterations) {
        PBEKeySpec spec = new PBEKeySpec(password.toCharArray(), salt, iterations, HASH_BITS);
        try {
            return SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("PBKDF2WithHmacSHA256 is not available", e);
        } finally {
            spec.clearPassword();
        }
    }

    /** Prints the hash of a password typed twice (or given as one line on standard input). */
    public static void main(String[] args) throws Exception {
        String password;
        java.io.Console console = System.console();
        if (console != null) {
            char[] first = console.readPassword("Console password: ");
            char[] second = console.readPassword("Again: ");
            if (first == null || second == null || !java.util.Arrays.equals(first, second)) {
                System.err.println("The two passwords differ.");
                System.exit(2);
                return;
            }
            password = new String(first);
        } else {
            password = new java.io.BufferedReader(new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
        }
        if (password == null || password.length() < 12) {
            System.err.println("Use a password of 12 characters or more.");
            System.exit(2);
            return;
        }
        System.out.println(hash(password));
    }
}
