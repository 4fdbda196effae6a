"""HTTP and WebSocket handlers: thin adapters from requests to the components in keys.py."""
from __future__ import annotations

from datetime import datetime, timezone

from aiohttp import web

from fusebox.api import errors
from fusebox.api.auth import authenticate, principal_of
from fusebox.api.errors import ApiError, json_response, request_id_of
from fusebox.api.history import RETENTION
from fusebox.api.keys import (ACTIONS, DATABASE, HISTORY, HUB, METRICS, METRICS_READER, OPENAPI_JSON, SETTINGS,
                              VIEW, COMMAND_BUS)
from fusebox.api.metrics_reader import MetricsUnavailable
from fusebox.api.request_body import read_body
from fusebox.api.validation import parse_limit, parse_time, validate_service, validate_timeframe
from fusebox.api.ws import CLOSE_POLICY_VIOLATION
from fusebox.auth import bearer_token

BASE = "/api/admin/circuit-breaker"
HISTORY_DEFAULT_LIMIT = 100


def _require_view(request: web.Request) -> None:
    if not request.app[VIEW].caught_up.is_set():
        raise errors.dependency_unavailable("the breaker state view is still loading from Kafka", 1)


def _known_service(request: web.Request) -> str:
    service = validate_service(request.match_info["service"])
    _require_view(request)
    if service not in request.app[VIEW]:
        raise ApiError(404, errors.UNKNOWN_SERVICE, f"no service named {service!r} is known")
    return service


async def status(request: web.Request) -> web.Response:
    _require_view(request)
    return json_response(None, body=request.app[VIEW].status_body())


async def service_state(request: web.Request) -> web.Response:
    service = _known_service(request)
    return json_response(None, body=request.app[VIEW].encoded(service))


async def update_config(request: web.Request) -> web.Response:
    body = await read_body(request, request.app[SETTINGS].max_body_bytes)
    answer = await request.app[ACTIONS].update_config(principal_of(request), request.match_info["service"], body,
                                                      request_id_of(request))
    return json_response(answer.body, answer.status)


async def reset(request: web.Request) -> web.Response:
    body = await read_body(request, request.app[SETTINGS].max_body_bytes)
    _require_view(request)
    answer = await request.app[ACTIONS].reset(principal_of(request), request.match_info["service"], body,
                                              request_id_of(request))
    return json_response(answer.body, answer.status)


async def history(request: web.Request) -> web.Response:
    service = _known_service(request)
    now = datetime.now(timezone.utc)
    since = parse_time("since", request.query.get("since")) or now - RETENTION
    until = parse_time("until", request.query.get("until")) or now
    if since > until:
        raise ApiError(400, errors.VALIDATION_FAILED, "the request is not valid",
                       [{"field": "since", "issue": "must not be after until"}])
    limit = parse_limit(request.query.get("limit"), HISTORY_DEFAULT_LIMIT, request.app[SETTINGS].history_max_limit)
    return json_response(await request.app[HISTORY].read(service, since, until, limit))


async def operation_metrics(request: web.Request) -> web.Response:
    timeframe = validate_timeframe(request.query.get("timeframe"))
    service = _known_service(request)
    try:
        data = await request.app[METRICS_READER].read(service, timeframe)
    except MetricsUnavailable as exc:
        raise errors.dependency_unavailable(str(exc), 60) from exc
    return json_response({"timeframe": timeframe, "data": data})


async def fleet_metrics(request: web.Request) -> web.Response:
    """OperationMetrics of every known service in one answer: {"timeframe", "services": {name: data}}."""
    unknown = sorted(set(request.query) - {"timeframe"})
    if unknown:
        raise ApiError(400, errors.VALIDATION_FAILED, "the request is not valid",
                       [{"field": name, "issue": "is not a known query parameter"} for name in unknown])
    timeframe = validate_timeframe(request.query.get("timeframe"))
    _require_view(request)
    try:
        data = await request.app[METRICS_READER].read_fleet(timeframe, request.app[VIEW].states())
    except MetricsUnavailable as exc:
        raise errors.dependency_unavailable(str(exc), 60) from exc
    return json_response({"timeframe": timeframe, "services": data})


async def openapi(request: web.Request) -> web.Response:
    return json_response(None, body=request.app[OPENAPI_JSON])


async def websocket(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    ws = web.WebSocketResponse(timeout=2.0, max_msg_size=64 * 1024)
    token = bearer_token(request.headers.get("Authorization")) or request.query.get("access_token")
    try:
        authenticate(app[SETTINGS].token_policy, token)
    except ApiError as error:
        app[METRICS].rejected_requests.labels(code=error.code).inc()
        await ws.prepare(request)
        await ws.send_str(errors.envelope(error, request_id_of(request)).decode("utf-8"))
        await ws.close(code=CLOSE_POLICY_VIOLATION, message=error.code.encode("ascii"))
        return ws
    await ws.prepare(request)
    hub = app[HUB]
    client = hub.connect(ws, request)
    try:
        async for message in ws:
            if message.type == web.WSMsgType.TEXT:
                hub.receive(client, message.data)
    finally:
        hub.disconnect(client)
        if client.writer is not None and not client.closing:
            client.writer.cancel()
    return ws


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks = {
        "stateView": app[VIEW].caught_up.is_set(),
        "commandResults": app[COMMAND_BUS].results_ready.is_set(),
        "postgres": await app[DATABASE].ping(),
    }
    ready = all(checks.values())
    return json_response({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)


async def prometheus(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.content_type})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/api/admin/openapi.json", openapi)
    app.router.add_get("/api/admin/ws", websocket)
    # The fleet routes come first, so `GET …/status` and `GET …/metrics` are the fleet's; a service
    # of either name is read at `…/{service}/state`, which reads every service whatever its name.
    app.router.add_get(f"{BASE}/status", status)
    app.router.add_get(f"{BASE}/metrics", fleet_metrics)
    app.router.add_get(f"{BASE}/{{service}}", service_state)
    app.router.add_get(f"{BASE}/{{service}}/state", service_state)
    app.router.add_put(f"{BASE}/{{service}}/config", update_config)
    app.router.add_post(f"{BASE}/{{service}}/reset", reset)
    app.router.add_get(f"{BASE}/{{service}}/history", history)
    app.router.add_get(f"{BASE}/{{service}}/metrics", operation_metrics)
