"""Validation: stable codes, field-level details, and the same verdicts as the JSON Schemas."""
from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fusebox.core import rules
from fusebox.core.codec import dumps
from fusebox.core.schemas import load_schema, schema_errors
from fusebox.core.validation import (MALFORMED_JSON, VALIDATION_FAILED, ValidationError, decode_command,
                                     decode_outcome, validate_command, validate_config_update,
                                     validate_reset_request, validate_service_name)

OUTCOME = {"service": "payments-api", "outcome": "success", "latencyMs": 12.4, "ts": 1_764_194_400_123,
           "eventId": "0b6f2c1e", "instance": "checkout-7f9c", "error": None}
CONFIG = {"failureThreshold": 5, "resetTimeoutMs": 30_000, "minHealthyPeriodMs": 60_000}
RESET = {"reason": "dependency fixed", "force": True,
         "metadata": {"triggeredBy": "oncall", "environment": "production", "notes": "INC-1"}}


def fields_of(error: ValidationError) -> list[str]:
    return [detail["field"] for detail in error.details]


def test_a_valid_outcome_is_returned_as_is():
    assert decode_outcome(dumps(OUTCOME)) == OUTCOME


def test_an_outcome_with_unknown_fields_is_accepted():
    assert decode_outcome(dumps({**OUTCOME, "region": "eu-west-1"}))


def test_an_outcome_without_the_optional_fields_is_accepted():
    body = {k: v for k, v in OUTCOME.items() if k not in ("instance", "error")}
    assert decode_outcome(dumps(body)) == body


@pytest.mark.parametrize(("field", "value"), [
    ("service", ""), ("service", "a b"), ("service", "x" * 201), ("service", 7), ("service", "svc\n"),
    ("outcome", "maybe"), ("outcome", None), ("latencyMs", -0.1), ("latencyMs", "5"), ("latencyMs", True),
    ("ts", 1.5), ("ts", 1_764_194_400_123.0), ("ts", -1), ("ts", True), ("ts", "1764194400123"),
    ("eventId", ""), ("eventId", 5), ("instance", 5), ("error", ["boom"]),
])
def test_an_outcome_with_a_bad_field_fails_naming_that_field(field, value):
    with pytest.raises(ValidationError) as raised:
        decode_outcome(dumps({**OUTCOME, field: value}))
    assert raised.value.code == VALIDATION_FAILED
    assert fields_of(raised.value) == [field]


@pytest.mark.parametrize("field", ["service", "outcome", "latencyMs", "ts", "eventId"])
def test_an_outcome_without_a_required_field_fails_naming_that_field(field):
    with pytest.raises(ValidationError) as raised:
        decode_outcome(dumps({k: v for k, v in OUTCOME.items() if k != field}))
    assert fields_of(raised.value) == [field]


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"\xff\xfe", b'{"a":NaN}'])
def test_bytes_that_are_not_json_fail_as_malformed(raw):
    with pytest.raises(ValidationError) as raised:
        decode_outcome(raw)
    assert raised.value.code == MALFORMED_JSON


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"x"', b"null"])
def test_json_that_is_not_an_object_fails_validation(raw):
    with pytest.raises(ValidationError) as raised:
        decode_outcome(raw)
    assert raised.value.code == VALIDATION_FAILED
    assert fields_of(raised.value) == ["$"]


def test_decoding_a_valid_outcome_gives_the_object():
    assert decode_outcome(dumps(OUTCOME)) == OUTCOME


def test_a_validation_error_renders_as_the_envelope_error_object():
    with pytest.raises(ValidationError) as raised:
        validate_config_update({**CONFIG, "failureThreshold": 0})
    assert raised.value.to_dict() == {
        "code": "VALIDATION_FAILED", "message": raised.value.message,
        "details": [{"field": "failureThreshold", "issue": "must be between 1 and 10000"}]}


@pytest.mark.parametrize("body", [
    CONFIG, {**CONFIG, "requestLimit": 1}, {**CONFIG, "requestLimit": 10_000},
    {"failureThreshold": 1, "resetTimeoutMs": 100, "minHealthyPeriodMs": 0},
    {"failureThreshold": 10_000, "resetTimeoutMs": 86_400_000, "minHealthyPeriodMs": 86_400_000},
])
def test_a_config_update_within_the_limits_is_accepted(body):
    assert validate_config_update(body) is body


