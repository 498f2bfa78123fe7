"""Logs as data between real processes: `send_logs_as`, `min_log_level` at the source,
`dora/logs` inputs with their filters, and a node's own log file rotation."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(90)


def test_send_logs_as_sends_the_records_that_pass_min_log_level(dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - id: emitter
            path: {nodes}/log_emitter.py
            outputs: [out, entries]
            min_log_level: info
            send_logs_as: entries
          - id: collector
            path: {nodes}/log_collector.py
            inputs:
              data: emitter/out
              entries: emitter/entries
    """))
    assert run.wait(40) == 0, run.text()
    assert run.lines("collector") == [
        "entries info emitter py info",
        "entries warn emitter py warning",
        "entries info emitter api info",
        "entries warn emitter api warn emitter.part {'k': 1}",
        "entries error emitter api error",
        "STOP ALL_INPUTS_CLOSED",
    ]
    # dropped at the source: nowhere in the supervisor's records either
    assert [(r["level"], r["msg"]) for r in run.events("node_log", "emitter")] == [
        ("info", "py info"), ("warning", "py warning"), ("info", "api info"),
        ("warning", "api warn"), ("error", "api error")]
    assert run.lines("emitter") == []  # a printed line is below `info`


def test_dora_logs_inputs_get_every_other_nodes_records_filtered_by_level_and_node(
        dora_run, dataflow):
    run = dora_run(dataflow("""
        nodes:
          - id: emitter
            path: {nodes}/log_emitter.py
            outputs: [out]
          - id: viewer
            path: {nodes}/log_collector.py
            inputs:
              all: dora/logs
              errors: dora/logs/error
              emitter_warn: dora/logs/warn/emitter
              viewer_only: dora/logs/stdout/viewer
    """))
    expected_all = {
        "all stdout emitter printed line", "all info emitter py info",
        "all warn emitter py warning", "all trace emitter api trace",
        "all debug emitter api debug", "all info emitter api info",
        "all warn emitter api warn emitter.part {'k': 1}", "all error emitter api error"}
    expected = expected_all | {
        "errors error emitter api error",
        "emitter_warn warn emitter py warning",
        "emitter_warn warn emitter api warn emitter.part {'k': 1}",
        "emitter_warn error emitter api error"}
    run.wait_for(lambda r: expected <= set(r.lines("viewer")), 30, "every filtered record")
    run.interrupt()
    assert run.wait(30) == 0, run.text()
    lines = run.lines("viewer")
    assert set(lines) == expected | {"STOP MANUAL"}, "never its own records, nothing else"
    assert len(lines) == len(expected) + 1, "each record once per input"


def test_a_nodes_log_file_rotates_at_its_own_size_and_keeps_its_own_count(
        dora_run, dataflow, tmp_path):
    (tmp_path / "chatty.py").write_text("for i in range(200):\n    print('line', i)\n")
    run = dora_run(dataflow("""
        nodes:
          - id: chatty
            path: chatty.py
            max_log_size: 2KB
            max_rotated_files: 2
    """))
    assert run.wait(40) == 0, run.text()
    directory = next((tmp_path / "out").iterdir())
    names = sorted(p.name for p in directory.glob("chatty.jsonl*"))
    assert names == ["chatty.jsonl", "chatty.jsonl.1", "chatty.jsonl.2"]
    assert all((directory / name).stat().st_size <= 2000 for name in names)
