import com.alibaba.csp.sentinel.Entry;
import com.alibaba.csp.sentinel.EntryType;
import com.alibaba.csp.sentinel.context.Context;
import com.alibaba.csp.sentinel.node.Node;
import com.alibaba.csp.sentinel.slotchain.StringResourceWrapper;
import com.alibaba.csp.sentinel.slots.block.RuleConstant;
import com.alibaba.csp.sentinel.slots.block.degrade.DegradeRule;
import com.alibaba.csp.sentinel.slots.block.degrade.circuitbreaker.AbstractCircuitBreaker;
import com.alibaba.csp.sentinel.slots.block.degrade.circuitbreaker.CircuitBreaker;
import com.alibaba.csp.sentinel.slots.block.degrade.circuitbreaker.ExceptionCircuitBreaker;
import com.alibaba.csp.sentinel.slots.block.degrade.circuitbreaker.ResponseTimeCircuitBreaker;
import com.alibaba.csp.sentinel.util.function.BiConsumer;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;

/**
 * Feeds Sentinel's circuit breakers (the ones a DegradeRule makes) the call sequences read from
 * stdin and prints the state after every call, for the reference check of the failure-rate and
 * slow-call-rate rules.
 *
 * Each input line: grade ratio minRequestAmount maxRtMs calls, where grade is E (exception
 * ratio: ratio is DegradeRule.count) or R (slow-request ratio: ratio is slowRatioThreshold,
 * maxRtMs is DegradeRule.count), and calls a string of S (success), F (failure), L (slow
 * success: maxRtMs + 1), X (slow failure) and B (a success of exactly maxRtMs). Each output
 * line: one letter per call, C (closed) or O (open), the state right after that call completed.
 *
 * The breakers are fed the way Sentinel's DegradeSlot feeds them on an entry's exit: a Context
 * whose current entry carries the error and a complete timestamp (create + latency), so a call
 * takes no real time. The statistic interval is the longest Sentinel takes (Integer.MAX_VALUE ms,
 * ~24.8 days, aligned on the epoch) so that every call of a line is in one window, as in the
 * Fusebox side's window that holds every call.
 */
public final class Reference {
    private static final class Call extends Entry {
        Call(long latencyMs, boolean failed) {
            super(new StringResourceWrapper("reference", EntryType.OUT));
            setCompleteTimestamp(getCreateTimestamp() + latencyMs);
            if (failed) {
                setError(new RuntimeException("failure"));
            }
        }

        @Override
        public void exit(int count, Object... args) {
        }

        @Override
        protected Entry trueExit(int count, Object... args) {
            return null;
        }

        @Override
        public Node getLastNode() {
            return null;
        }

        @Override
        public void whenTerminate(BiConsumer<Context, Entry> handler) {
        }
    }

    // The reading of stdin is resilience4j's harness's again: each harness is one file compiled
    // alone against its own library's jars, with nothing shared on its classpath.
    public static void main(String[] args) throws Exception {
        // Sentinel announces its log settings on stdout: the decisions alone go there
        PrintStream decisions = System.out;
        System.setOut(System.err);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        StringBuilder out = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            String[] f = line.trim().split(" ");
            boolean slowRatio = f[0].equals("R");
            double ratio = Double.parseDouble(f[1]);
            int minimum = Integer.parseInt(f[2]);
            long maxRt = Long.parseLong(f[3]);
            DegradeRule rule = new DegradeRule("reference")
                .setMinRequestAmount(minimum)
                .setStatIntervalMs(Integer.MAX_VALUE)
                .setTimeWindow(86_400);
            AbstractCircuitBreaker breaker;
            if (slowRatio) {
                rule.setGrade(RuleConstant.DEGRADE_GRADE_RT).setCount(maxRt).setSlowRatioThreshold(ratio);
                breaker = new ResponseTimeCircuitBreaker(rule);
            } else {
                rule.setGrade(RuleConstant.DEGRADE_GRADE_EXCEPTION_RATIO).setCount(ratio);
                breaker = new ExceptionCircuitBreaker(rule);
            }
            Context context = new Context(null, "reference");
            String calls = f.length > 4 ? f[4] : "";
            for (char call : calls.toCharArray()) {
                if (breaker.currentState() == CircuitBreaker.State.CLOSED) {
                    long latency = call == 'L' || call == 'X' ? maxRt + 1 : call == 'B' ? maxRt : 0;
                    context.setCurEntry(new Call(latency, call == 'F' || call == 'X'));
                    breaker.onRequestComplete(context);
                }
                out.append(breaker.currentState() == CircuitBreaker.State.CLOSED ? 'C' : 'O');
            }
            out.append('\n');
        }
        decisions.print(out);
        decisions.flush();
    }
}
