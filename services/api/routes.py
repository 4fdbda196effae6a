"""HTTP and WebSocket handlers: thin adapters from requests to the components in keys.py."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from aiohttp import web

from fusebox.api import errors
from fusebox.api.admin_actions import AdminActions
from fusebox.api.auth import authenticate, principal_of
from fusebox.api.errors import ApiError, json_response, request_id_of
from fusebox.api.history import RETENTION
from fusebox.api.keys import (ACTIONS, AUDIT_TRAIL, COMMAND_BUS, DATABASE, HISTORY, HUB, METRICS, METRICS_READER,
                              OPENAPI_JSON, SETTINGS, TRANSITIONS, VIEW, WS_SLOTS)
from fusebox.api.metrics_reader import MetricsUnavailable
from fusebox.api.request_body import read_body
from fusebox.api.validation import parse_bool, parse_limit, parse_time, validate_service, validate_timeframe
from fusebox.api.ws import CLOSE_POLICY_VIOLATION, CLOSE_TRY_AGAIN_LATER
from fusebox.api.ws_admission import SUBPROTOCOL, check_offered_protocols, check_origin, websocket_token

logger = logging.getLogger("fusebox.api.routes")

BASE = "/api/admin/circuit-breaker"
HISTORY_DEFAULT_LIMIT = 100
AUDIT_DEFAULT_LIMIT = 100
AUDIT_MAX_LIMIT = 1000
# The audit log is never pruned: with no `since`, the trail starts at its first row.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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
    _only_query(request)
    _require_view(request)
    return json_response(None, body=request.app[VIEW].status_body())


async def service_state(request: web.Request) -> web.Response:
    _only_query(request)
    service = _known_service(request)
    return json_response(None, body=request.app[VIEW].encoded(service))


async def update_config(request: web.Request) -> web.Response:
    body = await read_body(request, request.app[SETTINGS].max_body_bytes)
    answer = await request.app[ACTIONS].update_config(principal_of(request), request.match_info["service"], body,
                                                      request_id_of(request))
    return json_response(answer.body, answer.status)


async def reset(request: web.Request) -> web.Response:
    return await _service_command(request, AdminActions.reset)


async def whatif(request: web.Request) -> web.Response:
    _only_query(request)
    body = await read_body(request, request.app[SETTINGS].max_body_bytes)
    _require_view(request)
    answer = await request.app[ACTIONS].whatif(principal_of(request), request.match_info["service"], body,
                                               request_id_of(request), datetime.now(timezone.utc))
    return json_response(answer.body, answer.status)


async def set_shadow_config(request: web.Request) -> web.Response:
    return await _service_command(request, AdminActions.set_shadow_config)


async def clear_shadow_config(request: web.Request) -> web.Response:
    return await _service_command(request, AdminActions.clear_shadow_config)


async def promote_shadow_config(request: web.Request) -> web.Response:
    return await _service_command(request, AdminActions.promote_shadow_config)


async def _service_command(request: web.Request, action) -> web.Response:
    """An admin action on a service the state view must know of: `action(actions, principal, service, body,
    request_id)`, answered as it answers."""
    body = await read_body(request, request.app[SETTINGS].max_body_bytes)
    _require_view(request)
    answer = await action(request.app[ACTIONS], principal_of(request), request.match_info["service"], body,
                          request_id_of(request))
    return json_response(answer.body, answer.status)


def _time_range(request: web.Request, default_since: datetime) -> tuple[datetime, datetime]:
    now = datetime.now(timezone.utc)
    since = parse_time("since", request.query.get("since")) or default_since
    until = parse_time("until", request.query.get("until")) or now
    if since > until:
        raise ApiError(400, errors.VALIDATION_FAILED, "the request is not valid",
                       [{"field": "since", "issue": "must not be after until"}])
    return since, until


def _only_query(request: web.Request, *known: str) -> None:
    """Refuse query parameters the route does not define, as its OpenAPI operation says."""
    unknown = sorted(set(request.query) - set(known))
    if unknown:
        raise ApiError(400, errors.VALIDATION_FAILED, "the request is not valid",
                       [{"field": name, "issue": "is not a known query parameter"} for name in unknown])


async def _read_period(request: web.Request, reader_key) -> web.Response:
    """GET …/{service}/history and …/transitions: `since`, `until` (within the retention) and `limit`."""
    _only_query(request, "since", "until", "limit")
    service = _known_service(request)
    since, until = _time_range(request, datetime.now(timezone.utc) - RETENTION)
    limit = parse_limit(request.query.get("limit"), HISTORY_DEFAULT_LIMIT, request.app[SETTINGS].history_max_limit)
    return json_response(await request.app[reader_key].read(service, since, until, limit))


async def history(request: web.Request) -> web.Response:
    return await _read_period(request, HISTORY)


async def transitions(request: web.Request) -> web.Response:
    _only_query(request, "since", "until", "limit", "shadow")
    service = _known_service(request)
    since, until = _time_range(request, datetime.now(timezone.utc) - RETENTION)
    limit = parse_limit(request.query.get("limit"), HISTORY_DEFAULT_LIMIT, request.app[SETTINGS].history_max_limit)
    shadow = parse_bool("shadow", request.query.get("shadow"))
    return json_response(await request.app[TRANSITIONS].read(service, since, until, limit, shadow))


async def _read_metrics(request: web.Request, read) -> tuple[str, dict]:
    """The `timeframe` of GET …/{service}/metrics and …/metrics/series, and what `read(reader, service,
    timeframe)` gives for it; PostgreSQL unavailable is 503."""
    _only_query(request, "timeframe")
    timeframe = validate_timeframe(request.query.get("timeframe"))
    service = _known_service(request)
    try:
        return timeframe, await read(request.app[METRICS_READER], service, timeframe)
    except MetricsUnavailable as exc:
        raise errors.dependency_unavailable(str(exc), 60) from exc


async def operation_metrics(request: web.Request) -> web.Response:
    timeframe, data = await _read_metrics(request, lambda reader, service, tf: reader.read(service, tf))
    return json_response({"timeframe": timeframe, "data": data})


async def metrics_series(request: web.Request) -> web.Response:
    _, series = await _read_metrics(request, lambda reader, service, tf: reader.read_series(service, tf))
    return json_response(series)


async def audit_trail(request: web.Request) -> web.Response:
    """Newest first. A service the view does not know is 404 only when it has no audit rows either."""
    _only_query(request, "since", "until", "limit")
    service = validate_service(request.match_info["service"])
    since, until = _time_range(request, EPOCH)
    limit = parse_limit(request.query.get("limit"), AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT)
    trail = request.app[AUDIT_TRAIL]
    entries = await trail.read(service, since, until, limit)
    if not entries and not await trail.has_rows(service):
        _require_view(request)
        if service not in request.app[VIEW]:
            raise ApiError(404, errors.UNKNOWN_SERVICE, f"no service named {service!r} is known")
    return json_response(entries)


async def fleet_metrics(request: web.Request) -> web.Response:
    """OperationMetrics of every known service in one answer: {"timeframe", "services": {name: data}}."""
    _only_query(request, "timeframe")
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
    """Origin, then credentials, then a connection slot; refusals after the upgrade are one envelope + a close code.

    Refusing after the upgrade lets a browser read why (it sees no HTTP status of a failed handshake). A plain GET
    without an upgrade gets the HTTP answer instead: 401/403 for its credentials, else 426 UPGRADE_REQUIRED.
    """
    app = request.app
    settings = app[SETTINGS]
    check_origin(request, settings.ws_allowed_origins)
    check_offered_protocols(request)
    ws = web.WebSocketResponse(timeout=2.0, max_msg_size=64 * 1024, protocols=(SUBPROTOCOL,))
    upgrading = ws.can_prepare(request).ok
    try:
        principal = authenticate(settings.token_policy, websocket_token(request))
    except ApiError as error:
        if not upgrading:
            raise
        return await _refuse_socket(request, ws, error, CLOSE_POLICY_VIOLATION)
    if not upgrading:
        raise ApiError(426, errors.UPGRADE_REQUIRED, "this route speaks only WebSocket",
                       headers={"Upgrade": "websocket"})
    slots = app[WS_SLOTS]
    refusal = slots.take(principal.sub)
    if refusal is not None:
        return await _refuse_socket(request, ws, refusal, CLOSE_TRY_AGAIN_LATER)
    try:
        await ws.prepare(request)
        hub = app[HUB]
        client = hub.connect(ws, request)
        try:
            async for message in ws:
                if message.type == web.WSMsgType.TEXT:
                    try:
                        hub.receive(client, message.data)
                    except Exception:  # a message must never end the socket's handler with a 500
                        logger.exception("could not handle a WebSocket message of session %s", client.session_id)
        finally:
            hub.disconnect(client)
            if client.writer is not None and not client.closing:
                client.writer.cancel()
    finally:
        slots.give_back(principal.sub)
    return ws


async def _refuse_socket(request: web.Request, ws: web.WebSocketResponse, error: ApiError,
                         close_code: int) -> web.WebSocketResponse:
    request.app[METRICS].rejected_requests.labels(code=error.code).inc()
    await ws.prepare(request)
    await ws.send_str(errors.envelope(error, request_id_of(request)).decode("utf-8"))
    await ws.close(code=close_code, message=error.code.encode("ascii"))
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
    app.router.add_post(f"{BASE}/{{service}}/whatif", whatif)
    app.router.add_post(f"{BASE}/{{service}}/reset", reset)
    app.router.add_put(f"{BASE}/{{service}}/shadow-config", set_shadow_config)
    app.router.add_delete(f"{BASE}/{{service}}/shadow-config", clear_shadow_config)
    app.router.add_post(f"{BASE}/{{service}}/shadow-config/promote", promote_shadow_config)
    app.router.add_get(f"{BASE}/{{service}}/history", history)
    app.router.add_get(f"{BASE}/{{service}}/transitions", transitions)
    app.router.add_get(f"{BASE}/{{service}}/metrics", operation_metrics)
    app.router.add_get(f"{BASE}/{{service}}/metrics/series", metrics_series)
    app.router.add_get(f"{BASE}/{{service}}/audit", audit_trail)
