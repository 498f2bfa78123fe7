"""What the supervisor does with a node's output, under abuse, on real processes: the
longest line it keeps, the memory it spends per node, a node that closes its stdout
early or never reads its stdin. The coordinator's RSS is sampled while it happens."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from dora_supervisor.node_output import MAX_LINE_BYTES, truncation_mark

pytestmark = pytest.mark.timeout(90)

RSS_GROWTH_MAX = 32 * 2**20


def neighbours(noisy_args: str, go: Path) -> str:
    """The noisy node (acting once `go` exists) next to a timer-driven chain that must
    stay on schedule."""
    return f"""
        nodes:
          - {{id: noisy, path: {{nodes}}/noisy.py, args: {noisy_args} --when {go}}}
          - id: ticker
            path: {{nodes}}/seq_source.py
            inputs: {{tick: dora/timer/millis/20}}
            outputs: [out]
            significant: false
          - {{id: sink, path: {{nodes}}/seq_sink.py, args: --every 0.2,
             inputs: {{in: ticker/out}}}}
    """


def abuse_sampling_rss(run, go: Path, timeout: float) -> tuple[int, int, int]:
    """Once the chain runs, let the noisy node loose and wait for the run to end, sampling
    the coordinator's RSS: (before, highest, exit code)."""
    run.wait_for(lambda r: any(line.startswith("SEEN") for line in r.lines("sink")), 30,
                 "the neighbour chain to run")
    coordinator = psutil.Process(run.proc.pid)
    before = highest = coordinator.memory_info().rss
    go.touch()
    deadline = time.monotonic() + timeout
    while run.proc.poll() is None and time.monotonic() < deadline:
        try:
            highest = max(highest, coordinator.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.05)  # the sampling period, not a wait for a condition
    code = run.wait(5)
    print(f"coordinator RSS {before / 2**20:.1f} MiB before, {highest / 2**20:.1f} MiB at most")
    return before, highest, code


def on_schedule(run) -> None:
    """The neighbour chain kept its 20 ms pace, and its lines were logged on time."""
    lines = run.lines("sink")
    gap = float(next(line.split()[1] for line in lines if line.startswith("MAXGAP")))
    print(f"neighbour: longest gap between two messages {gap:.3f}s")
    assert gap < 0.5, lines[-5:]
    stamps = [r["timestamp"] for r in run.events("node_output", "sink")
              if r["line"].startswith("SEEN")]
    assert len(stamps) >= 5
    from tests.integration.test_supervision import stamp

    seen = [stamp({"timestamp": s}) for s in stamps]
    late = max(b - a for a, b in zip(seen, seen[1:], strict=False))
    print(f"neighbour: longest gap between two of its log records {late:.3f}s")
    assert late < 1.0


def test_a_flood_of_100000_lines_is_captured_whole_with_bounded_memory(dora_run, dataflow,
                                                                        tmp_path):
    go = tmp_path / "go"
    run = dora_run(dataflow(neighbours("--lines 100000 --then 1", go)))
    first, highest, code = abuse_sampling_rss(run, go, 60)
    assert code == 0, run.text()[-2000:]
    lines = [r["line"] for r in run.events("node_output", "noisy") if r["stream"] == "stdout"]
    assert len(lines) == 100000
    assert lines[0] == "line 0 of the flood" and lines[-1] == "line 99999 of the flood"
    assert highest - first < RSS_GROWTH_MAX, (first, highest)
    on_schedule(run)


def test_a_20_mb_line_is_one_record_cut_with_a_marker_not_pieces_with_silent_gaps(
        dora_run, dataflow, tmp_path):
    """It was 18 records (17 of 64 KiB and one of 1 MiB) with 18 MiB silently dropped."""
    size, go = 20 * 2**20, tmp_path / "go"
    run = dora_run(dataflow(neighbours(f"--long {size} --stream both --then 1", go)))
    first, highest, code = abuse_sampling_rss(run, go, 60)
    assert code == 0, run.text()[-2000:]
    for stream in ("stdout", "stderr"):
        records = [r for r in run.events("node_output", "noisy") if r["stream"] == stream]
        assert len(records) == 2
        cut, after = records[0]["line"], records[1]["line"]
        kept = cut[:-len(truncation_mark(size, MAX_LINE_BYTES))]
        assert cut == kept + truncation_mark(size, MAX_LINE_BYTES)
        assert len(kept.encode()) == MAX_LINE_BYTES
        assert kept.startswith("abcdefghijklmnopqrstuvwxyz") and after == "after"
    warnings = run.events("line_truncated", "noisy")
    assert [(w["stream"], w["bytes"], w["kept"], w["level"]) for w in warnings] == [
        (stream, size, MAX_LINE_BYTES, "warning") for stream in ("stdout", "stderr")]
    assert highest - first < RSS_GROWTH_MAX, (first, highest)
    on_schedule(run)


def test_invalid_utf8_is_replaced_line_by_line(dora_run, dataflow):
    run = dora_run(dataflow("nodes: [{id: noisy, path: {nodes}/noisy.py, args: --invalid-utf8}]"))
    assert run.wait(30) == 0, run.text()[-2000:]
    assert run.lines("noisy") == ["bad \ufffd\ufffd bytes", "half a char \ufffd", "cut \ufffd",
                                  "\U0001f600 ok", "after"]


def test_a_node_that_closes_its_stdout_early_is_still_heard_and_its_exit_seen(dora_run,
                                                                             dataflow):
    run = dora_run(dataflow("""
        nodes:
          - {id: noisy, path: {nodes}/noisy.py, args: --close-stdout --then 0.5 --code 3,
             restart: {policy: temporary}}
    """))
    assert run.wait(30) == 1, run.text()[-2000:]
    assert run.lines("noisy") == ["before", "still here"]
    [exited] = run.events("node_exited", "noisy")
    assert (exited["code"], exited["reason"]) == (3, "exit_code")
    assert exited["uptime_s"] >= 0.5  # the closed stdout was not taken for an exit


def test_stdin_is_empty_so_a_node_never_waits_on_it(dora_run, dataflow):
    run = dora_run(dataflow("nodes: [{id: noisy, path: {nodes}/noisy.py, args: --read-stdin}]"))
    assert run.wait(30) == 0, run.text()[-2000:]
    assert run.lines("noisy") == ["STDIN 0 bytes"]
