package dev.cosell.connector.console;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The console's password hash: PBKDF2-HMAC-SHA256, salted, checked in constant time; never the password itself. */
class ConsolePasswordTest {

    @Test
    void aHashMatchesItsPasswordOnly() {
        String hash = ConsolePassword.hash("correct horse battery", 1000);
        assertTrue(hash.startsWith("pbkdf2-sha256$1000$"), hash);
        assertFalse(hash.contains("correct horse battery"));
        assertTrue(ConsolePassword.matches("correct horse battery", hash));
        assertFalse(ConsolePassword.matches("correct horse batterY", hash));
        assertFalse(ConsolePassword.matches("", hash));
        assertFalse(ConsolePassword.matches(null, hash));
    }

    @Test
    void eachHashHasItsOwnSaltAndTheDefaultIsSlow() {
        assertNotEquals(ConsolePassword.hash("same password", 1000), ConsolePassword.hash("same password", 1000));
        assertTrue(ConsolePassword.hash("same password").startsWith("pbkdf2-sha256$600000$"));
    }

    @Test
    void onlyHashesAreTakenForHashes() {
        assertTrue(ConsolePassword.isHash(ConsolePassword.hash("x", 10)));
        assertFalse(ConsolePassword.isHash("my-plain-password"));
        assertFalse(ConsolePassword.isHash("pbkdf2-sha256$0$AAAA$AAAA"));
        assertFalse(ConsolePassword.isHash("bcrypt$10$AAAA$AAAA"));
        assertThrows(IllegalArgumentException.class, () -> ConsolePassword.matches("x", "not a hash"));
    }
}
