"""Tick commands for the services whose deadline has passed (deadlines.py says which, once each)."""
from __future__ import annotations

import uuid

from fusebox.aggregator import metrics
from fusebox.aggregator.deadlines import Deadlines
from fusebox.core.codec import dumps
from fusebox.core.commands import TICK, breaker_command

TICK_ISSUER = "fusebox-aggregator"


class TickSender:
    def __init__(self, deadlines: Deadlines, publisher, topic: str) -> None:
        self.deadlines = deadlines
        self._publisher = publisher
        self._topic = topic  # breaker-commands

    async def send_due(self, now_ms: int) -> None:
        """Produce a tick for every service whose next deadline has passed (once per deadline)."""
        due = self.deadlines.due(now_ms)
        if not due:
            return
        messages = []
        for service, deadline in due:
            command = breaker_command(str(uuid.uuid4()), service, TICK, max(now_ms, deadline), TICK_ISSUER)
            messages.append((self._topic, service.encode(), dumps(command), None))
        await self._publisher.publish(messages)
        self.deadlines.mark_ticked(due)
        metrics.TICKS_SENT.inc(len(due))
