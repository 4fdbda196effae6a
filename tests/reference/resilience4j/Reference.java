import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Feeds resilience4j's CircuitBreaker the call sequences read from stdin and prints its state
 * after every call, for the reference check of the failure-rate rule over a count window.
 *
 * Each input line: failureRateThreshold slidingWindowSize minimumNumberOfCalls calls
 * where calls is a string of S (success) and F (failure). Each output line: one letter per
 * call, C (closed) or O (open), the state right after that call was recorded.
 */
public final class Reference {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        StringBuilder out = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            String[] f = line.trim().split(" ");
            CircuitBreakerConfig config = CircuitBreakerConfig.custom()
                .failureRateThreshold(Float.parseFloat(f[0]))
                .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                .slidingWindowSize(Integer.parseInt(f[1]))
                .minimumNumberOfCalls(Integer.parseInt(f[2]))
                .waitDurationInOpenState(Duration.ofDays(1))
                .build();
            CircuitBreaker breaker = CircuitBreaker.of("reference", config);
            String calls = f.length > 3 ? f[3] : "";
            for (char call : calls.toCharArray()) {
                if (breaker.getState() == CircuitBreaker.State.CLOSED) {
                    if (call == 'S') {
                        breaker.onSuccess(0, TimeUnit.NANOSECONDS);
                    } else {
                        breaker.onError(0, TimeUnit.NANOSECONDS, new RuntimeException("failure"));
                    }
                }
                out.append(breaker.getState() == CircuitBreaker.State.CLOSED ? 'C' : 'O');
            }
            out.append('\n');
        }
        System.out.print(out);
    }
}
