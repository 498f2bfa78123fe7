"""The control protocol: every request round-trips; anything else is a one-line refusal."""

from __future__ import annotations

import json

import attrs
import pytest

from dora_supervisor import control_protocol as proto

REQUESTS = [proto.Ping(), proto.ListDataflows(), proto.Status(), proto.Status("3f2a"),
            proto.Start("/abs/df.yml"), proto.Start("/abs/df.yml", "mini"),
            proto.Stop("uuid"), proto.Stop("uuid", 0.5), proto.Restart("uuid", "camera"),
            proto.Logs("uuid", "camera"), proto.Destroy()]


@pytest.mark.parametrize("request_", REQUESTS, ids=repr)
def test_every_request_round_trips_as_one_versioned_json_line(request_):
    line = proto.encode_request(request_)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    body = json.loads(line)
    assert (body["v"], body["op"]) == (1, request_.op)
    assert proto.decode_request(line) == request_


@pytest.mark.parametrize(("line", "message"), [
    (b"\xff\n", "malformed request: not a JSON line"),
    (b"42\n", "malformed request: expected a JSON object"),
    (b'{"op": "list"}\n', "unsupported control protocol version None (this side speaks 1): "
                          "use one dora-supervisor version"),
    (b'{"v": 1}\n', "unknown request None (known: ping, list, status, start, stop, restart, "
                    "logs, destroy)"),
    (b'{"v": 1, "op": 3}\n', "unknown request 3 (known: "),
    (b'{"v": 1, "op": "start"}\n', "malformed 'start' request: "),
    (b'{"v": 1, "op": "status", "dataflow": "x", "extra": 1}\n',
     "malformed 'status' request: unknown field(s): extra"),
    (b'{"v": 1, "op": "stop", "dataflow": "x", "grace_s": true}\n',
     "malformed 'stop' request: 'grace_s' must be a number of seconds >= 0, got True"),
    (b'{"v": 1, "op": "restart", "dataflow": "x", "node": ["a"]}\n',
     "malformed 'restart' request: 'node' must be <class 'str'>"),
])
def test_a_bad_request_is_a_one_line_protocol_error(line, message):
    with pytest.raises(proto.ProtocolError) as caught:
        proto.decode_request(line)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_replies_carry_records_as_objects_and_errors_as_their_message():
    summary = proto.DataflowSummary("u", "n", "running", 1, 2, 10.0, 1.5, "/d.yml", "up", 42)
    assert proto.decode_reply(proto.encode_reply([summary])) == [attrs.asdict(summary)]
    assert proto.from_json(proto.DataflowSummary, attrs.asdict(summary)) == summary
    with pytest.raises(proto.ProtocolError, match="^no dataflow 'x'$"):
        proto.decode_reply(proto.encode_error("no dataflow 'x'"))
    with pytest.raises(proto.ProtocolError, match="unknown field"):
        proto.from_json(proto.Pong, {"pid": 1, "kind": "up", "version": "1", "started_at": 0,
                                     "extra": True})
    with pytest.raises(proto.ProtocolError, match="'nowhere' is not a valid ServerKind"):
        proto.from_json(proto.Pong, {"pid": 1, "kind": "nowhere", "version": "1",
                                     "started_at": 0})


def test_the_status_entry_gives_exactly_the_spec_object():
    entry = proto.DataflowStatus("u", None, "stopping", "2026-01-01T00:00:00Z", {"id": "x"},
                                 {"dataflow": 2})
    assert entry.spec_object() == {"uuid": "u", "name": None, "state": "stopping",
                                   "started_at": "2026-01-01T00:00:00Z", "tree": {"id": "x"}}
