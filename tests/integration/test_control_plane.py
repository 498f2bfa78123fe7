"""The control plane with real processes: `dora up`, two dataflows, every control command,
`dora destroy`, and what happens without a coordinator or when it is killed."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from dora_api import contract
from tests.conftest import DORA, dora, spawned, wait_until

NO_COORDINATOR = "dora: no coordinator is running (start one with `dora up`)\n"


def tagged(dataflow, tag: str, file: str) -> Path:
    """`src` sends `tag` ten times a second, `sink` prints `GOT <tag>` for each."""
    return dataflow(f"""
        nodes:
          - id: src
            path: {{nodes}}/tagged.py
            args: --tag {tag}
            inputs: {{tick: dora/timer/millis/100}}
            outputs: [out]
          - id: sink
            path: {{nodes}}/tagged.py
            inputs: {{data: src/out}}
    """, file)


def cli_json(*args: str):
    result = dora(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def workers(tree: dict) -> dict[str, dict]:
    found = {}
    for child in tree["children"]:
        found.update(workers(child) if child["kind"] == "supervisor" else {child["id"]: child})
    return found


def status_of(uuid: str) -> dict:
    return cli_json("status", uuid, "--json")["dataflows"][0]


def all_running(listed: list[dict]) -> list[dict] | None:
    ok = listed and all(d["state"] == "running" and d["nodes_running"] == d["nodes_total"]
                        for d in listed)
    return listed if ok else None


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def runtime_dir(control_dirs: Path) -> Path:
    return control_dirs / "run" / "dora"


class LineReader:
    """The lines a process prints, collected by a thread (a read never blocks the test)."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc) -> None:
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))


