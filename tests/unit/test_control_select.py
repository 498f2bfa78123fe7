"""DATAFLOW resolution: a name or a uuid prefix, optional when exactly one runs."""

from __future__ import annotations

import pytest

from dora_supervisor.control_protocol import DataflowSummary
from dora_supervisor.control_select import choose
from dora_supervisor.errors import DoraError


def flow(uuid: str, name: str | None, state: str = "running", started: float = 0.0):
    return DataflowSummary(uuid, name, state, 1, 1, started, 1.0, "/d.yml", "up", 1)


ALPHA = flow("aaaa1111-0000", "alpha", started=1)
BETA = flow("aaaa2222-0000", "beta", started=2)
OLD_ALPHA = flow("bbbb0000-0000", "alpha", "finished", started=0)
GAMMA_DONE = flow("cccc0000-0000", "gamma", "failed", started=3)
GAMMA_LATER = flow("cccc9999-0000", "gamma", "finished", started=4)
ALL = [OLD_ALPHA, ALPHA, BETA, GAMMA_DONE, GAMMA_LATER]


@pytest.mark.parametrize(("wanted", "expected"), [
    ("alpha", ALPHA),  # a running one before a finished one of the same name
    ("gamma", GAMMA_LATER),  # among finished ones, the latest
    ("aaaa2", BETA), ("bbbb0000-0000", OLD_ALPHA), ("cccc0", GAMMA_DONE),
])
def test_a_name_or_a_unique_uuid_prefix_names_one_dataflow(wanted, expected):
    assert choose(ALL, wanted) is expected


def test_without_a_name_the_only_running_dataflow_is_meant():
    assert choose([OLD_ALPHA, BETA], None) is BETA


@pytest.mark.parametrize(("summaries", "wanted", "message"), [
    (ALL, None, "2 dataflows are running; name one: alpha (aaaa1111), beta (aaaa2222)"),
    (ALL, "aaaa", "'aaaa' matches 2 dataflows: alpha (aaaa1111), beta (aaaa2222); give more "
                  "of the uuid"),
    (ALL, "delta", "no dataflow 'delta' (running: alpha (aaaa1111), beta (aaaa2222))"),
    ([OLD_ALPHA], "delta", "no dataflow 'delta' (none is running)"),
    ([], None, "no dataflow is running (start one with `dora start FILE`)"),
    ([OLD_ALPHA, GAMMA_DONE], None, "no dataflow is running; name a finished one: "
                                    "alpha (bbbb0000) finished, gamma (cccc0000) failed"),
])
def test_an_unknown_or_ambiguous_dataflow_is_one_line_listing_the_candidates(summaries, wanted,
                                                                             message):
    with pytest.raises(DoraError) as caught:
        choose(summaries, wanted)
    assert str(caught.value) == message
