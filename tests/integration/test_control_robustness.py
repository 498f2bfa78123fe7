"""The control plane under abuse: bad requests, another OS user, a killed coordinator;
and `dora start --attach`, which lives as long as its dataflow."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import DORA, ROOT, dora, spawned, wait_until
from tests.integration.test_control_plane import (
    NO_COORDINATOR,
    LineReader,
    all_running,
    cli_json,
    gone,
    runtime_dir,
    status_of,
    workers,
)


def raw_request(path: str, data: bytes, timeout: float = 10) -> dict:
    """Send `data` as it is, half-close, and read the one reply line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused early: the reply is still there to read
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    return json.loads(b"".join(chunks))


@pytest.mark.parametrize(("data", "error"), [
    (b"\x00\xff\xfegarbage\n", "malformed request: not a JSON line"),
    (b'{"v": 1, "op": "status", "data', "truncated request: 30 bytes without the closing"),
    (b'{"v": 1, "op": "frobnicate"}\n', "unknown request 'frobnicate' (known: ping, list,"),
    (b'{"v": 7, "op": "list"}\n', "unsupported control protocol version 7 (this side speaks 1)"),
    (b'{"v": 1, "op": "stop", "dataflow": 5}\n', "malformed 'stop' request: 'dataflow' must"),
    (b'{"v": 1, "op": "stop", "dataflow": "x", "grace_s": -1}\n',
     "malformed 'stop' request: 'grace_s' must be a number of seconds >= 0, got -1"),
    (b'[1, 2]\n', "malformed request: expected a JSON object"),
    (b"x" * (10 << 20), "request too large: more than 1048576 bytes without a newline"),
    (b'{"v": 1, "op": "list", "pad": "' + b"y" * (10 << 20) + b'"}\n',
     "request too large: more than 1048576 bytes"),
], ids=["garbage", "truncated", "unknown", "version", "type", "value", "array", "10MB-raw",
        "10MB-json"])
def test_a_bad_request_gets_an_error_reply_and_harms_nothing(dataflow, background, data,
                                                               error):
    uuid = dora("start", str(dataflow("nodes: [{id: w, path: {nodes}/worker.py}]"))).stdout
    wait_until(lambda: all_running(cli_json("list", "--json")), 30, "the node running")
    before = workers(status_of(uuid.strip())["tree"])["w"]
    reply = raw_request(str(runtime_dir(background) / "coordinator.sock"), data)
    assert reply["v"] == 1 and reply["ok"] is False and reply["error"].startswith(error), reply
    after = workers(status_of(uuid.strip())["tree"])["w"]
    assert (after["pid"], after["restarts"], after["state"]) == (before["pid"], 0, "running")


def test_a_killed_coordinator_takes_its_nodes_along_and_the_next_up_starts_clean(
        dataflow, background):
    uuid = dora("start", str(dataflow("nodes: [{id: w, path: {nodes}/worker.py}, "
                                      "{id: v, path: {nodes}/worker.py}]"))).stdout.strip()
    wait_until(lambda: all_running(cli_json("list", "--json")), 30, "both nodes running")
    pids = [w["pid"] for w in workers(status_of(uuid)["tree"]).values()]
    lock = runtime_dir(background) / "coordinator.lock"
    coordinator = int(lock.read_text())
    temp = Path(tempfile.gettempdir())
    left = sorted(temp.glob(f"dora-*-{coordinator}-*"))  # its zenoh sockets and ledgers
    assert {path.name.split("-")[1] for path in left} == {"link", "ledgers"}, left
    os.kill(coordinator, signal.SIGKILL)
    wait_until(lambda: all(gone(pid) for pid in pids), 1.0, "every node to exit within 1 s")
    assert (runtime_dir(background) / "coordinator.sock").exists()  # stale, for now
    assert all(path.exists() for path in left)  # nobody could remove them yet
    assert dora("status").stderr == NO_COORDINATOR
    restarted = dora("up", "--log-format", "json")
    assert restarted.returncode == 0, restarted.stderr
    new_pid = int(lock.read_text())
    assert new_pid != coordinator
    assert not any(path.exists() for path in left)  # the new coordinator swept them
    assert os.getsid(new_pid) == new_pid and psutil.Process(new_pid).terminal() is None
    assert cli_json("list", "--json") == []
    log = background / "state" / "dora" / "coordinator.log"
    started = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert [(r["event"], r["level"]) for r in started] == [
        ("stale_socket_removed", "warning"), ("coordinator_started", "info")]
    assert started[1]["pid"] == new_pid and started[1]["timestamp"].endswith("Z")
    assert dora("destroy").returncode == 0
    assert list(runtime_dir(background).iterdir()) == []


@pytest.fixture
def other_user():
    """A second OS user, created for the test (needs root) and removed after it."""
    if os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("setpriv") is None:
        pytest.skip("creating a second OS user needs root, useradd and setpriv")
    name = f"dora-t{os.getpid() % 100000}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def as_user(user, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": "/tmp"}
    return subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                           "--clear-groups", "--", *argv], capture_output=True, text=True,
                          env=env, cwd="/", timeout=timeout)


