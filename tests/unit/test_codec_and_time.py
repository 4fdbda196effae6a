"""The codec, the ISO time helpers and the topic registry."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from fusebox.core import codec
from fusebox.core.isotime import MAX_EPOCH_MS, iso_datetime, iso_ms, iso_or_none, ms_of_datetime, parse_iso_ms
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


@settings(max_examples=300)
@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31)),
       st.sampled_from([None, timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]))
def test_a_datetime_is_written_as_the_standard_library_writes_it_in_utc(value, tz):
    value = value.replace(tzinfo=tz) if tz is not None else value
    if tz is not None and not datetime(1970, 1, 2, tzinfo=timezone.utc) <= value <= datetime(9999, 12, 30, tzinfo=timezone.utc):
        return
    naive_utc = value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo is not None else value
    assert iso_datetime(value) == naive_utc.isoformat(timespec="milliseconds") + "Z"
    assert parse_iso_ms(iso_datetime(value)) == ms_of_datetime(value)


def test_an_opened_at_with_milliseconds_parses_to_the_exact_millisecond():
    assert parse_iso_ms("2025-11-26T22:00:00.123Z") == 1_764_194_400_123
