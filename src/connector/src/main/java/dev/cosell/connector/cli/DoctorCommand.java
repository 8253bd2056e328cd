package dev.cosell.connector.cli;

import dev.cosell.connector.CommandLine;

/** The {@code doctor} command. */
public final class DoctorCommand {

    private DoctorCommand() {
    }

    /** Returns the process exit code. */
    public static int run(CommandLine cli) throws Exception {
        System.err.println("not built yet");
        return 2;
    }
}
