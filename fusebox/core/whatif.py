"""What-if: re-fold one service's log under a candidate config, beside what actually happened.

Pure, like the fold it drives: the events come in (one service's outcomes and commands, in the
order the live worker folded them, as `fusebox replay` puts them back), the two results go out.
Both sides are folded by `fusebox.core.breaker.fold_batch`, the aggregator's own fold; no rule
is written twice.

    events older than `since`   folded once: the actual state at `since` is both sides' start
    events in [since, until]    actual: every event as logged
                                candidate: the same events, a config update folded as a tick (its
                                time passes, the config stays the candidate's); the candidate
                                config is applied first, as a config update, at the fold's time
    events after `until`        not read

Definitions (docs/whatif.md): `incidents` are new incidents opened in the range; `timeOpenMs`
is the time the circuit spent `open` (not half-open) inside [since, until]; `rejectedCalls` are
the outcomes that reached the fold while that side's circuit was open and did not themselves
move it (the calls that side's breaker would have short-circuited). Transitions and timeline
segments are capped at `TRANSITIONS_KEPT` each; the figures always count the whole range.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fusebox.core import rules
from fusebox.core.breaker import BREAKER_TRANSITIONS, OPEN, BreakerState, fold_batch, new_state
from fusebox.core.breaker.commands import config_of
from fusebox.core.commands import CONFIG_UPDATE, TICK
from fusebox.core.isotime import iso_ms, parse_iso_ms
from fusebox.core.validation import VALIDATION_FAILED, ValidationError

Event = tuple[str, int, dict]

CHUNK = 5000  # outcomes folded per fold_batch call, as `fusebox replay` does
TRANSITIONS_KEPT = 1000  # per side, for the transitions and for the timeline segments
CANDIDATE_SOURCE = "whatif"  # the source of the one synthetic command: the candidate config
CANDIDATE_COMMAND_ID = "whatif-candidate-config"


def event_time(body: dict) -> int:
    time = body.get("ts")
    return body["issuedAt"] if time is None else time


def candidate_config(base: dict[str, Any], partial: Any) -> dict[str, Any]:
    """`partial` (fields of a ConfigUpdateRequest) over `base`; ValidationError as a config update's."""
    if not isinstance(partial, dict):
        raise ValidationError(VALIDATION_FAILED, "invalid candidate config: config must be an object",
                              [{"field": "config", "issue": "must be an object"}])
    merged = {**{name: value for name, value in base.items() if value is not None}, **partial}
    issues = rules.config_issues(merged, "config.")
    if issues:
        summary = "; ".join(f"{i['field']}: {i['issue']}" for i in issues[:5])
        raise ValidationError(VALIDATION_FAILED, f"invalid candidate config: {summary}", issues)
    return merged


@dataclass
class Side:
    """One side's fold over the range, and the figures read off it as it goes."""
    state: BreakerState
    since_ms: int
    incidents_before: int
    circuit: str
    circuit_since: int
    transitions: list[dict] = field(default_factory=list)
    timeline: list[dict] = field(default_factory=list)
    transitions_seen: int = 0
    segments_seen: int = 0
    time_open_ms: int = 0
    rejected: int = 0

    @classmethod
    def starting(cls, state: BreakerState, since_ms: int) -> "Side":
        return cls(state, since_ms, state.total_incidents, state.circuit, since_ms)

    def fold(self, events: list[Event]) -> None:
        circuit_before = self.state.circuit
        self.state, emitted = fold_batch(self.state, events, rollups=False)
        moved = [value for topic, value in emitted if topic == BREAKER_TRANSITIONS]
        if circuit_before == OPEN or moved:
            self._count_rejected(events, circuit_before, moved)
        for transition in moved:
            self._record(transition)

    def _count_rejected(self, events: list[Event], circuit: str, moved: list[dict]) -> None:
        by_input: dict[tuple[str, int], str] = {}
        for transition in moved:
            where = transition["cause"]["input"]
            by_input[(where["source"], where["offset"])] = transition["to"]  # the last move an event made
        rejected = 0
        for source, offset, body in events:
            to = by_input.get((source, offset))
            if to is not None:
                circuit = to
            elif circuit == OPEN and "outcome" in body:
                rejected += 1
        self.rejected += rejected

    def _record(self, transition: dict) -> None:
        self.transitions_seen += 1
        if len(self.transitions) < TRANSITIONS_KEPT:
            self.transitions.append(transition)
        self._segment_until(parse_at(transition))
        self.circuit = transition["to"]

    def _segment_until(self, at_ms: int) -> None:
        start = self.circuit_since
        if at_ms > start:
            if self.circuit == OPEN:
                self.time_open_ms += at_ms - start
            self.segments_seen += 1
            if len(self.timeline) < TRANSITIONS_KEPT:
                self.timeline.append({"from": iso_ms(start), "to": iso_ms(at_ms), "circuit": self.circuit})
            self.circuit_since = at_ms
        # A move at or before the range's start (the candidate config judged at the fold's time)
        # leaves the segment's start at `since`.

    def result(self, until_ms: int) -> dict[str, Any]:
        self._segment_until(until_ms)
        truncated = self.transitions_seen > len(self.transitions) or self.segments_seen > len(self.timeline)
        return {"config": config_of(self.state), "incidents": self.state.total_incidents - self.incidents_before,
                "timeOpenMs": self.time_open_ms, "rejectedCalls": self.rejected,
                "transitions": self.transitions, "timeline": self.timeline, "truncated": truncated}