def test_another_user_can_neither_list_nor_query_nor_stop(dataflow, background, other_user):
    uuid = dora("start", str(dataflow("nodes: [{id: w, path: {nodes}/worker.py}]"))).stdout
    wait_until(lambda: all_running(cli_json("list", "--json")), 30, "the node running")
    directory = runtime_dir(background)
    denied = (f"dora: cannot use {directory}: permission denied (the control plane answers "
              "only the user who started it)\n")
    for args in (("list",), ("status", "--json"), ("stop",), ("restart", "w")):
        result = as_user(other_user, *DORA, *args)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", denied), args
    # A directory opened up by mistake: the CLI refuses another user's directory, and the
    # coordinator checks the peer's uid on every connection.
    opened = [(background, 0o711), (background / "run", 0o711), (directory, 0o711),
              (directory / "coordinator.sock", 0o666)]
    modes = [(path, path.stat().st_mode & 0o777) for path, _ in opened]
    try:
        for path, mode in opened:
            path.chmod(mode)
        result = as_user(other_user, *DORA, "list")
        assert (result.returncode, result.stderr) == (1, (
            f"dora: {directory} belongs to uid 0, not to you (uid {other_user.pw_uid}): "
            "refusing to use another user's control directory\n"))
        probe = ("import socket, sys\n"
                 "s = socket.socket(socket.AF_UNIX)\n"
                 "s.connect(sys.argv[1])\n"
                 "try:\n"
                 "    s.sendall(sys.argv[2].encode())\n"  # refused before it is read
                 "except BrokenPipeError:\n"
                 "    pass\n"
                 "print(s.recv(4096).decode())\n")
        for request in ('{"v": 1, "op": "list"}\n',
                        json.dumps({"v": 1, "op": "stop", "dataflow": uuid.strip()}) + "\n"):
            result = as_user(other_user, sys.executable, "-c", probe,
                             str(directory / "coordinator.sock"), request)
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout) == {
                "v": 1, "ok": False,
                "error": "permission denied: this coordinator answers only uid 0"}
    finally:
        for path, mode in modes:
            path.chmod(mode)
    assert [d["state"] for d in cli_json("list", "--json")] == ["running"]


def test_attach_streams_the_records_and_returns_the_dataflow_s_exit_code(dataflow, background):
    ok = dataflow("nodes: [{id: w, path: {nodes}/worker.py, args: --exit-after 0.5}]", "ok.yml")
    result = dora("start", str(ok), "--attach")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines[0]) == 36  # the uuid first
    assert any(line.endswith("w | START pid=" + line.rsplit("=", 2)[1].split()[0]
                             + " restart=0") for line in lines if "| START" in line)
    assert "dataflow_finished ok=True reason=all nodes finished" in lines[-1]
    failing = dataflow("""
        nodes:
          - {id: w, path: {nodes}/worker.py, args: --crash-after 0.3, restart: {policy: temporary}}
    """, "failing.yml")
    result = dora("start", str(failing), "--attach")
    assert result.returncode == 1
    assert result.stderr == ("dora: dataflow failed: node 'w' exited: exit_code\n"
                             "dora:   node 'w' (exit code 1)\n")


def test_ctrl_c_on_attach_stops_the_dataflow_gracefully(dataflow, background):
    path = dataflow("nodes: [{id: w, path: {nodes}/worker.py}]")
    with spawned([*DORA, "start", str(path), "--attach"], stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True, cwd=ROOT) as attached:
        out = LineReader(attached)
        wait_until(lambda: any("w | START" in line for line in out.lines), 30,
                   "the node's start")
        attached.send_signal(signal.SIGINT)
        assert attached.wait(30) == 0
        assert attached.stderr.read() == "dora: stopping\n"
    assert any("w | END" in line for line in out.lines)  # it saw STOP and left by itself
    [summary] = cli_json("list", "--json")
    assert (summary["uuid"], summary["state"], summary["exit_code"]) == (
        out.lines[0], "finished", 0)
    assert workers(status_of(summary["uuid"])["tree"])["w"]["last_exit"]["reason"] == "shutdown"


def test_stop_with_a_grace_kills_a_node_that_ignores_stop(dataflow, background):
    path = dataflow("""
        nodes:
          - {id: w, path: {nodes}/worker.py, args: --ignore-stop, shutdown: 60s}
    """)
    uuid = dora("start", str(path)).stdout.strip()
    wait_until(lambda: all_running(cli_json("list", "--json")), 30, "the node running")
    pid = workers(status_of(uuid)["tree"])["w"]["pid"]
    begin = time.monotonic()
    stopped = dora("stop", "--grace", "500ms")
    assert stopped.returncode == 0, stopped.stderr
    assert time.monotonic() - begin < 10 and gone(pid)
    assert workers(status_of(uuid)["tree"])["w"]["last_exit"] == {
        "code": None, "signal": signal.SIGKILL.value, "reason": "shutdown"}
    assert psutil.pid_exists(pid) is False or gone(pid)


def test_status_watch_redraws_until_ctrl_c(dataflow, background):
    dora("start", str(dataflow("nodes: [{id: w, path: {nodes}/worker.py}]")))
    with spawned([*DORA, "status", "--watch"], stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True) as watching:
        frames = LineReader(watching)
        wait_until(lambda: sum(line.startswith("NODE ") for line in frames.lines) >= 3, 30,
                   "three frames")
        watching.send_signal(signal.SIGINT)
        assert watching.wait(10) == 0 and watching.stderr.read() == ""