def test_two_dataflows_with_the_same_node_ids_under_one_background_coordinator(
        dataflow, background):
    again = dora("up")
    assert again.returncode == 0 and again.stdout.startswith(
        "dora: the coordinator is already running (pid ")
    a_file, b_file = tagged(dataflow, "A", "a.yml"), tagged(dataflow, "B", "b.yml")
    alpha = dora("start", str(a_file), "--name", "alpha")
    beta = dora("start", str(b_file), "--name", "beta")
    assert alpha.returncode == 0 and beta.returncode == 0, alpha.stderr + beta.stderr
    alpha_id, beta_id = alpha.stdout.strip(), beta.stdout.strip()
    taken = dora("start", str(a_file), "--name", "alpha")
    assert (taken.returncode, taken.stdout, taken.stderr) == (1, "", (
        f"dora: a dataflow named 'alpha' is already running ({alpha_id}); choose another "
        "--name\n"))

    listed = wait_until(lambda: all_running(cli_json("list", "--json")), 30,
                        "both dataflows with all nodes running")
    assert [(d["uuid"], d["name"], d["nodes_total"], d["server_kind"], d["descriptor"])
            for d in listed] == [(alpha_id, "alpha", 2, "up", str(a_file)),
                                 (beta_id, "beta", 2, "up", str(b_file))]

    status = cli_json("status", "--json")
    assert list(status) == ["dataflows"]
    assert [d["uuid"] for d in status["dataflows"]] == [alpha_id, beta_id]
    for entry in status["dataflows"]:
        assert list(entry) == ["uuid", "name", "state", "started_at", "tree"]
        for node, worker in workers(entry["tree"]).items():
            environ = psutil.Process(worker["pid"]).environ()  # the real node process
            assert (environ[contract.NODE_ID_ENV], environ[contract.DATAFLOW_ID_ENV]) \
                == (node, entry["uuid"])

    before = workers(status_of(alpha_id)["tree"])["src"]
    restarted = dora("restart", "alpha", "src")
    assert restarted.returncode == 0, restarted.stderr
    after = workers(status_of(alpha_id)["tree"])["src"]
    assert restarted.stdout == (f"dora: restarted node 'src' of dataflow alpha "
                                f"({alpha_id[:8]}) (pid {after['pid']}, restarts 1)\n")
    assert (after["state"], after["restarts"], after["last_exit"]["reason"]) \
        == ("running", before["restarts"] + 1, "shutdown")
    assert after["pid"] != before["pid"] and gone(before["pid"])

    wait_until(lambda: "GOT A" in dora("logs", "alpha", "sink").stdout, 20, "alpha's data")
    records = [json.loads(line) for line in dora("logs", alpha_id[:6], "sink", "--json")
               .stdout.splitlines()]
    assert records[0]["event"] == "node_started"
    assert {r["line"] for r in records if r["event"] == "node_output"} == {"GOT A"}
    with spawned([*DORA, "logs", "alpha", "sink", "--follow", "--tail", "0"],
                 stdout=subprocess.PIPE, text=True) as follow:
        streamed = LineReader(follow)
        wait_until(lambda: len(streamed.lines) >= 3, 20, "three new lines from --follow")
        assert all(line.endswith("sink | GOT A") for line in streamed.lines[:3])

        stopped = dora("stop", "alpha")
        assert (stopped.returncode, stopped.stdout) == (
            0, f"dora: stopped dataflow alpha ({alpha_id[:8]})\n"), stopped.stderr
        assert follow.wait(10) == 0  # --follow ends with its dataflow
    states = {d["name"]: (d["state"], d["nodes_running"]) for d in cli_json("list", "--json")}
    assert states == {"alpha": ("finished", 0), "beta": ("running", 2)}
    seen = len(dora("logs", "beta", "sink").stdout.splitlines())
    wait_until(lambda: len(dora("logs", "beta", "sink").stdout.splitlines()) > seen + 3, 20,
               "beta's sink still receiving")
    beta_lines = [r["line"] for r in map(json.loads, dora("logs", "beta", "sink", "--json")
                                         .stdout.splitlines()) if r["event"] == "node_output"]
    assert set(beta_lines) == {"GOT B"}

    pids = [w["pid"] for w in workers(status_of(beta_id)["tree"]).values()]
    destroyed = dora("destroy")
    assert destroyed.returncode == 0 and destroyed.stdout.startswith(
        "dora: coordinator stopped (pid ") and "1 dataflow(s) stopped" in destroyed.stdout
    assert all(gone(pid) for pid in pids)
    assert list(runtime_dir(background).iterdir()) == []  # no socket, no lock
    out = background / "state" / "dora" / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted([alpha_id, beta_id])
    assert (dora("destroy").stdout, dora("list").stderr) == (
        "dora: no coordinator is running\n", NO_COORDINATOR)


def test_status_text_is_a_tree_of_at_most_80_columns_coloured_only_on_a_terminal(
        dataflow, background):
    path = dataflow("""
        name: shaped
        groups:
          - {id: perception-group, strategy: one_for_all, max_restarts: 2, max_seconds: 10,
             members: [camera-with-a-long-name, detector]}
        nodes:
          - {id: camera-with-a-long-name, path: {nodes}/worker.py}
          - {id: detector, path: {nodes}/worker.py}
          - {id: logger, path: {nodes}/worker.py}
    """)
    uuid = dora("start", str(path)).stdout.strip()
    wait_until(lambda: all_running(cli_json("list", "--json")), 30, "all nodes running")
    pids = {n: w["pid"] for n, w in workers(status_of(uuid)["tree"]).items()}
    text = dora("status").stdout
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80 and "\x1b" not in text
    assert lines[0].startswith(f"shaped {uuid}  running  up ")
    assert lines[1].split() == ["NODE", "STATE", "PID", "UPTIME", "RST", "ALIVE", "MEM",
                                "CPU", "EXIT"]  # a long name leaves no room for "LAST EXIT"
    assert lines[2].split() == ["dataflow", "running", "one_for_one,", "0/3", "in", "5s"]
    assert lines[3].split() == ["├─", "perception-group", "running", "one_for_all,", "0/2",
                                "in", "10s"]
    for line, node in zip(lines[4:], pids, strict=True):
        assert f" running  {pids[node]:>7} " in line, line
    assert lines[4].startswith("│  ├─ camera-with-a-lon… running") and lines[6].startswith("└─ logger ")

    def on_a_terminal(**env) -> str:
        primary, secondary = os.openpty()
        try:
            proc = subprocess.run([*DORA, "status"], stdout=secondary, stderr=subprocess.PIPE,
                                  env={**os.environ, **env}, timeout=30)
            assert proc.returncode == 0, proc.stderr
            return os.read(primary, 1 << 16).decode()
        finally:
            os.close(primary)
            os.close(secondary)

    assert "\x1b[32mrunning" in on_a_terminal()
    assert "\x1b[" not in on_a_terminal(NO_COLOR="1")