def parse_at(transition: dict) -> int:
    return parse_iso_ms(transition["at"])


class WhatIf:
    """The fold of one service's events, fed in order (`feed`), into both Results (`answer`).

    Runs never span `since`: outcomes are folded in chunks of at most CHUNK, each command alone.
    Time is the fold's: the largest event time so far; the first event past `until` ends it.
    """

    def __init__(self, service: str, since_ms: int, until_ms: int, partial_config: Any) -> None:
        self.service, self.since_ms, self.until_ms = service, since_ms, until_ms
        self.partial_config = partial_config
        self.before = new_state(service)
        self.actual: Side | None = None
        self.candidate: Side | None = None
        self.folded = 0
        self.done = False
        self._clock: int | None = None
        self._run: list[Event] = []
        self._run_in_range = False

    def feed(self, events: Iterable[Event]) -> bool:
        """Fold `events` (the next ones in order); False once the range has ended."""
        if self.done:
            return False
        clock, run, run_in_range = self._clock, self._run, self._run_in_range
        since_ms, until_ms = self.since_ms, self.until_ms
        for event in events:
            body = event[2]
            t = body.get("ts")
            if t is None:
                t = body["issuedAt"]
            if clock is None or t > clock:
                clock = t
                if clock > until_ms:
                    self.done = True
                    break
            in_range = clock >= since_ms
            if "outcome" in body:
                if run and (in_range != run_in_range or len(run) >= CHUNK):
                    self._fold(run_in_range, run)
                    run = []
                run_in_range = in_range
                run.append(event)
            else:
                if run:
                    self._fold(run_in_range, run)
                    run = []
                self._fold(in_range, [event])
        self._clock, self._run, self._run_in_range = clock, run, run_in_range
        return not self.done

    def _fold(self, in_range: bool, run: list[Event]) -> None:
        self.folded += len(run)
        if not in_range:
            self.before, _ = fold_batch(self.before, run, rollups=False)
            return
        if self.actual is None:
            self._start(event_time(run[0][2]))
        self.actual.fold(run)
        if len(run) == 1 and run[0][2].get("type") == CONFIG_UPDATE:
            source, offset, body = run[0]
            run = [(source, offset, {**body, "type": TICK, "payload": {}})]
        self.candidate.fold(run)

    def _start(self, first_ms: int) -> None:
        """Both sides at the range's start; the candidate config applied at the fold's time, so that
        applying it moves no clock (the actual config as candidate changes nothing)."""
        state = self.before
        config = candidate_config(config_of(state), self.partial_config)
        self.actual = Side.starting(state, self.since_ms)
        self.candidate = Side.starting(state, self.since_ms)
        command = {"commandId": CANDIDATE_COMMAND_ID, "service": self.service, "type": CONFIG_UPDATE,
                   "issuedAt": state.now if state.now is not None else first_ms, "issuedBy": CANDIDATE_SOURCE,
                   "payload": config}
        self.candidate.fold([(f"{CANDIDATE_SOURCE}:0", 0, command)])

    def answer(self) -> dict[str, Any]:
        """`eventsFolded`, `actual` and `candidate` (the rest of the answer is the reader's)."""
        if self._run:
            self._fold(self._run_in_range, self._run)
            self._run = []
        if self.actual is None:
            self._start(self.since_ms)
        return {"eventsFolded": self.folded, "actual": self.actual.result(self.until_ms),
                "candidate": self.candidate.result(self.until_ms)}

    def check_candidate(self, base: dict[str, Any]) -> None:
        """Refuse, before reading anything, a candidate that is invalid over `base` (the live config)."""
        candidate_config(base, self.partial_config)


def whatif(service: str, events: Iterable[Event], since_ms: int, until_ms: int,
           partial_config: Any) -> dict[str, Any]:
    """The actual and candidate Results (docs/whatif.md) and how many events were folded.

    `events`: the service's admitted events from the oldest retained, in the live fold's order.
    Raise ValidationError (VALIDATION_FAILED) when the candidate, over the config in force at
    `since`, is not a valid config.
    """
    refold = WhatIf(service, since_ms, until_ms, partial_config)
    refold.feed(events)
    return refold.answer()
