"""Per-admin token buckets for config changes: in Redis (shared by every replica) or in process."""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger("fusebox.api.ratelimit")


class RateLimiter(Protocol):
    async def take(self, key: str) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is available."""


class InProcessTokenBucket:
    def __init__(self, burst: int, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(burst)
        self.rate_per_s = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, key: str) -> float:
        now = self._clock()
        tokens, updated = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - updated) * self.rate_per_s)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate_per_s


# KEYS[1] = bucket; ARGV = capacity, tokens per ms, ttl ms. Uses the server's clock, so all replicas agree.
_TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(bucket[1]) or capacity
local ts = tonumber(bucket[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait_ms = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return wait_ms
"""


class RedisTokenBucket:
    """The same bucket as a Lua script in Redis; falls back to the in-process bucket while Redis fails."""

    def __init__(self, redis, namespace: str, burst: int, per_minute: int):
        self.redis = redis
        self.namespace = namespace
        self.capacity = burst
        self.rate_per_ms = per_minute / 60_000.0
        self.ttl_ms = math.ceil(burst / self.rate_per_ms) + 1000
        self._script = redis.register_script(_TAKE_SCRIPT)
        self._fallback = InProcessTokenBucket(burst, per_minute)

    async def take(self, key: str) -> float:
        try:
            wait_ms = await self._script(keys=[f"{self.namespace}{key}"],
                                         args=[self.capacity, repr(self.rate_per_ms), self.ttl_ms])
        except Exception as exc:  # Redis is optional: an outage degrades to per-replica buckets
            logger.warning("rate limit via Redis failed, using the in-process bucket: %r", exc)
            return await self._fallback.take(key)
        return int(wait_ms) / 1000.0
