"""The local executor on real processes: what it reports, and that leaving it leaves
nothing running (or says so)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import structlog
from structlog.testing import capture_logs

from dora_supervisor import process
from dora_supervisor.descriptor import Limits
from dora_supervisor.executor import Launch
from dora_supervisor.local_executor import LocalExecutor
from dora_supervisor.node_output import OutputLine, Stream
from dora_supervisor.samples import ProcessState, Sampled
from dora_supervisor.tree_model import Exited, Started
from tests.conftest import wait_until_async as until

SLEEPER = [sys.executable, "-c", "import sys, time; print('up', flush=True); "
           "print('to stderr', file=sys.stderr, flush=True); time.sleep(60)"]
SPINNER = [sys.executable, "-c", "print('up', flush=True)\nwhile True: pass"]


class Collected:
    """A `Reports` that keeps everything it is told."""

    def __init__(self) -> None:
        self.reports: list = []
        self.lines: list[tuple[str, Stream, str]] = []
        self.notes: list[tuple[str, int, str]] = []

    def on_report(self, event) -> None:
        self.reports.append(event)

    def on_line(self, node: str, stream: Stream, line: OutputLine) -> None:
        self.lines.append((node, stream, line.shown))

    def on_note(self, node: str, incarnation: int, note: str) -> None:
        self.notes.append((node, incarnation, note))

    def of(self, kind: type) -> list:
        return [r for r in self.reports if isinstance(r, kind)]


def launch(node: str, argv: list[str], cwd: str | None = None) -> Launch:
    return Launch(node, 1, 0, argv, dict(os.environ), cwd or os.getcwd(), Limits())


def test_reports_start_lines_samples_and_the_exit_of_a_killed_process():
    seen = Collected()

    async def scenario() -> None:
        async with LocalExecutor(structlog.get_logger(), seen, 0.05) as executor:
            await executor.spawn(launch("spin", SPINNER))
            started = seen.of(Started)[0]
            await until(lambda: [s for s in seen.of(Sampled) if s.cpu_time_s], 10,
                        "a sample with CPU time")
            os.kill(started.pid, signal.SIGSTOP)
            await until(lambda: [s for s in seen.of(Sampled) if s.state.frozen], 10,
                        "a sample of the stopped process")
            executor.kill("spin", 2)  # not the incarnation running: nothing happens
            executor.kill("spin", 1)
            await until(lambda: seen.of(Exited), 10, "the exit")

    with capture_logs() as logs:
        asyncio.run(scenario())
    assert seen.of(Started)[0].node == "spin"
    assert ("spin", Stream.STDOUT, "up") in seen.lines
    samples = seen.of(Sampled)
    assert all((s.node, s.incarnation) == ("spin", 1) for s in samples)
    assert all(s.rss_bytes > 1_000_000 for s in samples)
    assert samples[-1].state == ProcessState.STOPPED
    assert [s.at for s in samples] == sorted(s.at for s in samples)
    assert seen.of(Exited) == [Exited("spin", 1, None, signal.SIGKILL)]
    assert [r["event"] for r in logs] == ["node_started"]


def test_a_process_that_cannot_start_is_reported_as_exit_127(tmp_path):
    seen = Collected()

    async def scenario() -> None:
        async with LocalExecutor(structlog.get_logger(), seen, 1.0) as executor:
            await executor.spawn(launch("ghost", SLEEPER, cwd=str(tmp_path / "missing")))

    with capture_logs() as logs:
        asyncio.run(scenario())
    assert seen.reports == [Exited("ghost", 1, 127, None)]
    assert [(r["event"], r["log_level"]) for r in logs] == [("node_spawn_failed", "error")]


def test_leaving_kills_what_still_runs_and_waits_for_each_exit():
    seen = Collected()

    async def scenario() -> None:
        async with LocalExecutor(structlog.get_logger(), seen, 1.0) as executor:
            for node in ("a", "b"):
                await executor.spawn(launch(node, SLEEPER))
            await until(lambda: len(seen.lines) == 4, 10, "both processes to be up")

    with capture_logs() as logs:
        asyncio.run(scenario())
    assert sorted(e.node for e in seen.of(Exited)) == ["a", "b"]
    assert all(e.signal == signal.SIGKILL for e in seen.of(Exited))
    assert [r for r in logs if r["log_level"] == "error"] == []


def test_what_survives_the_deadline_is_named_in_an_error(monkeypatch):
    seen = Collected()
    pids: list[int] = []
    monkeypatch.setattr(process, "kill_group", lambda pid, sig=signal.SIGKILL: None)

    async def scenario() -> None:
        async with LocalExecutor(structlog.get_logger(), seen, 1.0,
                                 shutdown_deadline=0.3) as executor:
            await executor.spawn(launch("stubborn", SLEEPER))
            pids.append(seen.of(Started)[0].pid)

    try:
        with capture_logs() as logs:
            started = time.monotonic()
            asyncio.run(scenario())
            waited = time.monotonic() - started
    finally:
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    errors = [r for r in logs if r["log_level"] == "error"]
    assert errors == [{"event": "nodes_left_running", "log_level": "error",
                       "nodes": ["stubborn"], "pids": pids, "waited_s": 0.3}]
    assert 0.3 <= waited < 5.0
    assert seen.of(Exited) == []
