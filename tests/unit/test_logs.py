"""Per-node log files: rotation by bytes, and the structlog chain that ends in the sink."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from dora_supervisor.logs import RotatingJsonFiles, configure

# one to four bytes per character in UTF-8, never a line break; at most 81 bytes a line
# with its number, so every line fits in the smallest file below
_TEXT = st.text(st.sampled_from("aZ09 {}\"é€😀ß中"), max_size=18)


def _kept(directory: Path, name: str, backups: int) -> list[Path]:
    """The files of `name`, oldest first: `.<backups>` ... `.1`, then the current one."""
    files = [directory / f"{name}.jsonl.{i}" for i in range(backups, 0, -1)]
    return [f for f in files if f.exists()] + [directory / f"{name}.jsonl"]


@settings(max_examples=80, deadline=None)
@given(texts=st.lists(_TEXT, min_size=1, max_size=40), repeat=st.integers(1, 6),
       max_bytes=st.integers(81, 400), backups=st.integers(1, 4))
def test_rotation_counts_bytes_and_keeps_every_line_up_to_the_backup_count(texts, repeat,
                                                                             max_bytes, backups):
    lines = [f"{i:03}{text}" for i, text in enumerate(texts * repeat)]  # each line unique
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        files = RotatingJsonFiles(str(directory), max_bytes=max_bytes, backups=backups)
        for line in lines:
            files.write("node", line)
        files.close()
        kept = _kept(directory, "node", backups)
        names = {p.name for p in directory.iterdir()}
        assert names <= {"node.jsonl"} | {f"node.jsonl.{i}" for i in range(1, backups + 1)}
        assert all(p.stat().st_size <= max_bytes for p in kept)
        contents = [p.read_bytes().decode("utf-8").splitlines() for p in kept]
        retained = [line for content in contents for line in content]
        # the newest lines, in order, none missing in between
        assert retained == lines[len(lines) - len(retained):]
        if len(kept) <= backups:  # the oldest backup was never pushed out: nothing lost
            assert retained == lines
        # a file was rotated only when the next line did not fit any more
        for older, newer in zip(kept, kept[1:], strict=False):
            first = (newer.read_bytes().split(b"\n")[0] + b"\n") if newer.stat().st_size else b""
            assert older.stat().st_size + len(first) > max_bytes


def test_a_multi_byte_line_that_would_overflow_rotates_although_its_characters_fit(tmp_path):
    files = RotatingJsonFiles(str(tmp_path), max_bytes=100, backups=2)
    files.write("n", "a" * 59)  # 60 bytes
    files.write("n", "€" * 13)  # 14 characters, 40 bytes: 100 would be the limit, 100 fits
    files.write("n", "€")  # 4 bytes: over 100
    files.close()
    assert (tmp_path / "n.jsonl.1").stat().st_size == 100
    assert (tmp_path / "n.jsonl").read_text(encoding="utf-8") == "€\n"


def test_a_reopened_file_continues_from_its_size(tmp_path):
    first = RotatingJsonFiles(str(tmp_path), max_bytes=30, backups=1)
    first.write("n", "x" * 19)  # 20 bytes
    first.close()
    second = RotatingJsonFiles(str(tmp_path), max_bytes=30, backups=1)
    second.write("n", "y" * 19)
    second.close()
    assert (tmp_path / "n.jsonl.1").read_text() == "x" * 19 + "\n"
    assert (tmp_path / "n.jsonl").read_text() == "y" * 19 + "\n"


def test_a_record_longer_than_the_limit_gets_a_file_of_its_own(tmp_path):
    files = RotatingJsonFiles(str(tmp_path), max_bytes=10, backups=2)
    for line in ("ab", "c" * 30, "de"):
        files.write("n", line)
    files.close()
    assert [p.read_text() for p in _kept(tmp_path, "n", 2)] == ["ab\n", "c" * 30 + "\n", "de\n"]


@pytest.fixture
def structlog_restored():
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_each_record_goes_to_its_node_file_as_json_and_to_the_stream_rendered(
        tmp_path, structlog_restored, log_format):
    files = RotatingJsonFiles(str(tmp_path))
    stream = io.StringIO()
    configure(log_format, files, stream)
    log = structlog.get_logger().bind(dataflow="d1")
    log.info("node_output", node="camera", stream="stdout", line="frame 1 é")
    log.warning("stop_requested", signal="SIGINT")
    files.close()
    camera = json.loads((tmp_path / "camera.jsonl").read_text())
    dataflow = json.loads((tmp_path / "_dataflow.jsonl").read_text())
    assert {k: camera[k] for k in ("event", "node", "line", "level", "dataflow")} == {
        "event": "node_output", "node": "camera", "line": "frame 1 é", "level": "info",
        "dataflow": "d1"}
    assert dataflow["event"] == "stop_requested" and dataflow["level"] == "warning"
    assert camera["timestamp"].endswith("Z")
    printed = stream.getvalue().splitlines()
    if log_format == "json":
        assert [json.loads(line) for line in printed] == [camera, dataflow]
    else:
        assert printed[0].endswith("camera | frame 1 é")
        assert printed[1].endswith("dora * WARNING stop_requested signal=SIGINT")
