"""Hystrix's failure-rate rule by hand-computed cases (docs/trip-rules.md#side-by-side): its
breaker reads a health snapshot of a rolling window on the JVM's clock, which a call sequence
cannot drive call by call, so the doc's table gives windows and Hystrix's decision on each, from
its documented semantics. The Hystrix column is recomputed here from those rules, and the Fusebox
column is what the fold decides on the same calls within 10 s of event time, failures last.
"""
from __future__ import annotations

from tests.reference.support import ROOT, fusebox_decisions

MARKER = "<!-- hystrix-cases: the test reads the rows of this table -->"


def table() -> list[dict[str, str]]:
    text = (ROOT / "docs" / "trip-rules.md").read_text()
    lines = text[text.index(MARKER) + len(MARKER):].strip().splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))))
    return rows


def hystrix_error_percentage(errors: int, total: int) -> int:
    # HealthCounts: (int) ((double) errorCount / totalCount * 100), 0 without requests
    return int(errors / total * 100) if total else 0


def hystrix_opens(errors: int, total: int, volume: int, threshold: int) -> bool:
    # HystrixCircuitBreaker: no trip below requestVolumeThreshold, nor below errorThresholdPercentage
    return total >= volume and hystrix_error_percentage(errors, total) >= threshold


def test_the_documented_hystrix_cases_and_what_the_fold_decides_on_each():
    rows = table()
    assert len(rows) >= 10
    for row in rows:
        successes, failures, timeouts, rejected = (int(row[k]) for k in (
            "successes", "failures", "timeouts", "short-circuited (`rejected`)"))
        volume, threshold = int(row["`requestVolumeThreshold`"]), int(row["`errorThresholdPercentage`"])
        errors, total = failures + timeouts, successes + failures + timeouts  # short-circuited: not requests
        assert hystrix_error_percentage(errors, total) == int(row["Hystrix's error %"]), row
        hystrix = "open" if hystrix_opens(errors, total, volume, threshold) else "closed"
        assert row["Hystrix"].split(" ")[0] == hystrix, row
        calls = "S" * successes + "R" * rejected + "F" * failures + "T" * timeouts
        rules = {"failureRateThreshold": threshold, "slidingWindowType": "time", "slidingWindowSize": 10,
                 "minimumNumberOfCalls": volume}
        ours = fusebox_decisions(rules, calls)
        assert ("open" if ours.endswith("O") else "closed") == row["Fusebox"], row
    # the table holds cases of both decisions and the ones where the two part
    assert {row["Fusebox"] for row in rows} == {"open", "closed"}
    assert any(row["Hystrix"].split(" ")[0] != row["Fusebox"] for row in rows)
