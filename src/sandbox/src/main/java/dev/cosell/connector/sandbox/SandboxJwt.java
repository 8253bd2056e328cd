package dev.cosell.connector.sandbox;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.util.Base64;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * JSON Web Tokens as the sandbox's Entra ID issues them and its APIs check them: compact JWS,
 * RS256 (PS256 accepted on client assertions). Signing and verifying use the JDK's own RSA
 * signatures; this class only does the JWS framing.
 */
final class SandboxJwt {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
    private static final Base64.Decoder B64D = Base64.getUrlDecoder();

    /** A parsed, not yet verified token. */
    record Parsed(ObjectNode header, ObjectNode claims, byte[] signingInput, byte[] sig) {

        String alg() {
            return header.path("alg").asText();
        }

        boolean verify(PublicKey key) {
            try {
                Signature s = signature(alg());
                s.initVerify(key);
                s.update(signingInput);
                return s.verify(sig);
            } catch (GeneralSecurityException | IllegalArgumentException e) {
                return false;
            }
        }

        boolean expired(long nowSeconds) {
            return claims.path("exp").asLong(0) <= nowSeconds;
        }
    }

    private SandboxJwt() {
    }

    static String sign(ObjectNode header, ObjectNode claims, PrivateKey key) {
        try {
            header.put("alg", "RS256").put("typ", "JWT");
            String input = B64.encodeToString(JSON.writeValueAsBytes(header)) + "."
                    + B64.encodeToString(JSON.writeValueAsBytes(claims));
            Signature s = signature("RS256");
            s.initSign(key);
            s.update(input.getBytes(StandardCharsets.US_ASCII));
            return input + "." + B64.encodeToString(s.sign());
        } catch (Exception e) {
            throw new IllegalStateException("cannot sign token", e);
        }
    }

    /** Unsigned token (alg none), as Entra's id_token is treated by a confidential client that never checks it. */
    static String unsigned(ObjectNode claims) {
        try {
            return B64.encodeToString("{\"alg\":\"none\",\"typ\":\"JWT\"}".getBytes(StandardCharsets.UTF_8)) + "."
                    + B64.encodeToString(JSON.writeValueAsBytes(claims)) + ".";
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Parses a compact JWS; returns null when it is not one. */
    static Parsed parse(String token) {
        if (token == null) {
            return null;
        }
        String[] parts = token.split("\\.", -1);
        if (parts.length != 3) {
            return null;
        }
        try {
            ObjectNode header = (ObjectNode) JSON.readTree(B64D.decode(parts[0]));
            ObjectNode claims = (ObjectNode) JSON.readTree(B64D.decode(parts[1]));
            byte[] input = (parts[0] + "." + parts[1]).getBytes(StandardCharsets.US_ASCII);
            return new Parsed(header, claims, input, B64D.decode(parts[2]));
        } catch (Exception e) {
            return null;
        }
    }

    static String base64Url(byte[] bytes) {
        return B64.encodeToString(bytes);
    }

    private static Signature signature(String alg) throws GeneralSecurityException {
        switch (alg) {
            case "RS256":
                return Signature.getInstance("SHA256withRSA");
            case "PS256": {
                Signature s = Signature.getInstance("RSASSA-PSS");
                s.setParameter(new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1));
                return s;
            }
            default:
                throw new GeneralSecurityException("unsupported alg " + alg);
        }
    }
}
