"""The coordinator <-> daemon records: every record round-trips; anything else is a
ContractError that names what is wrong."""

from __future__ import annotations

import json

import pytest

from dora_api import contract
from dora_api.contract import MachineKeys

INFO = contract.DaemonInfo("m1", "d-1", 42, "robot", "0.1.0", contract.PROTOCOL_VERSION,
                           "/opt/robot", "/usr/bin/python3", "/tmp/dora-daemon-x", 2.0,
                           {"memory": "cgroup_v2", "cpu": "cgroup_v2", "cpu_throttle": True})
COMMANDS = [
    contract.SpawnNode("u", "cam", 3, 2, ["python", "-u", "cam.py"], "/opt/robot",
                       {"DORA_NODE_ID": "cam"}, {"HOME_DIR": "$HOME"},
                       {"memory": 1024, "cpu": None}, 0.5, None),
    contract.SpawnNode("u", "cam", 4, 3, ["cam"], "/opt/robot", {}, {}, {"memory": 1024},
                       0.5, {"interval": 0.1, "group": True, "memory_max": 1024,
                             "cpu_quota": None, "heartbeat": True}),
    contract.KillNode("u", "cam", 3),
    contract.KillAll("u"),
    contract.CloseDataflow("u"),
]
REPORTS = [
    contract.NodeStarted("u", "cam", 3, 1234),
    contract.NodeExited("u", "cam", 3, None, 9),
    contract.NodeSampled("u", "cam", 3, 12.5, "S", 1 << 20, 0.25),
    contract.NodeHeartbeat("u", "cam", 3, 12.5, 11.0, 11.2, 0.0),
    contract.NodeEnforced("u", "cam", 3, 12.5, "memory", 1 << 21, 1 << 20, "cgroup_v2"),
    contract.NodeTallied("u", "cam", 3, {"out": 7}, {"in": [0, 5, 4, 1]}),
    contract.NodeLine("u", "cam", "stderr", "Traceback ..."),
    contract.NodeNote("u", "cam", 3, "closing 3"),
    contract.DataflowClosed("u"),
]


@pytest.mark.parametrize("record", COMMANDS, ids=lambda r: r.kind)
def test_commands_round_trip(record):
    assert contract.decode_command(contract.encode_record(record)) == record


@pytest.mark.parametrize("record", REPORTS, ids=lambda r: r.kind)
def test_reports_round_trip(record):
    assert contract.decode_report(contract.encode_record(record)) == record


def test_join_and_its_reply_round_trip():
    assert contract.decode_join(contract.encode_record(INFO)) == INFO
    reply = contract.JoinReply(False, "refused: machine 'm1' already has a daemon")
    assert contract.decode_join_reply(contract.encode_record(reply)) == reply


@pytest.mark.parametrize("data, error", [
    (b"\xff", "a daemon report that is not JSON"),
    (b"[]", "a daemon report must be a JSON object"),
    (b'{"kind": "spawn"}', "not a daemon report (kind must be one of started, exited, "
                           "sampled, heartbeat, enforced, tallied, line, note, closed)"),
    (b'{"kind": "started", "dataflow": "u", "node": "a", "incarnation": 1}',
     "started daemon report: missing pid"),
    (b'{"kind": "closed", "dataflow": "u", "extra": 1}',
     "closed daemon report: unknown extra"),
    (b'{"kind": "started", "dataflow": "u", "node": "a", "incarnation": "1", "pid": 3}',
     "started daemon report: 'incarnation' must be <class 'int'>"),
    (b'{"kind": "heartbeat", "dataflow": "u", "node": "a", "incarnation": 1, "at": 2, '
     b'"taken_at": null, "waiting_since": 0, "excused_until": 0}',
     "heartbeat daemon report: 'taken_at' must be"),
    (b'{"kind": "tallied", "dataflow": "u", "node": "a", "incarnation": 1, "sent": {}, '
     b'"inputs": {"in": [0, 1, 2]}}',
     "tallied daemon report: Length of 'inputs' must be >= 4"),
    (b'{"kind": "tallied", "dataflow": "u", "node": "a", "incarnation": 1, '
     b'"sent": {"out": "7"}, "inputs": {}}',
     "tallied daemon report: 'sent' must be <class 'int'>"),
])
def test_a_bad_report_is_a_contract_error_naming_the_field(data, error):
    with pytest.raises(contract.ContractError) as caught:
        contract.decode_report(data)
    assert str(caught.value).startswith(error)


def test_a_ledger_crosses_as_its_counts_and_comes_back_the_same():
    ledger = contract.Ledger(3, {"out": 7, "op/x": 0}, {
        "in": contract.InputTally(contract.Position(2, 41), 50, 45, 3),
        "idle": contract.InputTally(None, 0, 0, 0)})
    record = contract.NodeTallied.of("u", "cam", ledger)
    assert record.incarnation == 3 and record.inputs["idle"] == [0, 0, 0, 0]
    assert contract.decode_report(contract.encode_record(record)).ledger == ledger


def test_a_command_is_not_a_report_and_the_reverse():
    with pytest.raises(contract.ContractError):
        contract.decode_report(contract.encode_record(COMMANDS[0]))
    with pytest.raises(contract.ContractError):
        contract.decode_command(contract.encode_record(REPORTS[0]))
    body = json.loads(contract.encode_record(COMMANDS[0]))
    assert body["kind"] == "spawn" and body["target_env"] == {"HOME_DIR": "$HOME"}


def test_keys_and_the_machine_they_name():
    assert MachineKeys.daemon("m1") == "dora-machines/daemon/m1"
    assert MachineKeys.machine_of(MachineKeys.daemon("m1")) == "m1"
    assert MachineKeys.machine_of(MachineKeys.reports("robot-a.b")) == "robot-a.b"
    assert MachineKeys.to("m1") != MachineKeys.reports("m1")
    with pytest.raises(contract.ContractError):
        MachineKeys.machine_of("dora-machines/to/m1")
    assert INFO.router_socket == "/tmp/dora-daemon-x/router.sock"
    assert INFO.node_socket("u", "n3") == "/tmp/dora-daemon-x/u/n3.sock"


@pytest.mark.parametrize("name", ["a/b", "*", "", "-x", ".x", "a b", "local", "m$"])
def test_a_machine_name_must_be_a_plain_key_chunk(name):
    with pytest.raises(contract.ContractError):
        contract.check_machine_name(name)


def test_tls_files_make_a_mutual_tls_router_config():
    config = contract.zenoh_config(["tls/127.0.0.1:1"], [], 1.0, router=True,
                                   tls=contract.TlsFiles("/ca.pem", "/me.pem", "/me.key"))
    text = str(config)
    assert '"mode":"router"' in text and '"enable_mtls":true' in text
    assert '"connect_certificate":"/me.pem"' in text and '"root_ca_certificate":"/ca.pem"' in text
