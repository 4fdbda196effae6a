"""`fusebox simulate`: a dozen named dependencies called through the SDK, with scripted incidents.

Every simulated call is a real `async with breaker:` around an `asyncio.sleep` of a latency drawn
from the dependency's distribution (lognormal, most of them), which fails, times out or succeeds
as its profile and the incident script say. The script repeats every `cycle` seconds:

    t (s, × --incident-scale)   0      20          45      60                 150     180
    inventory-db                ───────█ down █████─────────────────────────────────────  goes down, recovers
    search-api                  ────────────────────────────▁▂▃▄▅▆▇ slower, timeouts ─────  degrades slowly
    recommendations             ──────────────────█─█─█─█─█─█─█─█─█─█─█─█──────────────  flaps (6 s down / 10 s up)

Before traffic starts, each service gets a short demo breaker config (resetTimeoutMs 5 s) through
the admin API (PUT …/config with a token minted from FUSEBOX_JWT_SECRET), or, when the API does
not answer, as `config.update` commands produced to Kafka. `--seed` makes the draws repeatable.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

from fusebox.core import codec
from fusebox.core.commands import CONFIG_UPDATE, breaker_command
from fusebox.core.topics import BREAKER_COMMANDS
from fusebox.kafka_security import kafka_client_options
from fusebox.sdk.local_breaker import Breaker, BreakerOpenError
from fusebox.sdk.client import FuseboxClient

logger = logging.getLogger("fusebox.simulate")

CYCLE_S = 180.0
DEMO_CONFIG = {"failureThreshold": 5, "resetTimeoutMs": 5000, "minHealthyPeriodMs": 15000, "requestLimit": 2}


class DependencyError(ConnectionError):
    """What a simulated dependency raises when it fails."""


@dataclass(frozen=True)
class Profile:
    """A dependency's normal behaviour: lognormal latency around `median_ms`, and an error rate."""

    name: str
    weight: float  # share of the total call rate
    median_ms: float
    sigma: float
    error_rate: float
    timeout_s: float = 1.0
    # t (seconds into the cycle, already scaled) -> (latency multiplier, extra error rate, down?)
    incident: Callable[[float, float], tuple[float, float, bool]] | None = None
    incident_name: str = ""


def _outage(start: float, length: float) -> Callable[[float, float], tuple[float, float, bool]]:
    def script(t: float, scale: float) -> tuple[float, float, bool]:
        return 1.0, 0.0, start * scale <= t < (start + length) * scale
    return script


def _slow_degradation(start: float, ramp: float, hold: float) -> Callable[[float, float], tuple[float, float, bool]]:
    def script(t: float, scale: float) -> tuple[float, float, bool]:
        t0, t1, t2 = start * scale, (start + ramp) * scale, (start + ramp + hold) * scale
        if t < t0 or t >= t2:
            return 1.0, 0.0, False
        progress = min(1.0, (t - t0) / (t1 - t0))
        return 1.0 + 11.0 * progress ** 2, 0.15 * progress, False
    return script


def _flapping(start: float, end: float, down: float, up: float) -> Callable[[float, float], tuple[float, float, bool]]:
    def script(t: float, scale: float) -> tuple[float, float, bool]:
        if not start * scale <= t < end * scale:
            return 1.0, 0.0, False
        return 1.0, 0.0, (t - start * scale) % ((down + up) * scale) < down * scale
    return script


PROFILES: tuple[Profile, ...] = (
    Profile("inventory-db", 1.4, 8, 0.35, 0.001, 0.5, _outage(20, 25), "goes down at 20 s, recovers at 45 s"),
    Profile("search-api", 1.2, 60, 0.45, 0.003, 0.6, _slow_degradation(45, 60, 45),
            "degrades slowly from 45 s, recovers at 150 s"),
    Profile("recommendations", 1.0, 35, 0.5, 0.002, 0.5, _flapping(60, 150, 6, 10), "flaps from 60 s to 150 s"),
    Profile("payments-api", 1.2, 45, 0.4, 0.002, 2.0),
    Profile("user-profile", 1.5, 12, 0.3, 0.0005),
    Profile("auth-service", 2.0, 5, 0.25, 0.0002),
    Profile("shipping-quotes", 0.6, 120, 0.6, 0.01, 2.0),
    Profile("email-gateway", 0.4, 80, 0.7, 0.005, 2.0),
    Profile("fraud-check", 0.8, 90, 0.35, 0.001, 1.5),
    Profile("pricing-engine", 1.0, 20, 0.4, 0.001),
    Profile("cart-service", 1.3, 15, 0.3, 0.0008),
    Profile("geo-ip", 0.8, 2, 0.5, 0.0001, 0.25),
)


