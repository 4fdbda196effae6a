"""The gateway's access log: one line per request, with credentials never written.

A line holds the peer, method, path and query, status, size and duration — no headers, so neither
`Authorization` nor the WebSocket's `bearer.` subprotocol reaches it. A token a careless client puts in the
query string (which the WebSocket refuses) is written as `REDACTED`.
"""
from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from multidict import MultiDict

from fusebox.api.ws_admission import TOKEN_QUERY_PARAMETERS

ACCESS_LOGGER = logging.getLogger("fusebox.api.access")


def loggable_target(request: web.BaseRequest) -> str:
    url = request.rel_url
    if not any(name in url.query for name in TOKEN_QUERY_PARAMETERS):
        return url.raw_path_qs
    query = MultiDict((name, "REDACTED" if name in TOKEN_QUERY_PARAMETERS else value)
                      for name, value in url.query.items())
    return str(url.with_query(query))


class AccessLog(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %d %d %.1fms', request.remote, request.method, loggable_target(request),
                         response.status, response.body_length, time * 1000)
