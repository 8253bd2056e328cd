package dev.cosell.connector.auth;

/** Where msal4j's serialized token cache (with the delegated refresh token) is kept between runs. */
public interface TokenCacheStore {

    /** The cache saved under this key, or null. */
    String load(String key);

    void save(String key, String serializedCache);
}
