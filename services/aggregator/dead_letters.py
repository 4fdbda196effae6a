"""Dead letters as records of `call-outcomes.dlq` that always fit the topic.

An input record is accepted up to the broker's limit as it was sent, perhaps compressed; its
copy goes out uncompressed with headers added, so it can be larger than any record the DLQ takes.
Every dead letter is therefore cut to `max_bytes` (the smaller of the DLQ's `max.message.bytes`
and the producer's request limit):

    key ≤ KEY_MAX_BYTES  ┐                               fusebox.truncated = 1
    value, cut to fit    ├─ one record batch ≤ max_bytes  fusebox.original.length, .sha256 (of the value)
    headers (reason,     ┘                               fusebox.original.key.length (a cut key)
     source partition and offset)

If the DLQ refuses one anyway (its limit lowered since it was read), the header-only form goes
instead: no value, the same headers. The source partition and offset always name the original.
"""
from __future__ import annotations

import hashlib

from fusebox.aggregator.processor import DeadLetter

KEY_MAX_BYTES = 256  # a valid key is a service name: at most 200 bytes
MESSAGE_MAX_BYTES = 1000

# An upper bound of the framing of a record batch holding one record (Kafka's format v2): the
# batch header, then the record's varints (length, attributes, timestamp and offset deltas, key
# and value lengths, header count) and two length varints per header.
BATCH_HEADER_BYTES = 61
RECORD_FRAMING_BYTES = 36
HEADER_FRAMING_BYTES = 10

DlqRecord = tuple[bytes | None, bytes, list[tuple[str, bytes]]]  # key, value, headers


def dead_letter_record(letter: DeadLetter, source_topic: str, max_bytes: int) -> DlqRecord:
    """The DLQ record of `letter`: the original key and value, cut when needed to fit in `max_bytes`."""
    rec = letter.record
    value = rec.value or b""
    key, headers = _key_and_headers(letter, source_topic)
    if _size(key, value, headers) <= max_bytes:
        return key, value, headers
    headers += _truncation_headers(value)
    room = max_bytes - _size(key, b"", headers)
    return key, value[:max(room, 0)], headers


def header_only_record(letter: DeadLetter, source_topic: str) -> DlqRecord:
    """The DLQ record of `letter` without its value: the reason, the source and the value's length and hash."""
    key, headers = _key_and_headers(letter, source_topic)
    return key, b"", headers + _truncation_headers(letter.record.value or b"")


def _key_and_headers(letter: DeadLetter, source_topic: str) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    rec = letter.record
    message = letter.message.encode()[:MESSAGE_MAX_BYTES].decode("utf-8", "ignore").encode()
    headers = [
        ("fusebox.error.code", letter.code.encode()),
        ("fusebox.error.message", message),
        ("fusebox.source.topic", source_topic.encode()),
        ("fusebox.source.partition", str(rec.partition).encode()),
        ("fusebox.source.offset", str(rec.offset).encode()),
    ]
    key = rec.key
    if key is not None and len(key) > KEY_MAX_BYTES:
        headers.append(("fusebox.original.key.length", str(len(key)).encode()))
        key = key[:KEY_MAX_BYTES]
    return key, headers


def _truncation_headers(value: bytes) -> list[tuple[str, bytes]]:
    return [("fusebox.truncated", b"1"),
            ("fusebox.original.length", str(len(value)).encode()),
            ("fusebox.original.sha256", hashlib.sha256(value).hexdigest().encode())]


def _size(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> int:
    """At least the size of a record batch holding this one record, uncompressed."""
    return (BATCH_HEADER_BYTES + RECORD_FRAMING_BYTES + len(key or b"") + len(value)
            + sum(HEADER_FRAMING_BYTES + len(name) + len(data) for name, data in headers))