@dataclass
class Tally:
    calls: Counter = field(default_factory=Counter)


class Dependency:
    """One simulated dependency: a latency draw, then an error, a hang past the timeout, or a result."""

    def __init__(self, profile: Profile, rng: random.Random, scale: float, started: float) -> None:
        self.profile = profile
        self.rng = rng
        self.scale = scale
        self.started = started

    def cycle_time(self) -> float:
        return (time.monotonic() - self.started) % (CYCLE_S * self.scale)

    async def call(self) -> None:
        p, rng = self.profile, self.rng
        multiplier, extra_errors, down = (p.incident(self.cycle_time(), self.scale) if p.incident
                                          else (1.0, 0.0, False))
        if down:
            await asyncio.sleep(rng.uniform(0.001, 0.004))  # connection refused comes back fast
            raise DependencyError(f"{p.name} refused the connection")
        latency_s = rng.lognormvariate(math.log(p.median_ms), p.sigma) * multiplier / 1000
        await asyncio.sleep(latency_s)  # the breaker's timeout cancels this when it is too slow
        if rng.random() < p.error_rate + extra_errors:
            raise DependencyError(f"{p.name} answered 503")


async def drive(client: FuseboxClient, profile: Profile, rate: float, rng: random.Random, scale: float,
                started: float, tally: Tally, stop: asyncio.Event) -> None:
    """Poisson arrivals at `rate` calls/s, each call a task through the service's breaker."""
    breaker: Breaker = client.breaker(profile.name, timeout=profile.timeout_s)
    dependency = Dependency(profile, rng, scale, started)
    running: set[asyncio.Task] = set()

    async def one_call() -> None:
        try:
            async with breaker:
                await dependency.call()
            tally.calls["success"] += 1
        except BreakerOpenError:
            tally.calls["rejected"] += 1
        except TimeoutError:
            tally.calls["timeout"] += 1
        except DependencyError:
            tally.calls["failure"] += 1

    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), rng.expovariate(rate))
        except TimeoutError:
            task = asyncio.create_task(one_call())
            running.add(task)
            task.add_done_callback(running.discard)
    if running:
        await asyncio.wait(running, timeout=3)


# ------------------------------------------------------------------ breaker config for the demo


async def configure_via_api(api_url: str, token: str, services: Sequence[str], config: dict,
                            deadline_s: float) -> bool:
    """PUT the demo config for every service; waits out 429s and an API that is still starting."""
    deadline = time.monotonic() + deadline_s
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    base = api_url.rstrip("/") + "/api/admin/circuit-breaker"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for service in services:
            while True:
                try:
                    async with session.put(f"{base}/{service}/config", data=codec.dumps(config),
                                           headers=headers) as response:
                        if response.status in (200, 202):
                            logger.info("configured %s (%d)", service, response.status)
                            break
                        body = await response.text()
                        if response.status == 429:
                            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                            continue
                        if response.status not in (502, 503, 504):
                            logger.warning("could not configure %s: %d %s", service, response.status, body[:300])
                            return False
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    logger.debug("API not answering yet: %r", exc)
                if time.monotonic() > deadline:
                    return False
                await asyncio.sleep(1.0)
    return True


