"""Logs as data on the supervisor's side: which lines are kept, what `dora/logs` inputs get
and when, and each node's own log file rotation (by bytes)."""

from __future__ import annotations

import json

import pytest

from dora_api import contract
from dora_supervisor.descriptor import Dataflow, InputSpec, LogSettings, NodeSpec
from dora_supervisor.log_routing import LogRouter, keeps_line, log_consumers, log_rotation
from dora_supervisor.logs import RotatingJsonFiles
from dora_supervisor.node_output import Stream, output_record

STAMP = "2024-05-01T12:00:00.000000+00:00"


def record_line(level: str, msg: str, logger: str | None = "n", **extra) -> str:
    return contract.encode_log_line(contract.LogRecord(level, msg, logger, extra or None))


def a_dataflow(*consumers: str) -> Dataflow:
    nodes = [NodeSpec("sensor", path="s.py", outputs=("out",),
                      logs=LogSettings("info", None, 1000, 2)),
             NodeSpec("plain", path="p.py")]
    nodes += [NodeSpec(c, path="v.py", inputs=(InputSpec("logs", "dora/logs/warn"),))
              for c in consumers]
    return Dataflow(tuple(nodes))


# -- min_log_level at capture ---------------------------------------------------------------

@pytest.mark.parametrize("min_level, kept", [("stdout", True), ("trace", False),
                                             ("info", False), ("error", False)])
def test_a_printed_line_is_level_stdout_and_kept_only_at_stdout(min_level, kept):
    record = output_record(Stream.STDOUT, "raw sensor tick 1")
    assert keeps_line(record, Stream.STDOUT, min_level) is kept


def test_stderr_lines_and_records_are_always_kept_here():
    """Records were filtered by the node itself; a traceback must never vanish."""
    assert keeps_line(output_record(Stream.STDERR, "Traceback ..."), Stream.STDERR, "error")
    structured = output_record(Stream.STDERR, record_line("info", "hello"))
    assert keeps_line(structured, Stream.STDERR, "error")


# -- rotation settings ------------------------------------------------------------------------

def test_only_nodes_with_their_own_settings_get_a_rotation_entry():
    assert log_rotation(a_dataflow()) == {"sensor": (1000, 2)}


def test_a_node_rotates_its_file_by_its_own_byte_limit_and_keeps_its_own_count(tmp_path):
    files = RotatingJsonFiles(str(tmp_path), max_bytes=10_000, backups=5,
                              rotation={"sensor": (100, 2), "other": (None, 1)})
    line = "x" * 39  # 40 bytes with its newline: two per 100-byte file
    for _ in range(10):
        files.write("sensor", line)
        files.write("plain", line)
    files.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["plain.jsonl", "sensor.jsonl", "sensor.jsonl.1", "sensor.jsonl.2"]
    for name in ("sensor.jsonl", "sensor.jsonl.1", "sensor.jsonl.2"):
        assert (tmp_path / name).stat().st_size == 80  # never past 100 bytes
    assert (tmp_path / "plain.jsonl").stat().st_size == 400  # the default limit


def test_a_node_with_only_a_file_count_keeps_the_default_size(tmp_path):
    files = RotatingJsonFiles(str(tmp_path), max_bytes=50, backups=3,
                              rotation={"n": (None, 1)})
    for _ in range(6):
        files.write("n", "y" * 19)
    files.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.jsonl", "n.jsonl.1"]


# -- dora/logs routing ------------------------------------------------------------------------

def test_log_consumers_are_the_nodes_with_a_dora_logs_input():
    assert log_consumers(a_dataflow("viewer", "alerts")) == {"viewer", "alerts"}
    assert log_consumers(a_dataflow()) == set()


def test_records_are_held_until_every_consumer_subscribed_then_published_in_order():
    published: list[contract.LogMessage] = []
    router = LogRouter(a_dataflow("viewer", "alerts"), "u", published.append)
    router.route("sensor", output_record(Stream.STDERR, record_line("WARNING", "hot")), STAMP)
    router.route("plain", output_record(Stream.STDOUT, "printed"), STAMP)
    router.consumer_seen("sensor")  # not a consumer: changes nothing
    router.consumer_seen("viewer")
    assert published == []
    router.consumer_seen("alerts")
    assert published == [
        contract.LogMessage("warn", "hot", "sensor", STAMP, "n", None, "u"),
        contract.LogMessage("stdout", "printed", "plain", STAMP, None, None, "u")]
    router.route("sensor", output_record(Stream.STDERR, record_line("trace", "t", None,
                                                                     k=1)), STAMP)
    assert published[-1] == contract.LogMessage("trace", "t", "sensor", STAMP, None, {"k": 1},
                                                "u")


def test_without_consumers_nothing_is_held_or_published():
    published = []
    router = LogRouter(a_dataflow(), "u", published.append)
    router.route("sensor", output_record(Stream.STDOUT, "x"), STAMP)
    router.consumer_seen("sensor")
    assert published == []


def test_the_held_records_are_bounded_and_the_oldest_go_first():
    published = []
    router = LogRouter(a_dataflow("viewer"), "u", published.append, limit=3)
    for i in range(5):
        router.route("plain", output_record(Stream.STDOUT, f"line {i}"), STAMP)
    router.consumer_seen("viewer")
    assert [m.message for m in published] == ["line 2", "line 3", "line 4"]


def test_a_routed_record_is_the_json_dora_rs_consumers_read():
    published = []
    router = LogRouter(a_dataflow("viewer"), "u", published.append)
    router.consumer_seen("viewer")
    router.route("sensor", output_record(Stream.STDERR, record_line("error", "boom")), STAMP)
    fields = json.loads(contract.encode_log_message(published[0]))
    assert (fields["level"], fields["node_id"], fields["message"]) == ("error", "sensor", "boom")
    assert fields["timestamp"] == STAMP and fields["dataflow_id"] == "u"
