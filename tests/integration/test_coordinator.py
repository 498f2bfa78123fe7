"""The coordinator in-process: its registry of dataflows, as the control plane will use it."""

from __future__ import annotations

import asyncio
import json

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
            with pytest.raises(DoraError, match="one dataflow at a time"):
                coordinator.start(df, str(path))
            with pytest.raises(DoraError, match="no running dataflow 'df-2'"):
                coordinator.stop("df-2")
            await wait_until_async(lambda: runtime.metrics("w").cpu_percent is not None, 20,
                                   "two samples of the node")
            assert runtime.metrics("w").rss_bytes > 1_000_000
            coordinator.stop("df-1")
        assert runtime.result is not None and runtime.result.ok and runtime.exit_code == 0
        return coordinator

    coordinator = asyncio.run(scenario())
    assert coordinator.get("df-1") is None and coordinator.dataflows() == []
    records = [json.loads(line) for line in (out / "df-1" / "w.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records if r["event"].startswith("node_")] \
        == ["node_started", "node_output", "node_output", "node_exited"]
    assert records[-1]["reason"] == "shutdown"
