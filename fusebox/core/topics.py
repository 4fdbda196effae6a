"""The topic registry: every topic's name, key and value codec, partitions and cleanup policy."""
from __future__ import annotations

from dataclasses import dataclass, replace

DEFAULT_PARTITIONS = 6
# How long the inputs are kept (FUSEBOX_OUTCOME_RETENTION_DAYS): how far back `fusebox replay`
# and `fusebox whatif` can re-fold. As long as the health history by default.
DEFAULT_OUTCOME_RETENTION_DAYS = 7
DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    suffix: str
    partitions: int
    cleanup_policy: str  # "delete" | "compact"
    key: str  # key codec: "service" (UTF-8 service name) | "none"
    value: str  # value codec: the JSON Schema the value follows
    retention_ms: int | None = None
    # "LogAppendTime": every record carries the time the broker appended it, whatever its producer set.
    timestamp_type: str | None = None

    def name(self, prefix: str) -> str:
        return f"{prefix}{self.suffix}"

    def config(self) -> dict[str, str]:
        config = {"cleanup.policy": self.cleanup_policy}
        if self.retention_ms is not None:
            config["retention.ms"] = str(self.retention_ms)
        if self.timestamp_type is not None:
            config["message.timestamp.type"] = self.timestamp_type
        if self.cleanup_policy == "compact":
            config["min.cleanable.dirty.ratio"] = "0.1"
            config["segment.ms"] = str(60 * 60 * 1000)
        return config


# The inputs' record timestamps are their arrival at the broker: the bound of event times
# (fusebox.core.admission), read from the log, so replay judges every record as the worker did.
CALL_OUTCOMES = TopicSpec("call-outcomes", DEFAULT_PARTITIONS, "delete", "service", "CallOutcome",
                          timestamp_type="LogAppendTime")
CALL_OUTCOMES_DLQ = TopicSpec("call-outcomes.dlq", DEFAULT_PARTITIONS, "delete", "service", "DeadLetter")
BREAKER_COMMANDS = TopicSpec("breaker-commands", DEFAULT_PARTITIONS, "delete", "service", "BreakerCommand",
                             timestamp_type="LogAppendTime")
BREAKER_STATES = TopicSpec("breaker-states", DEFAULT_PARTITIONS, "compact", "service", "ServiceState")
# Kept as long as the inputs: `fusebox replay` orders commands among outcomes by their results.
COMMAND_RESULTS = TopicSpec("command-results", DEFAULT_PARTITIONS, "delete", "service", "CommandResult")
HEALTH_HISTORY = TopicSpec("health-history", DEFAULT_PARTITIONS, "delete", "service", "HealthHistoryEntry")
METRIC_ROLLUPS = TopicSpec("metric-rollups", DEFAULT_PARTITIONS, "delete", "service", "MetricRollup")
# Every change of circuit state with its cause: time retention (the broker's), never compacted.
BREAKER_TRANSITIONS = TopicSpec("breaker-transitions", DEFAULT_PARTITIONS, "delete", "service", "BreakerTransition")

ALL_TOPICS: tuple[TopicSpec, ...] = (
    CALL_OUTCOMES, CALL_OUTCOMES_DLQ, BREAKER_COMMANDS, BREAKER_STATES,
    COMMAND_RESULTS, HEALTH_HISTORY, METRIC_ROLLUPS, BREAKER_TRANSITIONS,
)

# What a re-fold reads: the inputs and where each command landed among the outcomes.
REFOLD_INPUTS: tuple[TopicSpec, ...] = (CALL_OUTCOMES, BREAKER_COMMANDS, COMMAND_RESULTS)


def with_outcome_retention(spec: TopicSpec, days: int) -> TopicSpec:
    """`spec` as created: a re-fold input is kept `days` days; every other topic as registered."""
    if spec.suffix in {s.suffix for s in REFOLD_INPUTS}:
        return replace(spec, retention_ms=days * DAY_MS)
    return spec
