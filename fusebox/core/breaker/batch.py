"""`fold_batch`: the aggregator's hot path, every event of one service in one poll.

It applies the same rules as the one-event fold (`event.py`), which a property test holds it
equal to; here the outcome rules are inlined and the counters kept in local variables, stored
back (`store_locals`) before anything else reads the state, because this runs for every event.
"""
from __future__ import annotations

from collections.abc import Iterable

from fusebox.core import rollups as _rollups
from fusebox.core.rollups import add as _rollup_add, bucket_for as _bucket_for
from fusebox.core.breaker.commands import on_command
from fusebox.core.breaker.state import CLOSED, DEFAULT_REQUEST_LIMIT, HALF_OPEN, BreakerState, clone_for_batch, store_locals
from fusebox.core.breaker.transitions import (TRIAL_SUCCEEDED, Emitted, advance, close_circuit, count_failure,
                                              open_circuit, settle, windowed_call)
from fusebox.core.breaker.trip import CONSECUTIVE_FAILURES, TRIAL_FAILED


def fold_batch(state: BreakerState, events: Iterable[tuple[str, int, dict]],
               rollups: bool = True) -> tuple[BreakerState, Emitted]:
    """Fold many events of one service (log order per source) into a new state.

    With `rollups`, outcomes are also counted into per-minute metric rollups (fusebox.core.rollups),
    and closed minutes are emitted as "metric-rollups" items.
    """
    s = clone_for_batch(state)
    out: Emitted = []
    service = s.service
    ro = s.rollups
    touched: dict[int, list] = {}  # the rollup buckets this batch owns, by minute
    offsets = s.offsets
    last_source = None
    last_offset = -1
    now, version, updated_at = state.now, state.version, state.updated_at
    successful, failed, rejected, last_op = state.successful, state.failed, state.rejected, state.last_operation
    for source, offset, body in events:
        if source != last_source:
            if last_source is not None:
                offsets[last_source] = last_offset
            last_source = source
            last_offset = offsets.get(source, -1)
        if offset <= last_offset:
            continue  # already applied: redelivery
        last_offset = offset
        outcome = body.get("outcome")
        if outcome is None:
            store_locals(s, now, version, updated_at, successful, failed, rejected, last_op)
            if rollups and ro.due is not None and body["issuedAt"] >= ro.due:
                _rollups.advance(ro, body["issuedAt"], service, out)
                touched.clear()
            on_command(s, body, out, (source, offset, body))
            now, version, updated_at = s.now, s.version, s.updated_at
            continue

        t = body["ts"]
        if now is None:
            s.status_since = now = t
        elif t > now:
            wake = s.wake
            if wake is not None and wake <= t:
                store_locals(s, now, version, updated_at, successful, failed, rejected, last_op)
                advance(s, t, out, (source, offset, body))
            now = t
            if rollups and ro.due is not None and t >= ro.due:
                _rollups.advance(ro, t, service, out)
                touched.clear()
        version += 1
        updated_at = now
        if rollups:
            minute = t - t % 60_000
            bucket = touched.get(minute)
            if bucket is None:
                bucket = _bucket_for(ro, minute, now, service, touched, out)
            _rollup_add(bucket, outcome, body["latencyMs"])
        # Only a change of circuit, failureCount or wake can change the status.
        if s.window is not None and outcome != "rejected":
            # A windowed rule (trip.py): the one-event fold's code, for every call.
            if outcome == "success":
                successful += 1
            else:
                failed += 1
            if last_op is None or t > last_op:
                last_op = t
            store_locals(s, now, version, updated_at, successful, failed, rejected, last_op)
            windowed_call(s, t, outcome, body, (source, offset, body), out)
            settle(s, now, out)
        elif outcome == "success":
            successful += 1
            if last_op is None or t > last_op:
                last_op = t
            circuit = s.circuit
            if circuit == CLOSED:
                if s.failure_count:
                    s.failure_count = 0
                    store_locals(s, now, version, updated_at, successful, failed, rejected, last_op)
                    settle(s, now, out)
            elif circuit == HALF_OPEN:
                s.trial_successes += 1
                if s.trial_successes >= (s.request_limit or DEFAULT_REQUEST_LIMIT):
                    store_locals(s, now, version, updated_at, successful, failed, rejected, last_op)
                    close_circuit(s, TRIAL_SUCCEEDED, (source, offset, body), out)
                    settle(s, now, out)
        elif outcome == "rejected":
            rejected += 1  # short-circuited by the client: not a call to the dependency
        else:
            failed += 1
            if last_op is None or t > last_op:
                last_op = t
            circuit = s.circuit
            if circuit == CLOSED:
                count_failure(s, t, body)
                if s.failure_count >= s.failure_threshold:
                    store_locals(s, now, version, updated_at, successful, failed, rejected, last_op)
                    open_circuit(s, True, CONSECUTIVE_FAILURES, (source, offset, body), out, s.failure_threshold)
                    settle(s, now, out)
                elif s.failure_count == 1:
                    store_locals(s, now, version, updated_at, successful, failed, rejected, last_op)
                    settle(s, now, out)
            elif circuit == HALF_OPEN:
                count_failure(s, t, body)
                store_locals(s, now, version, updated_at, successful, failed, rejected, last_op)
                open_circuit(s, False, TRIAL_FAILED, (source, offset, body), out)
                settle(s, now, out)
    if last_source is not None:
        offsets[last_source] = last_offset
    store_locals(s, now, version, updated_at, successful, failed, rejected, last_op)
    return s, out
