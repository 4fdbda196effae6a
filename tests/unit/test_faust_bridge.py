"""The pure parts of the Faust bridge: the offsets a folded batch commits, the table store's view."""
from __future__ import annotations

from types import SimpleNamespace
from typing import NamedTuple

from fusebox.aggregator.faust_bridge import FaustBridge, TableStore, commit_offsets
from fusebox.aggregator.intake import Fetched


class Record(NamedTuple):
    offset: int


def chunk(tp: str, first: int, last: int) -> Fetched:
    return Fetched(tp, 1, [Record(offset) for offset in range(first, last + 1)])


def test_a_folded_batch_commits_one_past_the_last_offset_of_each_partition():
    folded = [chunk("outcomes-0", 0, 9), chunk("commands-0", 5, 5), chunk("outcomes-0", 10, 19)]
    assert commit_offsets(folded) == {"outcomes-0": 20, "commands-0": 6}


def test_a_later_chunk_never_moves_a_partitions_commit_back():
    assert commit_offsets([chunk("outcomes-1", 40, 49), chunk("outcomes-1", 3, 4)]) == {"outcomes-1": 50}


def test_nothing_folded_commits_nothing():
    assert commit_offsets([]) == {}


def test_the_table_store_reads_and_writes_the_tables_data_as_it_is_at_each_use():
    table = SimpleNamespace(data={b"a": b"1"})
    store = TableStore(table)
    store.put(b"b", b"2")
    assert (len(store), store.get(b"b"), store.get(b"missing"), store.keys()) == (2, b"2", None, [b"a", b"b"])
    table.data = {b"c": b"3"}  # the store is looked up on each use, never held
    assert (len(store), store.keys()) == (1, [b"c"])


def test_changelog_records_go_to_the_tables_changelog_topic_in_order():
    table = SimpleNamespace(data={}, changelog_topic=SimpleNamespace(get_topic_name=lambda: "app-breakers-changelog"))
    bridge = FaustBridge(SimpleNamespace(), table)
    assert bridge.changelog_messages([(b"a", b"1"), (b"b", b"2")]) == [
        ("app-breakers-changelog", b"a", b"1", None), ("app-breakers-changelog", b"b", b"2", None)]
