"""The JSON Schemas themselves: well-formed, documented, with examples that validate."""
from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from fusebox.core import rules
from fusebox.core.admission import DEAD_LETTER_REASONS
from fusebox.core.schemas import SCHEMA_DIR, all_schemas, file_by_title, load_schema, schema_errors
from fusebox.core.topics import ALL_TOPICS

SCHEMAS = sorted(all_schemas())
NOT_PUBLIC = {"MetricRollup"}  # the aggregator's feed to its own rollup table, not a client-facing message


def test_the_schema_folder_has_one_schema_per_contract_type():
    assert set(file_by_title()) >= {
        "CallOutcome", "BreakerCommand", "CommandResult", "ServiceState", "HealthHistoryEntry",
        "OperationMetrics", "HeartbeatMessage", "ServiceUpdateMessage", "ServiceBatchMessage", "ConnectionStatusMessage",
        "ConfigUpdateRequest", "ConfigUpdateResponse", "ResetRequest", "ResetResponse", "ErrorEnvelope",
        "DeadLetter", "MetricsSeries", "AuditEntry"}


@pytest.mark.parametrize("name", SCHEMAS)
def test_each_schema_is_valid_json_schema_2020_12_and_documented(name):
    doc = load_schema(name)
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"].endswith("/" + name)
    assert doc["title"] and doc["description"]
    assert isinstance(doc["examples"], list) and doc["examples"]


@pytest.mark.parametrize("name", SCHEMAS)
def test_each_schema_example_validates(name):
    for example in load_schema(name)["examples"]:
        assert schema_errors(name, example) == [], example


def test_every_topic_value_in_the_registry_names_a_schema():
    for spec in ALL_TOPICS:
        if spec.value not in NOT_PUBLIC:
            assert spec.value in file_by_title(), spec.suffix


def test_the_error_envelope_lists_every_stable_code():
    codes = load_schema("ErrorEnvelope")["properties"]["error"]["properties"]["code"]["enum"]
    assert codes == ["UNAUTHORIZED", "FORBIDDEN", "MALFORMED_JSON", "VALIDATION_FAILED", "UNKNOWN_SERVICE",
                     "RATE_LIMITED", "DEPENDENCY_UNAVAILABLE", "PAYLOAD_TOO_LARGE", "NOT_FOUND",
                     "METHOD_NOT_ALLOWED", "INTERNAL", "TOO_MANY_CONNECTIONS", "UPGRADE_REQUIRED",
                     "RANGE_BEYOND_RETENTION", "WHATIF_TOO_LONG", "NO_SHADOW_CONFIG"]


def test_the_config_request_schema_has_the_ranges_the_code_enforces():
    properties = load_schema("ConfigUpdateRequest")["properties"]
    for name, (low, high) in rules.CONFIG_RANGES.items():
        assert (properties[name]["minimum"], properties[name]["maximum"]) == (low, high)
    assert load_schema("ConfigUpdateRequest")["required"] == list(rules.CONFIG_REQUIRED)


def test_the_outcome_schema_bounds_latency_as_the_code_does():
    latency = load_schema("CallOutcome")["properties"]["latencyMs"]
    assert (latency["minimum"], latency["maximum"]) == (0, rules.LATENCY_MAX_MS)


def test_the_dead_letter_schema_and_the_docs_list_every_reason_code_the_aggregator_gives():
    codes = load_schema("DeadLetter")["properties"]["fusebox.error.code"]["enum"]
    assert codes == list(DEAD_LETTER_REASONS)
    semantics = (SCHEMA_DIR.parent / "docs" / "breaker-semantics.md").read_text(encoding="utf-8")
    table = semantics.split("| `fusebox.error.code` | when |", 1)[1].split("\n\n", 1)[0]
    listed = [line.split("|")[1].strip(" `") for line in table.splitlines() if line.startswith("| `")]
    assert listed == codes


def test_a_schema_with_a_wrong_value_reports_where():
    errors = schema_errors("CallOutcome", {"service": "a", "outcome": "maybe", "latencyMs": 1, "ts": 1, "eventId": "e"})
    assert errors and errors[0].startswith("outcome:")


def test_the_readme_names_every_schema_file():
    readme = (SCHEMA_DIR / "README.md").read_text(encoding="utf-8")
    for name in SCHEMAS:
        assert name in readme