@pytest.mark.parametrize(("body", "field"), [
    ({**CONFIG, "failureThreshold": 5.0}, "failureThreshold"),
    ({**CONFIG, "failureThreshold": True}, "failureThreshold"),
    ({**CONFIG, "failureThreshold": "5"}, "failureThreshold"),
    ({**CONFIG, "failureThreshold": 0}, "failureThreshold"),
    ({**CONFIG, "failureThreshold": 10_001}, "failureThreshold"),
    ({**CONFIG, "resetTimeoutMs": 99}, "resetTimeoutMs"),
    ({**CONFIG, "resetTimeoutMs": 86_400_001}, "resetTimeoutMs"),
    ({**CONFIG, "minHealthyPeriodMs": -1}, "minHealthyPeriodMs"),
    ({**CONFIG, "minHealthyPeriodMs": 1.5}, "minHealthyPeriodMs"),
    ({**CONFIG, "requestLimit": 0}, "requestLimit"),
    ({**CONFIG, "requestLimit": None}, "requestLimit"),
    ({**CONFIG, "requestLimit": False}, "requestLimit"),
    ({**CONFIG, "extra": 1}, "extra"),
    ({"resetTimeoutMs": 30_000, "minHealthyPeriodMs": 0}, "failureThreshold"),
])
def test_a_config_update_outside_the_limits_fails_naming_the_field(body, field):
    with pytest.raises(ValidationError) as raised:
        validate_config_update(body)
    assert raised.value.code == VALIDATION_FAILED
    assert fields_of(raised.value) == [field]


def test_a_config_update_that_is_not_an_object_fails():
    with pytest.raises(ValidationError):
        validate_config_update([1, 2])


@pytest.mark.parametrize("body", [
    RESET, {"reason": "x"}, {"reason": "x" * 500}, {"reason": "ok", "force": False},
    {"reason": "ok", "metadata": {"triggeredBy": "a", "environment": "staging"}},
])
def test_a_valid_reset_request_is_accepted(body):
    assert validate_reset_request(body) is body


@pytest.mark.parametrize(("body", "field"), [
    ({}, "reason"), ({"reason": ""}, "reason"), ({"reason": "x" * 501}, "reason"), ({"reason": "   "}, "reason"),
    ({"reason": 5}, "reason"), ({"reason": "ok", "force": "yes"}, "force"), ({"reason": "ok", "force": 1}, "force"),
    ({"reason": "ok", "metadata": {"environment": "prod"}}, "metadata.triggeredBy"),
    ({"reason": "ok", "metadata": {"triggeredBy": "a", "environment": "p", "x": 1}}, "metadata.x"),
    ({"reason": "ok", "metadata": "prod"}, "metadata"),
    ({"reason": "ok", "requestId": "r-1"}, "requestId"),
    ({"reason": "ok", "who": "me"}, "who"),
])
def test_a_bad_reset_request_fails_naming_the_field(body, field):
    with pytest.raises(ValidationError) as raised:
        validate_reset_request(body)
    assert fields_of(raised.value) == [field]


@pytest.mark.parametrize("example", load_schema("BreakerCommand")["examples"])
def test_the_command_examples_are_valid_commands(example):
    assert validate_command(example) is example
    assert decode_command(dumps(example)) == example


@pytest.mark.parametrize(("change", "field"), [
    ({"type": "launch"}, "type"), ({"commandId": "not-a-uuid"}, "commandId"), ({"issuedAt": 1.0}, "issuedAt"),
    ({"issuedBy": ""}, "issuedBy"), ({"payload": {"x": 1}}, "payload.x"), ({"service": ""}, "service"),
    ({"extra": 1}, "extra"),
])
def test_a_bad_command_fails_naming_the_field(change, field):
    tick = load_schema("BreakerCommand")["examples"][2]
    with pytest.raises(ValidationError) as raised:
        validate_command({**tick, **change})
    assert fields_of(raised.value) == [field]


