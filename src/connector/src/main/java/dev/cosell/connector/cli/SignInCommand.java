package dev.cosell.connector.cli;

import dev.cosell.connector.CommandLine;

/** The {@code sign-in} command. */
public final class SignInCommand {

    private SignInCommand() {
    }

    /** Returns the process exit code. */
    public static int run(CommandLine cli) throws Exception {
        System.err.println("not built yet");
        return 2;
    }
}