async def configure_via_kafka(bootstrap: str, prefix: str, services: Sequence[str], config: dict) -> None:
    """Produce `config.update` commands directly (when the API is not running)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                **kafka_client_options())
    await producer.start()
    try:
        now = int(time.time() * 1000)
        for service in services:
            command = breaker_command(str(uuid.uuid4()), service, CONFIG_UPDATE, now, "fusebox-simulate", config)
            await producer.send_and_wait(BREAKER_COMMANDS.name(prefix), key=service.encode(),
                                         value=codec.dumps(command))
        logger.info("configured %d services through %s", len(services), BREAKER_COMMANDS.name(prefix))
    finally:
        await producer.stop()


async def configure(args: argparse.Namespace, client: FuseboxClient, services: Sequence[str]) -> None:
    if args.configure == "none":
        return
    if args.configure in ("api", "auto"):
        from fusebox.auth import mint_token
        from fusebox.settings import Settings

        settings = Settings.from_env()
        token = mint_token(settings.required_jwt_secret(), "fusebox-simulate", ttl_s=3600,
                           issuer=settings.jwt_issuer, audience=settings.jwt_audience)
        if await configure_via_api(args.api, token, services, DEMO_CONFIG, deadline_s=args.api_wait):
            return
        if args.configure == "api":
            logger.error("the API at %s did not take the demo config", args.api)
            return
        logger.warning("the API at %s did not answer; configuring through Kafka instead", args.api)
    await configure_via_kafka(client.bootstrap, client.topic_prefix, services, DEMO_CONFIG)


# ------------------------------------------------------------------ main


async def simulate(args: argparse.Namespace) -> int:
    profiles = PROFILES[: args.services]
    client = FuseboxClient(instance=args.instance)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tally = Tally()
    try:
        # incident services first: the API's rate limit lets ~10 config changes through at once
        await configure(args, client, [p.name for p in profiles])
        started = time.monotonic()
        total_weight = sum(p.weight for p in profiles)
        drivers = [asyncio.create_task(drive(client, p, args.rate * p.weight / total_weight,
                                             random.Random(f"{args.seed}:{p.name}"), args.incident_scale,
                                             started, tally, stop))
                   for p in profiles]
        for p in profiles:
            if p.incident:
                logger.info("incident: %s %s (× %.2f)", p.name, p.incident_name, args.incident_scale)
        deadline = started + args.duration if args.duration else None
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), args.report_every)
            except TimeoutError:
                pass
            stats = client.stats()
            logger.info("calls %s | sdk: delivered %d, buffered %d, dropped %d, stream %s",
                        dict(sorted(tally.calls.items())), stats.delivered, stats.buffered, stats.dropped,
                        stats.state_stream)
            if deadline is not None and time.monotonic() >= deadline:
                stop.set()
        await asyncio.gather(*drivers)
    finally:
        await client.aclose()
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    api_port = os.environ.get("FUSEBOX_API_PORT") or "8080"
    parser = argparse.ArgumentParser(prog="fusebox simulate", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=0, help="seconds to run; 0 = until SIGINT/SIGTERM")
    parser.add_argument("--rate", type=float, default=60.0, help="total calls per second over all services")
    parser.add_argument("--seed", type=int, default=7, help="seed of every random draw (repeatable runs)")
    parser.add_argument("--services", type=int, default=len(PROFILES), choices=range(3, len(PROFILES) + 1),
                        metavar="N", help=f"simulate the first N services (3..{len(PROFILES)})")
    parser.add_argument("--incident-scale", type=float, default=1.0,
                        help="stretch (>1) or compress (<1) the incident script and its 180 s cycle")
    parser.add_argument("--configure", choices=["auto", "api", "kafka", "none"], default="auto",
                        help="how to set the short demo breaker config (auto: API, else Kafka)")
    parser.add_argument("--api", default=f"http://127.0.0.1:{api_port}", help="the admin API's base URL")
    parser.add_argument("--api-wait", type=float, default=30.0, help="seconds to wait for the API to answer")
    parser.add_argument("--instance", default=None, help="the SDK instance name (default: host-pid)")
    parser.add_argument("--report-every", type=float, default=10.0, help="seconds between progress lines")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] = ()) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    return asyncio.run(simulate(args))
