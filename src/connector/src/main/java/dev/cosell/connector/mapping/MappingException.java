package dev.cosell.connector.mapping;

/** A mapping file could not map a record: names the field and the value, for the audit and the dead letter. */
public final class MappingException extends RuntimeException {

    public MappingException(String message) {
        super(message);
    }

    public MappingException(String message, Throwable cause) {
        super(message, cause);
    }
}
