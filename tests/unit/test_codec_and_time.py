"""The codec, the ISO time helpers and the topic registry."""
from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from fusebox.core import codec
from fusebox.core.isotime import MAX_EPOCH_MS, iso_ms, iso_or_none, parse_iso_ms
from fusebox.core.topics import ALL_TOPICS, BREAKER_COMMANDS, BREAKER_STATES, CALL_OUTCOMES


@settings(max_examples=200, deadline=None)
@given(st.integers(0, MAX_EPOCH_MS))
def test_iso_time_matches_the_standard_library_and_parses_back(ms):
    # Given any representable instant / When it is formatted
    text = iso_ms(ms)
    # Then it is what datetime says, with milliseconds and Z, and it parses back exactly
    expected = datetime.fromtimestamp(ms // 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    assert text == f"{expected}.{ms % 1000:03d}Z"
    assert parse_iso_ms(text) == ms


def test_iso_time_of_the_design_example():
    assert iso_ms(1_764_194_400_123) == "2025-11-26T22:00:00.123Z"
    assert iso_or_none(None) is None


def test_a_timestamp_with_an_offset_is_parsed_as_utc():
    assert parse_iso_ms("2025-11-26T23:00:00.123+01:00") == 1_764_194_400_123


def test_the_codec_round_trips_and_sorts_keys_for_canonical_bytes():
    value = {"b": 1, "a": [1.5, None, "x"]}
    assert codec.loads(codec.dumps(value)) == value
    assert codec.dumps_sorted(value) == b'{"a":[1.5,null,"x"],"b":1}'


def test_the_codec_rejects_what_is_not_json():
    try:
        codec.loads(b"{nope")
    except codec.DecodeError:
        return
    raise AssertionError("DecodeError expected")


def test_inputs_are_co_partitioned_and_states_are_compacted():
    assert CALL_OUTCOMES.partitions == BREAKER_COMMANDS.partitions
    assert CALL_OUTCOMES.key == BREAKER_COMMANDS.key == "service"
    assert BREAKER_STATES.config()["cleanup.policy"] == "compact"
    assert len({spec.suffix for spec in ALL_TOPICS}) == len(ALL_TOPICS)
    assert CALL_OUTCOMES.name("fusebox.") == "fusebox.call-outcomes"
