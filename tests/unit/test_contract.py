"""The node <-> supervisor contract: every record survives its codec, bad input is refused."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dora_api import contract
from dora_api.contract import (
    Ack,
    ClosingNote,
    ContractError,
    Endpoints,
    FailedMessage,
    FlushedNote,
    InputConfig,
    LogRecord,
    Namespace,
    NodeConfig,
    OperatorConfig,
    PeerToken,
    RestartedMessage,
    StopMessage,
    TokenKind,
)

CONTRACT = Path(contract.__file__).resolve().parent
node_ids = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")
incarnations = st.integers(min_value=0, max_value=2**40)


def a_config(**changes) -> NodeConfig:
    config = NodeConfig(
        dataflow_id="0190-uuid", node_id="rt", prefix="lab/a",
        inputs={"op/tick": InputConfig("dora/timer/millis/5", None, "backpressure"),
                "op/x": InputConfig("up/x", 3, "drop_oldest")},
        outputs=["op/out"], consumers={"op/out": ["sink", "log"]},
        endpoints=Endpoints(["unixsock-stream/l.sock"], ["unixsock-stream/c.sock"]),
        wait_for=["up", "sink"], incarnation=4, restart_count=3, lease_s=10.0,
        descriptor="/df/d.yml", base_dir="/df",
        operators=[OperatorConfig("op", "python", "/df/op.py", ["tick", "x"], ["out"])],
        min_log_level="info", send_logs_as="op/out")
    return contract.evolve(config, **changes)


# -- config -------------------------------------------------------------------------

def test_config_round_trips_with_every_field_written():
    config = a_config()
    text = contract.encode_config(config)
    assert contract.decode_config(text) == config
    written = json.loads(text)
    assert set(written) == {field.name for field in contract.fields(NodeConfig)}
    assert written["ready_timeout"] == contract.READY_TIMEOUT_S == 10.0
    assert written["version"] == contract.CONFIG_VERSION


def test_config_defaults_live_in_the_record_and_lists_become_tuples():
    config = a_config(ready_timeout=2.5)
    assert config.outputs == ("op/out",) and config.consumers == {"op/out": ("sink", "log")}
    assert contract.decode_config(contract.encode_config(config)).ready_timeout == 2.5


@pytest.mark.parametrize("version", [0, 1, 2, 4, "3", None])
def test_a_config_of_another_version_is_refused_by_name(version):
    written = json.loads(contract.encode_config(a_config()))
    written["version"] = version
    with pytest.raises(ContractError, match=r"DORA_NODE_CONFIG has version .* reads version 3"):
        contract.decode_config(json.dumps(written))


def test_a_config_without_a_version_is_refused():
    written = json.loads(contract.encode_config(a_config()))
    del written["version"]
    with pytest.raises(ContractError, match="version None"):
        contract.decode_config(json.dumps(written))


@pytest.mark.parametrize("path, value, message", [
    (("ready_timeout",), None, r"DORA_NODE_CONFIG.ready_timeout is missing"),
    (("incarnation",), "4", r"DORA_NODE_CONFIG.incarnation must be a whole number, not '4'"),
    (("incarnation",), True, r"DORA_NODE_CONFIG.incarnation must be a whole number"),
    (("lease_s",), "10", r"DORA_NODE_CONFIG.lease_s must be a number"),
    (("inputs", "op/x", "queue_size"), "3", r"DORA_NODE_CONFIG.inputs.op/x.queue_size must"),
    (("inputs", "op/x", "source"), None, r"DORA_NODE_CONFIG.inputs.op/x.source is missing"),
    (("endpoints", "listen"), "l.sock", r"DORA_NODE_CONFIG.endpoints.listen must be a list"),
    (("operators",), {"id": "op"}, r"DORA_NODE_CONFIG.operators must be a list"),
    (("consumers", "op/out"), [1], r"DORA_NODE_CONFIG.consumers.op/out must be a list of str"),
])
def test_a_malformed_config_names_the_field(path, value, message):
    written = json.loads(contract.encode_config(a_config()))
    target = written
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    with pytest.raises(ContractError, match=message):
        contract.decode_config(json.dumps(written))


def test_a_config_that_is_not_json_or_not_an_object_is_refused():
    with pytest.raises(ContractError, match="not JSON"):
        contract.decode_config("{nope")
    with pytest.raises(ContractError, match="version"):
        contract.decode_config("[1]")


def test_config_from_environ():
    assert contract.config_from_environ({}) is None
    assert contract.config_from_environ({contract.CONFIG_ENV: ""}) is None
    config = a_config()
    env = {contract.CONFIG_ENV: contract.encode_config(config)}
    assert contract.config_from_environ(env) == config


def test_input_config_views():
    timer = InputConfig("dora/timer/hz/50", None, "backpressure")
    data = InputConfig("up/op/out", 2, "drop_oldest")
    assert timer.is_builtin and timer.timer_interval == pytest.approx(0.02)
    assert not timer.drops_oldest
    assert not data.is_builtin and data.upstream == ("up", "op/out")
    assert data.drops_oldest and data.timer_interval is None


# -- control messages, pipe notes -----------------------------------------------------

@given(node_ids)
def test_control_messages_round_trip(node):
    for message in (StopMessage(), RestartedMessage(node), FailedMessage(node, "exited: 3")):
        assert contract.decode_control(contract.encode_control(message)) == message


@pytest.mark.parametrize("payload", [
    b"", b"stop", b"\xff\xfe", b"[]", b"null", b"{}", b'{"t": "explode"}', b'{"t": "restarted"}',
    b'{"t": "restarted", "node": ""}', b'{"t": "restarted", "node": 3}', b'{"type": "stop"}',
    b'{"t": "failed", "node": "a"}', b'{"t": "failed", "node": "", "error": "x"}',
    b'{"t": "failed", "node": "a", "error": 3}',
])
def test_unknown_or_malformed_control_messages_are_contract_errors(payload):
    with pytest.raises(ContractError):
        contract.decode_control(payload)


def test_encoding_something_that_is_not_a_control_message_is_a_type_error():
    with pytest.raises(TypeError):
        contract.encode_control({"t": "stop"})


@given(incarnations)
def test_pipe_notes_round_trip_as_one_line(incarnation):
    for note in (ClosingNote(incarnation), FlushedNote(incarnation)):
        line = contract.encode_note(note)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert contract.decode_note(line) == note
        assert contract.decode_note(line.decode().strip()) == note


@pytest.mark.parametrize("line", ["", "C", "C ", "X 1", "C one", "C -1", "F 1 2", "c 1",
                                  "F 1.5", "C ١"])
def test_unknown_or_malformed_pipe_notes_are_contract_errors(line):
    with pytest.raises(ContractError):
        contract.decode_note(line)


# -- log lines, end-of-stream marker, acknowledgements --------------------------------------

@pytest.mark.parametrize("record", [LogRecord("info", "hello \"quoted\"\nnext", "dora.x"),
                                    LogRecord("warning", "", None),
                                    LogRecord("warn", "fields", None, {"k": [1, "v"]})])
def test_log_lines_round_trip_and_carry_the_mark(record):
    line = contract.encode_log_line(record)
    assert line.startswith(contract.LOG_MARK) and "\n" not in line
    assert contract.decode_log_line(line) == record


def test_plain_output_is_not_a_log_record():
    assert contract.decode_log_line("hello") is None
    assert contract.decode_log_line('{"other": 1}') is None


@pytest.mark.parametrize("line", ['{"dora_log": 1', '{"dora_log": 1, "level": "info"}',
                                  '{"dora_log": 1, "level": 3, "msg": "x"}',
                                  '{"dora_log": 1, "level": "info", "msg": "x", "logger": 1}'])
def test_a_marked_but_malformed_log_line_is_a_contract_error(line):
    with pytest.raises(ContractError):
        contract.decode_log_line(line)


@given(incarnations)
def test_end_of_stream_markers_round_trip(incarnation):
    marker = contract.encode_flush_marker(incarnation)
    assert contract.is_flush_marker(marker)
    assert contract.decode_flush_marker(marker) == incarnation


@pytest.mark.parametrize("attachment", [b"", b"F", b"Fx", b"F-1", b"b1", b"F1 "])
def test_malformed_end_of_stream_markers_are_contract_errors(attachment):
    with pytest.raises(ContractError):
        contract.decode_flush_marker(attachment)


def test_data_attachments_are_never_taken_for_markers():
    for kind in (contract.KIND_BYTES, contract.KIND_ARROW):
        assert not contract.is_flush_marker(contract.encode_attachment(kind, {"k": 1}) or b"")


@pytest.mark.parametrize("ack", [Ack("sink", "out"), Ack("rt", "op/out")])
def test_acknowledgements_round_trip(ack):
    assert contract.decode_ack(contract.encode_ack(ack)) == ack


@pytest.mark.parametrize("payload", [b"", b"sink", b"/out", b"sink/"])
def test_malformed_acknowledgements_are_contract_errors(payload):
    with pytest.raises(ContractError):
        contract.decode_ack(payload)


# -- key expressions --------------------------------------------------------------------

@pytest.mark.parametrize("prefix, data, ctl", [
    ("", "dora/u", "dora-ctl/u"), ("lab", "lab/dora/u", "lab/dora-ctl/u"),
    ("/lab/a/", "lab/a/dora/u", "lab/a/dora-ctl/u")])
def test_key_builders(prefix, data, ctl):
    ns = Namespace(prefix, "u")
    assert ns.output("cam", "op/img") == f"{data}/cam/op/img"
    assert ns.alive() == f"{ctl}/alive/*/*"
    assert ns.alive("cam", 2) == f"{ctl}/alive/cam/2"
    assert ns.finished("cam", -1) == f"{ctl}/finished/cam/-1"
    assert ns.failed("cam", 3) == f"{ctl}/failed/cam/3"
    assert ns.log("warn", "cam") == f"{data}/dora/logs/warn/cam"
    assert ns.to("cam") == f"{ctl}/to/cam" and ns.to_all == f"{ctl}/to/all"
    assert ns.ack("cam", 2) == f"{ctl}/ack/cam/2" and ns.ack("cam") == f"{ctl}/ack/cam/*"
    assert ns.coordinator == f"{ctl}/coordinator"


@given(node_ids, st.integers(min_value=-1, max_value=2**40), st.sampled_from(["", "lab/a"]))
def test_liveliness_keys_round_trip(node, number, prefix):
    ns = Namespace(prefix, "u")
    assert ns.parse_token(ns.alive(node, number)) == PeerToken(TokenKind.ALIVE, node, number)
    assert ns.parse_token(ns.finished(node, number)) == PeerToken(TokenKind.FINISHED, node,
                                                                  number)
    assert ns.parse_token(ns.failed(node, number)) == PeerToken(TokenKind.FAILED, node, number)


@pytest.mark.parametrize("key", [
    "dora-ctl/u/alive/a", "dora-ctl/u/alive/a/x", "dora-ctl/u/alive/a/1/2",
    "dora-ctl/u/alive//1", "dora-ctl/u/alive/a/", "dora-ctl/u/to/a", "dora-ctl/u/ack/a/1",
    "dora-ctl/other/alive/a/1", "lab/dora-ctl/u/alive/a/1", "dora/u/a/1", "dora-ctl/u/coordinator",
    "dora-ctl/u/alive/a/+1", "dora-ctl/u/alive/a/1_0",
])
def test_foreign_or_malformed_liveliness_keys_are_contract_errors(key):
    with pytest.raises(ContractError, match="not a liveliness key of dora-ctl/u"):
        Namespace("", "u").parse_token(key)


def test_input_sources():
    assert contract.split_source("cam/op/img") == ("cam", "op/img")
    assert contract.split_source("cam") == ("cam", "")
    assert contract.is_builtin_source("dora/timer/secs/1")
    assert not contract.is_builtin_source("dorado/x")


# -- timers, codec ------------------------------------------------------------------------

@pytest.mark.parametrize("source, interval", [
    ("dora/timer/secs/2", 2.0), ("dora/timer/millis/5", 0.005), ("dora/timer/micros/10", 1e-5),
    ("dora/timer/nanos/100", 1e-7), ("dora/timer/hz/4", 0.25), ("dora/timer/hz/0.5", 2.0),
    ("up/out", None)])
def test_timer_grammar(source, interval):
    assert contract.parse_timer(source) == pytest.approx(interval)


@pytest.mark.parametrize("source, message", [
    ("dora/timer/weeks/1", "malformed timer 'dora/timer/weeks/1' (expected dora/timer/"
                           "{secs,millis,micros,nanos}/N or dora/timer/hz/F)"),
    ("dora/timer/millis/1.5", "malformed timer 'dora/timer/millis/1.5': '1.5' is not a whole "
                              "number"),
    ("dora/timer/hz/x", "malformed timer 'dora/timer/hz/x': 'x' is not a number"),
    ("dora/timer/secs/0", "malformed timer 'dora/timer/secs/0': the interval must be a "
                          "positive, finite number"),
    ("dora/timer/hz/inf", "malformed timer 'dora/timer/hz/inf': the frequency must be a "
                          "positive, finite number"),
    ("dora/timer/hz/nan", "the frequency must be a positive"),
])
def test_malformed_timers_are_contract_errors_with_their_messages(source, message):
    with pytest.raises(ContractError) as raised:
        contract.parse_timer(source)
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)  # descriptor checks report ValueErrors


@pytest.mark.parametrize("value, metadata", [
    (b"raw", None), (b"raw", {"seq": 1, "tags": ["a"]}), (bytearray(b"ba"), None),
    (pa.array([1, 2, 3]), {"k": "v"})])
def test_values_and_attachments_round_trip(value, metadata):
    kind, payload, header = contract.encode_value(value)
    attachment = contract.encode_attachment(kind, metadata, header)
    decoded_kind, decoded_metadata, start = contract.decode_attachment(attachment)
    assert (decoded_kind, decoded_metadata) == (kind, metadata or {})
    decoded = contract.decode_value(decoded_kind, bytes(payload), attachment, start)
    assert decoded == (bytes(value) if isinstance(value, bytes | bytearray) else value)


# -- the package itself ---------------------------------------------------------------------

IO_MODULES = {"asyncio", "os", "signal", "subprocess", "time", "zenoh", "psutil", "socket",
              "threading", "random", "shutil", "pathlib", "io", "pyarrow", "dora_supervisor"}


@pytest.mark.parametrize("module", sorted(p.stem for p in CONTRACT.glob("*.py")))
def test_contract_modules_are_pure_and_declare_their_names(module):
    """Both processes import the contract: no I/O and no heavy import at import time
    (zenoh and pyarrow are imported inside the functions that need them)."""
    source = (CONTRACT / f"{module}.py").read_text()
    tree = ast.parse(source)
    imported = set()
    for node in tree.body:  # module level only
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & IO_MODULES, f"{module} imports {sorted(imported & IO_MODULES)}"
    names = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                 and any(getattr(t, "id", None) == "__all__" for t in node.targets))
    assert isinstance(names, ast.List) and names.elts


def test_the_package_re_exports_every_public_name_of_its_modules():
    import importlib

    for path in CONTRACT.glob("*.py"):
        if path.stem == "__init__":
            continue
        module = importlib.import_module(f"dora_api.contract.{path.stem}")
        for name in module.__all__:
            assert getattr(contract, name) is getattr(module, name), name
            assert name in contract.__all__, name


@pytest.mark.parametrize("path", sorted(CONTRACT.parent.rglob("*.py")), ids=lambda p: p.name)
def test_dora_api_modules_stay_small(path):
    assert len(path.read_text().splitlines()) <= 400
