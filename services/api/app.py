"""`init_app()`: the one place that builds the gateway's components and ties their lifetimes to the app's."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiokafka.errors import KafkaError

from fusebox.api import keys
from fusebox.api.admin_actions import AdminActions
from fusebox.api.whatif import WhatIfRunner
from fusebox.api.audit import AuditLog, AuditTrail
from fusebox.api.dashboard_files import DASHBOARD_DIR, DashboardFiles, add_dashboard_routes
from fusebox.api.auth import make_auth_middleware
from fusebox.api.dependency_guard import OPEN, DependencyBreaker
from fusebox.api.commands import CommandBus
from fusebox.api.errors import make_error_middleware
from fusebox.api.history import HistoryReader, TransitionReader
from fusebox.api.metrics import ApiMetrics, make_request_metrics_middleware
from fusebox.api.metrics_reader import CachedMetricsReader, MetricsReader, RollupTableMetricsReader
from fusebox.api.openapi import openapi_json
from fusebox.api.ratelimit import InProcessTokenBucket, RateLimiter, RedisTokenBucket
from fusebox.api.routes import add_routes
from fusebox.api.settings import ApiSettings
from fusebox.api.state_view import StateView, StateViewFollower
from fusebox.api.storage import POSTGRES_FAILURES, Database, open_pool
from fusebox.api.ws import WsHub
from fusebox.api.ws_admission import ConnectionSlots
from fusebox.core.topics import BREAKER_COMMANDS, BREAKER_STATES, COMMAND_RESULTS

logger = logging.getLogger("fusebox.api")


def init_app(settings: ApiSettings, *, metrics_reader: MetricsReader | None = None,
             dashboard_dir: Path = DASHBOARD_DIR) -> web.Application:
    """The gateway app. `metrics_reader` replaces the default reader of operation metrics (rollups in PostgreSQL);
    `dashboard_dir` the folder the dashboard is served from."""
    metrics = ApiMetrics()
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            make_request_metrics_middleware(metrics),
            make_error_middleware(lambda request, error: metrics.rejected_requests.labels(code=error.code).inc()),
            make_auth_middleware(settings.token_policy),
        ],
    )
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = metrics
    app[keys.OPENAPI_JSON] = openapi_json()
    app[keys.WS_SLOTS] = ConnectionSlots(settings.ws_max_connections_per_admin, settings.ws_max_connections)
    app.cleanup_ctx.append(_gateway(metrics_reader))
    app.on_shutdown.append(_say_goodbye)
    add_routes(app)
    add_dashboard_routes(app, DashboardFiles(dashboard_dir))
    return app


def _gateway(metrics_reader: MetricsReader | None):
    async def gateway(app: web.Application) -> AsyncIterator[None]:
        settings, metrics = app[keys.SETTINGS], app[keys.METRICS]

        def breaker_state_changed(dependency: str, state: str) -> None:
            metrics.dependency_breaker_open.labels(dependency=dependency).set(1 if state == OPEN else 0)

        breaker_options = dict(failure_threshold=settings.breaker_failure_threshold,
                               reset_timeout_s=settings.breaker_reset_timeout_ms / 1000, on_state=breaker_state_changed)
        kafka_breaker = DependencyBreaker("kafka", failure_types=(KafkaError, OSError), **breaker_options)
        postgres_breaker = DependencyBreaker("postgres", failure_types=POSTGRES_FAILURES, **breaker_options)
        for dependency in ("kafka", "postgres"):
            metrics.dependency_breaker_open.labels(dependency=dependency).set(0)

        pool = open_pool(settings.database_url, settings.schema, settings.db_timeout_ms / 1000)
        await pool.open(wait=False)
        db = Database(pool, postgres_breaker, settings.db_timeout_ms / 1000)
        redis = _redis(settings)
        prefix = settings.topic_prefix

        view = StateView()
        hub = WsHub(view, metrics, heartbeat_s=settings.heartbeat_ms / 1000, heartbeat_misses=settings.heartbeat_misses,
                    batch_s=settings.ws_batch_ms / 1000, max_pending_bytes=settings.ws_client_max_pending_bytes,
                    resume_buffer=settings.ws_resume_buffer)
        view.subscribe(hub.on_change)
        view.subscribe(lambda service, state: metrics.view_services.set(len(view)))
        follower = StateViewFollower(view, settings.kafka_bootstrap, BREAKER_STATES.name(prefix),
                                     on_progress=lambda: metrics.view_caught_up.set(1 if view.caught_up.is_set() else 0))
        bus = CommandBus(bootstrap=settings.kafka_bootstrap, commands_topic=BREAKER_COMMANDS.name(prefix),
                         results_topic=COMMAND_RESULTS.name(prefix), breaker=kafka_breaker,
                         send_timeout_s=settings.kafka_send_timeout_ms / 1000,
                         result_timeout_s=settings.command_timeout_ms / 1000)
        limiter: RateLimiter = (
            RedisTokenBucket(redis, f"fusebox:{prefix}ratelimit:", settings.rate_limit_burst, settings.rate_limit_per_minute)
            if redis is not None else InProcessTokenBucket(settings.rate_limit_burst, settings.rate_limit_per_minute))

        app[keys.VIEW] = view
        app[keys.HUB] = hub
        app[keys.DATABASE] = db
        app[keys.COMMAND_BUS] = bus
        whatifs = WhatIfRunner(settings.kafka_bootstrap, prefix, settings.max_clock_skew_ms, settings.whatif_time_limit_s)
        app[keys.ACTIONS] = AdminActions(view, bus, AuditLog(db), limiter, metrics, whatifs)
        app[keys.HISTORY] = HistoryReader(db)
        app[keys.TRANSITIONS] = TransitionReader(db)
        app[keys.AUDIT_TRAIL] = AuditTrail(db)
        app[keys.METRICS_READER] = CachedMetricsReader(metrics_reader or RollupTableMetricsReader(db),
                                                       settings.metrics_cache_ttl_s, redis, f"fusebox:{prefix}")
        tasks = [asyncio.create_task(coro, name=name) for name, coro in (
            ("breaker-states-follower", follower.run()),
            ("command-results-follower", bus.follow_results()),
            ("ws-flusher", hub.run_flusher()),
            ("ws-heartbeat", hub.run_heartbeat()),
        )]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await bus.close()
            if redis is not None:
                await redis.aclose()
            await pool.close()

    return gateway


def _redis(settings: ApiSettings):
    if not settings.redis_url:
        return None
    import redis.asyncio as redis_asyncio

    return redis_asyncio.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)


async def _say_goodbye(app: web.Application) -> None:
    if keys.HUB in app:
        await app[keys.HUB].shutdown()
