"""When each service's next time-driven change is due, so that the worker ticks it once.

A breaker whose state waits for time (open until its reset timeout, closed until its healthy
period ends) changes only when an event moves its clock; with no traffic, the worker sends a
`tick` command when the deadline has passed. Each deadline is ticked once: the fold's answer
either moves the deadline or clears it.
"""
from __future__ import annotations

from collections.abc import Mapping


class Deadlines:
    def __init__(self) -> None:
        self._due: dict[str, int] = {}
        self._ticked: dict[str, int] = {}  # the deadline already ticked, per service

    def __len__(self) -> int:
        return len(self._due)

    def set(self, service: str, deadline: int | None) -> None:
        """The service's next deadline after a fold (None: nothing waits for time)."""
        if deadline is None:
            self._due.pop(service, None)
        else:
            self._due[service] = deadline

    def due(self, now_ms: int) -> list[tuple[str, int]]:
        """(service, deadline) of every deadline passed at `now_ms` and not yet ticked."""
        ticked = self._ticked
        return [(service, deadline) for service, deadline in self._due.items()
                if deadline <= now_ms and ticked.get(service) != deadline]

    def mark_ticked(self, due: list[tuple[str, int]]) -> None:
        for service, deadline in due:
            self._ticked[service] = deadline

    def rebuild(self, deadlines: Mapping[str, int]) -> None:
        """Replace every deadline (the services this worker holds now); a tick already sent for an
        unchanged deadline is remembered, any other is forgotten."""
        self._due = dict(deadlines)
        self._ticked = {s: d for s, d in self._ticked.items() if self._due.get(s) == d}
