package dev.cosell.connector.bench;

import java.lang.management.ManagementFactory;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * A fixed piece of single-threaded work (JSON read and written, SHA-256, maps), timed in CPU
 * milliseconds, best of five: the same build's figures move with the machine (on the same kind of
 * machine the connector's CPU per record was 13.6 ms one morning and 25 ms another day), so each
 * run states how fast its machine was. Lower is faster; compare runs by it before comparing figures.
 */
final class MachineSpeed {

    private MachineSpeed() {
    }

    static long referenceCpuMs() {
        long best = Long.MAX_VALUE;
        for (int round = 0; round < 5; round++) {
            long start = ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
            work();
            best = Math.min(best, (ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - start) / 1_000_000);
        }
        return best;
    }

    private static volatile int sink;

    private static void work() {
        try {
            ObjectMapper json = new ObjectMapper();
            Map<String, Object> record = new LinkedHashMap<>();
            for (int i = 0; i < 40; i++) {
                record.put("field" + i, i % 3 == 0 ? "value of field " + i : i % 3 == 1 ? i * 1.5 : List.of("a", "b", i));
            }
            byte[] text = json.writeValueAsBytes(record);
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            int h = 0;
            for (int i = 0; i < 4_000; i++) {
                @SuppressWarnings("unchecked")
                Map<String, Object> read = json.readValue(text, Map.class);
                read.put("n", i);
                text = json.writeValueAsBytes(read);
                h += sha.digest(text)[0];
                List<String> keys = new ArrayList<>(read.keySet());
                h += keys.get(i % keys.size()).hashCode();
            }
            sink = h;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
