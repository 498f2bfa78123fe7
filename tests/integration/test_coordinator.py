"""The coordinator in-process: its registry of dataflows, as the control plane will use it."""

from __future__ import annotations

import asyncio
import json

import attrs
import pytest
import structlog

from dora_supervisor.coordinator import Coordinator
from dora_supervisor.errors import DoraError
from dora_supervisor.load import load_descriptor
from tests.conftest import wait_until_async


@pytest.fixture(autouse=True)
def structlog_as_it_was():
    """The coordinator configures the process-wide structlog sink: put it back after."""
    yield
    structlog.reset_defaults()


def test_a_background_dataflow_is_found_by_id_stopped_and_unregistered(dataflow, tmp_path):
    path = dataflow("""
        nodes:
          - {id: w, path: {nodes}/worker.py}
    """)
    df, _ = load_descriptor(str(path))
    out = tmp_path / "out"

    async def scenario() -> Coordinator:
        async with Coordinator("json", str(out)) as coordinator:
            runtime = coordinator.start(df, str(path), "df-1")
            assert coordinator.get("df-1") is runtime and coordinator.dataflows() == [runtime]
            with pytest.raises(DoraError, match="no running dataflow 'df-2'"):
                coordinator.stop("df-2")
            await wait_until_async(lambda: runtime.metrics("w").cpu_percent is not None, 20,
                                   "two samples of the node")
            assert runtime.metrics("w").rss_bytes > 1_000_000
            coordinator.stop("df-1")
        assert runtime.result is not None and runtime.result.ok and runtime.exit_code == 0
        return coordinator

    coordinator = asyncio.run(scenario())
    runtime = coordinator.finished()[0]
    assert coordinator.get("df-1") is None and coordinator.dataflows() == []
    assert coordinator.finished() == [runtime]
    records = [json.loads(line) for line in (out / "df-1" / "w.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records if r["event"].startswith("node_")] \
        == ["node_started", "node_output", "node_output", "node_exited"]
    assert records[-1]["reason"] == "shutdown"


def test_two_dataflows_with_the_same_node_ids_log_to_their_own_directories(dataflow, tmp_path):
    path = dataflow("""
        name: twin
        nodes:
          - {id: w, path: {nodes}/worker.py}
    """)
    df, _ = load_descriptor(str(path))
    out = tmp_path / "out"

    async def scenario() -> None:
        async with Coordinator("json", str(out)) as coordinator:
            first = coordinator.start(df, str(path), "df-a")
            with pytest.raises(DoraError, match="a dataflow named 'twin' is already running "
                                                r"\(df-a\); choose another --name"):
                coordinator.start(df, str(path))
            second = coordinator.start(attrs.evolve(df, name="twin-2"), str(path), "df-b")
            assert coordinator.dataflows() == [first, second]
            await wait_until_async(
                lambda: all(r.tree.workers["w"].alive for r in (first, second)), 20,
                "both workers alive")
            coordinator.stop("df-a")
            coordinator.stop("df-b")
        assert {r.dataflow_id for r in coordinator.finished()} == {"df-a", "df-b"}

    asyncio.run(scenario())
    for dataflow_id in ("df-a", "df-b"):
        records = [json.loads(line)
                   for line in (out / dataflow_id / "w.jsonl").read_text().splitlines()]
        assert {r["dataflow"] for r in records} == {dataflow_id}
        assert [r["event"] for r in records if r["event"].startswith("node_")] \
            == ["node_started", "node_output", "node_output", "node_exited"]
