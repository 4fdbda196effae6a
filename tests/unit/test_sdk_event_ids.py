"""The SDK's sender stamps each outcome with an eventId: a version 4 UUID, distinct across and within batches."""
import uuid

from fusebox.sdk.publisher import _event_ids


def test_event_ids_are_distinct_version_4_uuids_in_canonical_form():
    seen = set()
    for n in (1, 7, 2000):
        event_id = _event_ids(n)
        for i in range(n):
            text = event_id(i)
            parsed = uuid.UUID(text)
            assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
            assert str(parsed) == text
            seen.add(text)
    assert len(seen) == 1 + 7 + 2000
