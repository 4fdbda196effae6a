"""The gateway's Prometheus metrics, on a registry of its own so that several apps can share a process."""
from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class ApiMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.ws_connections = Gauge("fusebox_api_ws_connections", "Open admin WebSocket connections", registry=r)
        self.ws_messages_pushed = Counter("fusebox_api_ws_messages_pushed_total",
                                          "service:update messages queued to WebSocket clients", registry=r)
        self.ws_dropped_clients = Counter("fusebox_api_ws_dropped_clients_total",
                                          "WebSocket clients closed by the server", ["reason"], registry=r)
        self.ws_pong_rtt = Histogram("fusebox_api_ws_pong_rtt_seconds", "Heartbeat round trip to clients",
                                     buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=r)
        self.config_changes = Counter("fusebox_api_config_changes_total", "Config update requests by outcome",
                                      ["outcome"], registry=r)
        self.resets = Counter("fusebox_api_resets_total", "Reset requests by outcome", ["outcome"], registry=r)
        self.whatifs = Counter("fusebox_api_whatifs_total", "What-if requests by outcome", ["outcome"], registry=r)
        self.rejected_requests = Counter("fusebox_api_rejected_requests_total", "Requests answered with an error",
                                         ["code"], registry=r)
        self.request_latency = Histogram("fusebox_api_request_duration_seconds", "REST request latency",
                                         ["method", "route", "status"], registry=r)
        self.dependency_breaker_open = Gauge("fusebox_api_dependency_breaker_open",
                                             "1 while the gateway's breaker around a dependency is open",
                                             ["dependency"], registry=r)
        self.view_services = Gauge("fusebox_api_state_view_services", "Services in the consumed state view",
                                   registry=r)
        self.view_caught_up = Gauge("fusebox_api_state_view_caught_up", "1 once the state view has caught up",
                                    registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def make_request_metrics_middleware(metrics: ApiMetrics):
    """Observe every REST request's latency by route template, method and final status."""

    @web.middleware
    async def request_metrics_middleware(request, handler):
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            metrics.request_latency.labels(request.method, route, str(status)).observe(time.perf_counter() - started)

    return request_metrics_middleware