def test_a_config_command_with_a_bad_payload_names_the_payload_field():
    command = copy.deepcopy(load_schema("BreakerCommand")["examples"][0])
    command["payload"]["failureThreshold"] = 0
    with pytest.raises(ValidationError) as raised:
        validate_command(command)
    assert fields_of(raised.value) == ["payload.failureThreshold"]


def test_service_names_in_paths_are_checked_like_event_service_names():
    assert validate_service_name("payments-api:v2_eu.1") == "payments-api:v2_eu.1"
    with pytest.raises(ValidationError):
        validate_service_name("../etc")


# --- the hand-written checks give the JSON Schemas' verdicts ------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10, max_value=300_000_000_000_000),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
    st.sampled_from(["success", "failure", "timeout", "rejected", "svc-1", "x" * 201, "", " ",
                     "3f0c9a6e-1b2d-4c3e-8f4a-5b6c7d8e9f00", "config.update", "tick", "breaker.reset"]),
)
json_values = st.one_of(json_scalars, st.lists(json_scalars, max_size=2),
                        st.dictionaries(st.text(max_size=4), json_scalars, max_size=2))


def _no_schema_quirks(value) -> bool:
    """JSON Schema counts 5.0 as an integer and Python's `$` matches before a final newline:
    the contract says "integers only" and "no newline", so such cases are tested by hand above."""
    if isinstance(value, float):
        return not value.is_integer()
    if isinstance(value, str):
        return "\n" not in value
    if isinstance(value, list):
        return all(_no_schema_quirks(v) for v in value)
    if isinstance(value, dict):
        return all(_no_schema_quirks(v) for v in value.values())
    return True


def mutations(base: dict):
    keys = sorted(base)
    return st.tuples(
        st.dictionaries(st.sampled_from(keys + ["extra"]), json_values, max_size=3),
        st.lists(st.sampled_from(keys), max_size=2),
    ).map(lambda change: {**{k: v for k, v in base.items() if k not in change[1]}, **change[0]})


BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@BOUNDED
@given(mutations(OUTCOME))
def test_outcome_checks_agree_with_the_call_outcome_schema(body):
    assume(_no_schema_quirks(body))
    schema_ok = schema_errors("CallOutcome", body) == []
    assert rules.outcome_ok(body) is schema_ok
    assert (rules.outcome_issues(body) == []) is schema_ok


@BOUNDED
@given(mutations({**CONFIG, "requestLimit": 3}))
def test_config_checks_agree_with_the_config_update_request_schema(body):
    assume(_no_schema_quirks(body))
    assert (rules.config_issues(body) == []) is (schema_errors("ConfigUpdateRequest", body) == [])


@BOUNDED
@given(mutations(RESET))
def test_reset_checks_agree_with_the_reset_request_schema(body):
    assume(_no_schema_quirks(body))
    assert (rules.reset_issues(body) == []) is (schema_errors("ResetRequest", body) == [])


@BOUNDED
@given(st.sampled_from(load_schema("BreakerCommand")["examples"]).flatmap(mutations))
def test_command_checks_agree_with_the_breaker_command_schema(body):
    assume(_no_schema_quirks(body))
    assert (rules.command_issues(body) == []) is (schema_errors("BreakerCommand", body) == [])


KNOWN_SERVICES = set()


@BOUNDED
@given(mutations(OUTCOME))
def test_remembering_known_services_gives_the_same_answers_as_checking_each_time(body):
    assume(_no_schema_quirks(body))
    assert rules.outcome_ok(body, KNOWN_SERVICES) is rules.outcome_ok(body)
    assert rules.outcome_ok(body, KNOWN_SERVICES) is rules.outcome_ok(body)


def test_only_valid_service_names_are_remembered_and_the_memory_is_bounded(monkeypatch):
    known: set[str] = set()
    assert rules.outcome_ok({**OUTCOME, "service": "bad name!"}, known) is False
    assert known == set()
    monkeypatch.setattr(rules, "KNOWN_SERVICES_MAX", 2)
    for name in ("a", "b", "c"):
        assert rules.outcome_ok({**OUTCOME, "service": name}, known) is True
    assert known == {"c"}
