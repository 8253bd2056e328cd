package dev.cosell.connector.store;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Base64;

import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * Encrypts what the store keeps of secrets (msal4j's token cache: refresh and access tokens) with
 * AES-256-GCM from the JDK's JCA, under the key of {@code store.secret-key} (environment variable
 * {@code STORE_SECRET_KEY}: 32 random bytes, base64, e.g. {@code openssl rand -base64 32}). Each value
 * gets its own random 12-byte nonce; the result is {@code v1:<base64(nonce | ciphertext+tag)>}, so a
 * value tampered with, or read with another key, fails instead of decrypting to garbage.
 */
public final class SecretBox {

    private static final String PREFIX = "v1:";
    private static final SecureRandom RANDOM = new SecureRandom();

    private final SecretKeySpec key;

    public SecretBox(String base64Key) {
        byte[] raw;
        try {
            raw = Base64.getDecoder().decode(base64Key.trim());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("store.secret-key (STORE_SECRET_KEY) is not base64");
        }
        if (raw.length != 32) {
            throw new IllegalArgumentException("store.secret-key (STORE_SECRET_KEY) must be 32 bytes (base64 of 32 random bytes:"
                    + " openssl rand -base64 32), not " + raw.length);
        }
        this.key = new SecretKeySpec(raw, "AES");
    }

    /** A new random key, base64 (the sandbox's; a real one is made once and kept in a secret store). */
    public static String newKey() {
        byte[] raw = new byte[32];
        RANDOM.nextBytes(raw);
        return Base64.getEncoder().encodeToString(raw);
    }

    public String seal(String plain) {
        try {
            byte[] nonce = new byte[12];
            RANDOM.nextBytes(nonce);
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, nonce));
            byte[] sealed = c.doFinal(plain.getBytes(StandardCharsets.UTF_8));
            return PREFIX + Base64.getEncoder().encodeToString(ByteBuffer.allocate(12 + sealed.length).put(nonce).put(sealed).array());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot encrypt", e);
        }
    }

    /** The plain text of a sealed value; a value stored before encryption (no prefix) is returned as it is. */
    public String open(String stored) {
        if (stored == null || !stored.startsWith(PREFIX)) {
            return stored;
        }
        try {
            byte[] all = Base64.getDecoder().decode(stored.substring(PREFIX.length()));
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, all, 0, 12));
            return new String(c.doFinal(all, 12, all.length - 12), StandardCharsets.UTF_8);
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw new IllegalStateException("a stored secret cannot be decrypted with store.secret-key (another key, or altered)");
        }
    }

    /** A password for an embedded database derived from the key (HMAC-SHA256 of a label), so none is stored. */
    public String derivePassword(String label) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(key);
            return Base64.getUrlEncoder().withoutPadding().encodeToString(mac.doFinal(label.getBytes(StandardCharsets.UTF_8)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public String toString() {
        return "SecretBox[AES-256-GCM]"; // never the key
    }
}
