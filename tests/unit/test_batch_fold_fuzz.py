"""Fuzzing the batch fold with arbitrary record values: a bad record is a dead letter with a stable code, never an
exception, and the fold of a batch accounts for every record (the decoders alone: test_decoder_fuzz.py)."""
from __future__ import annotations

import time
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusebox.aggregator.processor import InputChunk, process
from fusebox.core.codec import dumps
from fusebox.core.schemas import load_schema
from tests.unit.breaker_log import folded_events
from tests.unit.test_validation import OUTCOME, json_values, mutations

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODES = set(load_schema("DeadLetter")["properties"]["fusebox.error.code"]["enum"])  # the DLQ reasons
NOW = int(time.time() * 1000)
KEY = OUTCOME["service"].encode()  # the key of the valid outcomes, so they reach the fold

outcome_values = st.one_of(
    st.binary(max_size=300),
    json_values.map(dumps),
    mutations({**OUTCOME, "ts": NOW}).map(dumps),
    st.just(dumps({**OUTCOME, "ts": NOW})),
)
command_values = st.one_of(st.binary(max_size=300), json_values.map(dumps))


@FUZZ
@given(st.lists(st.one_of(outcome_values, st.none()), min_size=1, max_size=30),
       st.lists(st.one_of(command_values, st.none()), max_size=10))
def test_the_fold_of_any_batch_accounts_for_every_record(outcomes, commands):
    chunks = [InputChunk("call-outcomes", 0, [SimpleNamespace(offset=i, key=KEY, value=v, timestamp=NOW)
                                              for i, v in enumerate(outcomes)]),
              InputChunk("breaker-commands", 0, [SimpleNamespace(offset=i, key=KEY, value=v, timestamp=NOW)
                                                 for i, v in enumerate(commands)])]
    result = process(chunks, lambda service: None)
    assert folded_events(result) + len(result.dead_letters) == len(outcomes) + len(commands)
    assert {letter.code for letter in result.dead_letters} <= CODES
