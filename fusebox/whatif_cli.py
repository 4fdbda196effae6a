"""`fusebox whatif`: what a candidate config would have done over the retained log of one service.

    fusebox whatif --service payments-api --since 7d --config '{"failureThreshold": 3}'

`--json` prints the answer of `POST /api/admin/circuit-breaker/{service}/whatif` (docs/whatif.md);
without it, the two sides in a table. Reads Kafka directly (FUSEBOX_KAFKA_BOOTSTRAP,
FUSEBOX_TOPIC_PREFIX; FUSEBOX_MAX_CLOCK_SKEW_MS as the workers'), and writes nothing anywhere.
Exit 0 with an answer; 1 with the error envelope's `error` on stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone

from fusebox.core.codec import DecodeError, dumps, loads
from fusebox.core.isotime import ms_of_datetime
from fusebox.core.validation import MALFORMED_JSON, VALIDATION_FAILED, ValidationError
from fusebox.aggregator.settings import max_clock_skew_ms_from_env
from fusebox.settings import Settings
from fusebox.whatif_log import (RANGE_BEYOND_RETENTION, WHATIF_TOO_LONG, RangeBeyondRetention, WhatIfTooLong,
                                run_whatif, service_is_known)

UNKNOWN_SERVICE = "UNKNOWN_SERVICE"
DEFAULT_TIME_LIMIT_S = 300.0
_AGO = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class CliError(Exception):
    def __init__(self, code: str, message: str, details: list[dict] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details or []


def parse_when(field: str, raw: str, now_ms: int) -> int:
    """`7d`, `24h`, `30m`, `90s` ago, or an ISO 8601 time (naive means UTC), in epoch ms."""
    ago = _AGO.match(raw)
    if ago:
        return now_ms - int(ago.group(1)) * _UNIT_MS[ago.group(2)]
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(VALIDATION_FAILED, f"--{field} must be like 7d, 24h, 30m or an ISO 8601 time",
                       [{"field": field, "issue": "must be a duration ago (7d, 24h, 30m, 90s) or an ISO 8601 time"}])
    return ms_of_datetime(value if value.tzinfo else value.replace(tzinfo=timezone.utc))


def table(answer: dict) -> str:
    actual, candidate = answer["actual"], answer["candidate"]
    rows = [("", "actual", "candidate"),
            ("incidents", actual["incidents"], candidate["incidents"]),
            ("time open", _duration(actual["timeOpenMs"]), _duration(candidate["timeOpenMs"])),
            ("rejected calls", actual["rejectedCalls"], candidate["rejectedCalls"]),
            ("transitions", _count(actual), _count(candidate))]
    for name in sorted(set(actual["config"]) | set(candidate["config"])):
        rows.append((name, actual["config"].get(name, "-"), candidate["config"].get(name, "-")))
    width = max(len(str(row[0])) for row in rows)
    lines = [f"{answer['service']}  {answer['since']} .. {answer['until']}  "
             f"({answer['eventsFolded']} events folded; log reaches back to {answer['oldestAvailable']})", ""]
    lines += [f"{str(a):<{width}}  {str(b):>18}  {str(c):>18}" for a, b, c in rows]
    for side in ("actual", "candidate"):
        lines += ["", f"{side} transitions:"]
        lines += [f"  {t['at']}  {t['from']:>9} -> {t['to']:<9}  {t['cause']['rule']}"
                  for t in answer[side]["transitions"]] or ["  none"]
    return "\n".join(lines)


def _count(side: dict) -> str:
    return f"{len(side['transitions'])}{'+ (truncated)' if side['truncated'] else ''}"


def _duration(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


async def answer_for(settings: Settings, service: str, since_ms: int, until_ms: int, config,
                     max_clock_skew_ms: int, time_limit_s: float) -> dict:
    if not await service_is_known(settings.kafka_bootstrap, settings.topic_prefix, service):
        raise CliError(UNKNOWN_SERVICE, f"no service named {service!r} has a breaker state")
    try:
        return await run_whatif(settings.kafka_bootstrap, settings.topic_prefix, service, since_ms, until_ms, config,
                                max_clock_skew_ms=max_clock_skew_ms, time_limit_s=time_limit_s)
    except RangeBeyondRetention as exc:
        raise CliError(RANGE_BEYOND_RETENTION, str(exc), exc.details()) from exc
    except WhatIfTooLong as exc:
        raise CliError(WHATIF_TOO_LONG, str(exc)) from exc
    except ValidationError as exc:
        raise CliError(exc.code, exc.message, exc.details) from exc


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="fusebox whatif", description=__doc__.splitlines()[0])
    parser.add_argument("--service", required=True)
    parser.add_argument("--since", required=True, help="7d, 24h, 30m, 90s ago, or an ISO 8601 time")
    parser.add_argument("--until", help="as --since; default now")
    parser.add_argument("--config", required=True, help="the candidate: ConfigUpdateRequest fields as JSON, "
                                                        "over the config in force at --since")
    parser.add_argument("--json", action="store_true", help="print the REST answer's JSON")
    parser.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT_S, help="seconds")
    args = parser.parse_args(list(argv))
    now_ms = int(time.time() * 1000)
    try:
        since_ms = parse_when("since", args.since, now_ms)
        until_ms = now_ms if args.until is None else parse_when("until", args.until, now_ms)
        if since_ms > until_ms:
            raise CliError(VALIDATION_FAILED, "--since is after --until",
                           [{"field": "since", "issue": "must not be after until"}])
        try:
            config = loads(args.config)
        except DecodeError as exc:
            raise CliError(MALFORMED_JSON, f"--config is not JSON: {exc}") from exc
        answer = asyncio.run(answer_for(Settings.from_env(), args.service, since_ms, until_ms, config,
                                        max_clock_skew_ms_from_env(), args.time_limit))
    except CliError as exc:
        sys.stderr.write(dumps({"error": {"code": exc.code, "message": exc.message, "details": exc.details}})
                         .decode() + "\n")
        return 1
    print(dumps(answer).decode() if args.json else table(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
