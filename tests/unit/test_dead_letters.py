"""Dead letters always fit the DLQ: the value (and an over-long key) cut to the limit, and the headers say so."""
from __future__ import annotations

import hashlib

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from fusebox.aggregator.dead_letters import (KEY_MAX_BYTES, MESSAGE_MAX_BYTES, dead_letter_record,
                                             header_only_record)
from fusebox.aggregator.processor import DeadLetter, InputRecord

SOURCE_TOPIC = "fusebox.call-outcomes"
LIMIT = 1_048_588  # the broker's default message.max.bytes


def letter(value: bytes | None, key: bytes | None = b"payments-api", message: str = "not JSON") -> DeadLetter:
    return DeadLetter(InputRecord("call-outcomes", 3, 88_123, value, key), "MALFORMED_JSON", message)


def batch_size(record) -> int:
    """The size of the record batch the broker checks against max.message.bytes (one record, uncompressed)."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=1,
                                        producer_epoch=0, base_sequence=0, batch_size=2 ** 31 - 1)
    key, value, headers = record
    assert builder.append(0, timestamp=1_764_194_400_000, key=key, value=value, headers=headers) is not None
    return len(builder.build())


def headers_of(record) -> dict[str, bytes]:
    return dict(record[2])


def test_a_small_dead_letter_is_the_original_record_with_its_reason():
    record = dead_letter_record(letter(b"{not json"), SOURCE_TOPIC, LIMIT)
    key, value, _ = record
    assert (key, value) == (b"payments-api", b"{not json")
    assert headers_of(record) == {
        "fusebox.error.code": b"MALFORMED_JSON", "fusebox.error.message": b"not JSON",
        "fusebox.source.topic": SOURCE_TOPIC.encode(), "fusebox.source.partition": b"3",
        "fusebox.source.offset": b"88123"}


@pytest.mark.parametrize("size", [LIMIT - 100, LIMIT, 5 * 1024 * 1024])
def test_a_value_too_big_for_the_dlq_is_cut_to_fit_and_the_headers_say_what_it_was(size):
    original = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    record = dead_letter_record(letter(original), SOURCE_TOPIC, LIMIT)
    key, value, _ = record
    headers = headers_of(record)
    assert batch_size(record) <= LIMIT
    assert original.startswith(value) and len(value) > LIMIT - 2_000
    assert headers["fusebox.truncated"] == b"1"
    assert headers["fusebox.original.length"] == str(size).encode()
    assert headers["fusebox.original.sha256"] == hashlib.sha256(original).hexdigest().encode()
    assert headers["fusebox.source.offset"] == b"88123" and key == b"payments-api"


def test_the_largest_value_that_fits_is_kept_whole_and_one_byte_more_is_cut():
    def fits_whole(length: int) -> bool:
        return "fusebox.truncated" not in headers_of(dead_letter_record(letter(b"v" * length), SOURCE_TOPIC, LIMIT))

    low, high = 0, LIMIT  # fits_whole(low), not fits_whole(high)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits_whole(middle) else (low, middle)
    assert batch_size(dead_letter_record(letter(b"v" * low), SOURCE_TOPIC, LIMIT)) <= LIMIT
    assert LIMIT - low < 400  # the allowance for framing and headers is not wasteful
    cut = dead_letter_record(letter(b"v" * high), SOURCE_TOPIC, LIMIT)
    assert batch_size(cut) <= LIMIT and headers_of(cut)["fusebox.truncated"] == b"1"


def test_a_key_longer_than_any_service_name_is_cut_and_its_length_kept():
    record = dead_letter_record(letter(b"{}", key=b"k" * 2_000_000), SOURCE_TOPIC, LIMIT)
    key, value, _ = record
    assert key == b"k" * KEY_MAX_BYTES and value == b"{}"
    assert headers_of(record)["fusebox.original.key.length"] == b"2000000"
    assert batch_size(record) <= LIMIT


def test_a_long_reason_is_cut_on_a_character_boundary():
    record = dead_letter_record(letter(b"{}", message="é" * 1000), SOURCE_TOPIC, LIMIT)
    message = headers_of(record)["fusebox.error.message"]
    assert len(message) <= MESSAGE_MAX_BYTES and message.decode() == "é" * (MESSAGE_MAX_BYTES // 2)


def test_a_record_without_a_value_or_key_is_dead_lettered_with_an_empty_value():
    key, value, _ = dead_letter_record(letter(None, key=None), SOURCE_TOPIC, LIMIT)
    assert (key, value) == (None, b"")


def test_the_header_only_form_drops_the_value_and_still_names_the_record():
    original = b"z" * 3_000_000
    record = header_only_record(letter(original, key=b"k" * 5_000), SOURCE_TOPIC)
    key, value, _ = record
    headers = headers_of(record)
    assert value == b"" and key == b"k" * KEY_MAX_BYTES
    assert headers["fusebox.truncated"] == b"1"
    assert headers["fusebox.original.length"] == b"3000000"
    assert headers["fusebox.original.sha256"] == hashlib.sha256(original).hexdigest().encode()
    assert (headers["fusebox.source.partition"], headers["fusebox.source.offset"]) == (b"3", b"88123")
    assert batch_size(record) < 4_096