def test_a_foreground_run_is_listed_with_its_pids_next_to_the_background_ones(
        dataflow, dora_run, background):
    background_id = dora("start", str(tagged(dataflow, "B", "b.yml"))).stdout.strip()
    path = dataflow("""
        name: fore
        nodes:
          - {id: w, path: {nodes}/worker.py}
          - {id: v, path: {nodes}/worker.py}
    """)
    run = dora_run(path)
    run.wait_for(lambda r: len(r.lines("w")) == 1 and len(r.lines("v")) == 1, 30,
                 "both nodes of the foreground run")
    pids = {r["node"]: r["pid"] for r in run.events("node_started")}
    listed = wait_until(lambda: all_running(cli_json("list", "--json")), 30, "all running")
    assert [(d["name"], d["server_kind"]) for d in listed] == [(None, "up"), ("fore", "run")]
    assert listed[1]["server_pid"] == run.proc.pid and listed[0]["uuid"] == background_id
    fore = status_of("fore")
    assert {n: w["pid"] for n, w in workers(fore["tree"]).items()} == pids
    assert "START pid=" in dora("logs", "fore", "w").stdout
    stopped = dora("stop", "fore")
    assert stopped.returncode == 0, stopped.stderr
    assert run.wait(20) == 0
    assert [d["server_kind"] for d in cli_json("list", "--json")] == ["up"]


@pytest.mark.parametrize("args", [("status",), ("status", "x", "--json"), ("logs", "n"),
                                  ("restart", "df", "n"), ("stop",), ("list",), ("start",)])
def test_without_a_coordinator_every_command_says_so_in_one_line_within_2s(dataflow, args):
    if args == ("start",):
        args = ("start", str(dataflow("nodes: [{id: w, path: {nodes}/worker.py}]")))
    begin = time.monotonic()
    result = dora(*args)
    assert time.monotonic() - begin < 2
    assert (result.returncode, result.stdout, result.stderr) == (1, "", NO_COORDINATOR)


def test_without_a_coordinator_list_json_is_empty_and_destroy_is_a_no_op():
    assert (dora("list", "--json").stdout, dora("destroy").stdout) == (
        "[]\n", "dora: no coordinator is running\n")


def test_start_validates_first_with_the_errors_of_dora_check(dataflow, background):
    path = dataflow("""
        nodes:
          - {id: w, path: {nodes}/worker.py, inputs: {x: timr/out}}
    """)
    started, checked = dora("start", str(path)), dora("check", str(path))
    assert (started.returncode, started.stdout) == (1, "")
    assert started.stderr == checked.stderr and "node 'timr' does not exist" in started.stderr
    assert cli_json("list", "--json") == []


def test_a_killed_foreground_run_leaves_a_socket_the_next_command_removes(dataflow, dora_run,
                                                                          control_dirs):
    run = dora_run(dataflow("nodes: [{id: w, path: {nodes}/worker.py}]"))
    run.wait_for(lambda r: r.lines("w"), 30, "the node's start")
    wait_until(lambda: all_running(cli_json("list", "--json")), 30, "the run listed")
    sockets = list(runtime_dir(control_dirs).glob("run-*.sock"))
    assert [s.name for s in sockets] == [f"run-{run.proc.pid}.sock"]
    run.kill()  # SIGKILL: no clean-up of its own
    assert sockets[0].exists()
    assert dora("list").stderr == NO_COORDINATOR
    assert not sockets[0].exists()
