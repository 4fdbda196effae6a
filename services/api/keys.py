"""Typed application keys: how handlers find the components that app.py wires."""
from __future__ import annotations

from aiohttp import web

from fusebox.api.admin_actions import AdminActions
from fusebox.api.audit import AuditTrail
from fusebox.api.commands import CommandBus
from fusebox.api.history import HistoryReader, TransitionReader
from fusebox.api.metrics import ApiMetrics
from fusebox.api.metrics_reader import MetricsReader
from fusebox.api.settings import ApiSettings
from fusebox.api.state_view import StateView
from fusebox.api.storage import Database
from fusebox.api.ws import WsHub
from fusebox.api.ws_admission import ConnectionSlots

SETTINGS = web.AppKey("settings", ApiSettings)
METRICS = web.AppKey("metrics", ApiMetrics)
OPENAPI_JSON = web.AppKey("openapi_json", bytes)
VIEW = web.AppKey("view", StateView)
HUB = web.AppKey("hub", WsHub)
DATABASE = web.AppKey("database", Database)
COMMAND_BUS = web.AppKey("command_bus", CommandBus)
ACTIONS = web.AppKey("actions", AdminActions)
HISTORY = web.AppKey("history", HistoryReader)
TRANSITIONS = web.AppKey("transitions", TransitionReader)
METRICS_READER = web.AppKey("metrics_reader", MetricsReader)
AUDIT_TRAIL = web.AppKey("audit_trail", AuditTrail)
WS_SLOTS = web.AppKey("ws_slots", ConnectionSlots)
