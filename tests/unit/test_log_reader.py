"""Reading records back: a node's rotated files in order, and following across rotations."""

from __future__ import annotations

import json

import pytest
import structlog

from dora_supervisor.log_reader import DirectoryFollower, Follower, node_history, render_record
from dora_supervisor.logs import DataflowFiles, RotatingJsonFiles, RotatingStream, configure


def test_history_is_every_kept_line_oldest_first_and_following_goes_on_after_it(tmp_path):
    files = RotatingJsonFiles(str(tmp_path), max_bytes=20, backups=2)
    for number in range(6):
        files.write("n", f"line {number:02}")  # 8 bytes + newline: two lines a file
    lines, follower = node_history(str(tmp_path), "n")
    assert lines == ["line 00", "line 01", "line 02", "line 03", "line 04", "line 05"]
    files.write("n", "line 06")
    assert follower.read_new() == ["line 06"]
    follower.close()
    files.close()


def test_a_follower_loses_nothing_across_rotations(tmp_path):
    files = RotatingJsonFiles(str(tmp_path), max_bytes=20)  # two lines a file, 5 backups
    follower = Follower(str(tmp_path / "n.jsonl"))
    assert follower.read_new() == []  # not written yet
    files.write("n", "line 00")
    seen = follower.read_new()
    for number in range(1, 40):  # up to four rotations between two reads
        files.write("n", f"line {number:02}")
        if number % 7 == 0:
            seen += follower.read_new()
    seen += follower.read_new()
    assert seen == [f"line {number:02}" for number in range(40)]
    follower.close()
    files.close()


def test_a_partial_line_waits_for_its_newline(tmp_path):
    path = tmp_path / "n.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b"')
    follower = Follower(str(path))
    assert follower.read_new() == ['{"a": 1}']
    with open(path, "ab") as handle:
        handle.write(b': 2}\n')
    assert follower.read_new() == ['{"b": 2}']
    follower.close()


def test_a_directory_follower_merges_files_by_timestamp(tmp_path):
    (tmp_path / "b.jsonl").write_text('{"timestamp": "2026-01-01T00:00:02.000000Z"}\n')
    (tmp_path / "a.jsonl").write_text('{"timestamp": "2026-01-01T00:00:01.000000Z"}\n'
                                      '{"timestamp": "2026-01-01T00:00:03.000000Z"}\n')
    reader = DirectoryFollower(str(tmp_path))
    assert [json.loads(line)["timestamp"][18] for line in reader.read_new()] == ["1", "2", "3"]
    (tmp_path / "c.jsonl").write_text('{"timestamp": "2026-01-01T00:00:04.000000Z"}\n')
    assert len(reader.read_new()) == 1
    reader.close()


def test_a_record_renders_as_dora_run_prints_it():
    line = json.dumps({"timestamp": "2026-01-01T12:00:01.250000Z", "event": "node_output",
                       "node": "logger", "line": "hello"})
    assert render_record(line, as_json=True) == line
    assert render_record(line, as_json=False) == "12:00:01.250       logger | hello"
    assert render_record("not json", as_json=False) == "not json"


@pytest.fixture
def structlog_restored():
    yield
    structlog.reset_defaults()


def test_records_go_to_their_dataflow_s_directory_and_node_lines_stay_off_the_stream(
        tmp_path, structlog_restored):
    files = DataflowFiles(str(tmp_path / "out"))
    stream = RotatingStream(RotatingJsonFiles(str(tmp_path), suffix=".log"), "coordinator")
    configure("console", files, stream, node_lines=False)
    files.open("d1")
    files.open("d2")
    log = structlog.get_logger()
    log.info("node_output", dataflow="d1", node="w", stream="stdout", line="from one")
    log.info("node_output", dataflow="d2", node="w", stream="stdout", line="from two")
    log.info("node_exited", dataflow="d2", node="w", code=0)
    log.info("coordinator_started", pid=1)
    files.close("d1")
    log.info("node_output", dataflow="d1", node="w", stream="stdout", line="after the end")
    files.close("d2")
    stream.close()
    one = [json.loads(x) for x in (tmp_path / "out" / "d1" / "w.jsonl").read_text().splitlines()]
    two = [json.loads(x) for x in (tmp_path / "out" / "d2" / "w.jsonl").read_text().splitlines()]
    assert [r.get("line") for r in one] == ["from one"]
    assert [r.get("line") for r in two] == ["from two", None]
    own = (tmp_path / "coordinator.log").read_text().splitlines()
    assert len(own) == 2 and own[0].startswith("[d2] ") and "node_exited code=0" in own[0]
    assert own[1].endswith("dora * coordinator_started pid=1")


def test_a_rotating_stream_assembles_lines_written_in_pieces(tmp_path):
    stream = RotatingStream(RotatingJsonFiles(str(tmp_path), suffix=".log"), "c")
    print("first", file=stream)
    stream.write("sec")
    stream.write("ond\nthird\n")
    stream.close()
    assert (tmp_path / "c.log").read_text() == "first\nsecond\nthird\n"
