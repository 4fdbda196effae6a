"""The gateway's what-ifs: one re-fold at a time per replica, each within its time limit (docs/whatif.md)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from fusebox.whatif_log import run_whatif


@dataclass
class WhatIfRunner:
    bootstrap: str
    topic_prefix: str
    max_clock_skew_ms: int
    time_limit_s: float
    # A re-fold is CPU-bound: one at a time keeps the gateway's other requests served.
    _one_at_a_time: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))

    async def run(self, service: str, since_ms: int, until_ms: int, partial_config: Any) -> dict[str, Any]:
        async with self._one_at_a_time:
            return await run_whatif(self.bootstrap, self.topic_prefix, service, since_ms, until_ms, partial_config,
                                    max_clock_skew_ms=self.max_clock_skew_ms, time_limit_s=self.time_limit_s)
