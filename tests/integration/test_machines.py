"""More than one machine on loopback: a coordinator (`dora up --listen`) and daemons
`m1`, `m2` as separate processes; one tree across them; a daemon killed, a daemon cut off
by the network (a TCP proxy of our own in front of it), and both coming back."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from tests.conftest import DORA, dora, wait_until
from tests.integration.cluster import (
    LEASE_S,
    Daemon,
    alive,
    first_event_after,
    got_lines,
    records,
    stop_all,
    wait_running,
    workers,
)

BOUND_S = LEASE_S + 0.5  # a lost daemon is seen within its lease + 0.5 s


def across(dataflow):
    """`src` on m1 sends `A` ten times a second to `sink` on m2, which prints `GOT A`."""
    return dataflow("""
        nodes:
          - id: src
            path: {nodes}/tagged.py
            args: --tag A
            inputs: {tick: dora/timer/millis/100}
            outputs: [out]
            deploy: {machine: m1}
          - id: sink
            path: {nodes}/tagged.py
            inputs: {data: src/out}
            deploy: {machine: m2}
    """)


def start(file, *extra: str) -> str:
    started = dora("start", str(file), "--name", "across", "--wait-for-machines", "30s", *extra)
    assert started.returncode == 0, started.stderr
    return started.stdout.strip()


def stop_cleanly(daemons: list[Daemon]) -> None:
    stopped = dora("stop", "across")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith("dora: stopped dataflow across ("), stopped.stdout
    listed = json.loads(dora("list", "--json").stdout)
    assert [(d["name"], d["state"], d["exit_code"]) for d in listed] == [
        ("across", "finished", 0)]
    wait_until(lambda: not any(d.children() for d in daemons), 5, "no node left on a daemon")
    stop_all(daemons)


@pytest.mark.timeout(120)
def test_a_source_on_m1_feeds_a_sink_on_m2_and_the_sink_survives_losing_m2(dataflow, cluster):
    m1, m2 = cluster.daemon("m1"), cluster.daemon("m2")
    start(across(dataflow))
    found = wait_running("across", ["src", "sink"])
    assert {node: w["machine"] for node, w in found.items()} == {"src": "m1", "sink": "m2"}
    assert found["src"]["pid"] in m1.children() and found["sink"]["pid"] in m2.children()
    wait_until(lambda: got_lines("across", "sink") >= 5, 20, "the sink on m2 receiving from m1")
    wait_until(lambda: workers("across")["sink"]["rss_bytes"], 10,
               "the sink's memory as sampled by its daemon")

    sink_pid = found["sink"]["pid"]
    killed_at = time.time()
    m2.kill()
    lost_at = wait_until(lambda: first_event_after("across", "sink", "liveliness_lost",
                                                   killed_at), 10, "the sink reported lost")
    assert lost_at - killed_at <= BOUND_S
    wait_until(lambda: not alive(sink_pid), max(0.1, killed_at + BOUND_S - time.time()),
               "the sink process gone with its daemon")
    waiting = wait_until(lambda: (w := workers("across")["sink"])["state"] == "backoff" and w,
                         10, "the sink waiting in backoff for m2")
    assert (waiting["pid"], waiting["machine"], waiting["last_exit"]["reason"]) == (
        None, "m2", "liveliness_lost")
    assert workers("across")["src"]["state"] == "running"

    back_at = time.time()
    m2 = cluster.daemon("m2")
    again = wait_running("across", ["src", "sink"])
    assert again["sink"]["restarts"] == 1 and again["sink"]["pid"] in m2.children()
    wait_until(lambda: got_lines("across", "sink", after=back_at) >= 5, 20,
               "the restarted sink receiving again")

    restarted = dora("restart", "across", "sink")
    assert restarted.returncode == 0, restarted.stderr
    assert restarted.stdout.startswith("dora: restarted node 'sink' of dataflow across (")
    restarted_at = time.time()
    wait_until(lambda: got_lines("across", "sink", after=restarted_at) >= 3, 20,
               "the sink restarted by `dora restart` receiving again")
    stop_cleanly([m1, m2])


@pytest.mark.timeout(120)
def test_a_frozen_daemon_is_lost_within_its_lease_and_its_nodes_stop_by_themselves(
        dataflow, cluster):
    m1, m2 = cluster.daemon("m1"), cluster.daemon("m2")
    start(across(dataflow))
    found = wait_running("across", ["src", "sink"])
    wait_until(lambda: got_lines("across", "sink") >= 5, 20, "the sink on m2 receiving from m1")
    sink_pid = found["sink"]["pid"]
    frozen_at = time.time()
    os.kill(m2.proc.pid, signal.SIGSTOP)
    try:
        lost_at = wait_until(lambda: first_event_after("across", "sink", "liveliness_lost",
                                                       frozen_at), 10, "the sink reported lost")
        assert lost_at - frozen_at <= BOUND_S
        # its link to the silent router expires after the daemon's lease: it stops itself
        wait_until(lambda: not alive(sink_pid), max(0.1, frozen_at + LEASE_S + 1.5 - time.time()),
                   "the sink of the frozen daemon stopping by itself")
    finally:
        os.kill(m2.proc.pid, signal.SIGCONT)
    again = wait_running("across", ["src", "sink"])
    assert again["sink"]["restarts"] == 1 and again["sink"]["pid"] in m2.children()
    stop_cleanly([m1, m2])


@pytest.mark.timeout(120)
def test_a_daemon_cut_off_by_the_network_stops_its_nodes_and_they_return_when_it_heals(
        dataflow, cluster):
    m1, m2 = cluster.daemon("m1", via_proxy=True), cluster.daemon("m2")
    start(across(dataflow))
    found = wait_running("across", ["src", "sink"])
    wait_until(lambda: got_lines("across", "sink") >= 5, 20, "the sink on m2 receiving from m1")

    src_pid = found["src"]["pid"]
    cut_at = time.time()
    cluster.proxies[0].cut()
    lost_at = wait_until(lambda: first_event_after("across", "src", "liveliness_lost", cut_at),
                         10, "the source on the cut-off machine reported lost")
    assert lost_at - cut_at <= BOUND_S
    wait_until(lambda: not alive(src_pid), max(0.1, cut_at + BOUND_S - time.time()),
               "the cut-off daemon stopping its node (nothing runs unsupervised)")
    wait_until(lambda: m1.events("coordinator_lost"), 5, "m1 noticing it lost its coordinator")
    wait_until(lambda: workers("across")["src"]["state"] == "backoff", 10, "src in backoff")
    assert workers("across")["sink"]["state"] == "running"

    healed_at = time.time()
    cluster.proxies[0].heal()
    again = wait_running("across", ["src", "sink"])
    assert again["src"]["restarts"] == 1 and again["src"]["pid"] in m1.children()
    wait_until(lambda: got_lines("across", "sink", after=healed_at) >= 5, 20,
               "the sink receiving from the healed machine again")
    assert len(m1.events("daemon_joined")) == 2
    stop_cleanly([m1, m2])


def test_start_names_the_missing_machine_or_waits_for_its_daemon(dataflow, cluster):
    file = across(dataflow)
    m1 = cluster.daemon("m1")
    wait_until(lambda: m1.events("daemon_joined"), 20, "m1 joined")
    again = dora("up")
    assert again.returncode == 0 and again.stdout.startswith("dora: the coordinator is "
                                                             "already running (pid ")
    elsewhere = dora("up", "--listen", "tcp/127.0.0.1:1")
    assert (elsewhere.returncode, elsewhere.stderr.endswith(
        f"with {cluster.endpoint}: `dora destroy` it first to listen on tcp/127.0.0.1:1\n")) \
        == (1, True), elsewhere.stderr
    began = time.monotonic()
    refused = dora("start", str(file))
    assert time.monotonic() - began < 5  # an error, never a hang
    assert (refused.returncode, refused.stdout, refused.stderr) == (1, "", (
        "dora: no daemon for machine 'm2': start `dora daemon --machine m2 --connect "
        "ENDPOINT` there, or pass --wait-for-machines DURATION\n"))

    twin = cluster.daemon("m1")  # a second daemon for a machine that has one
    assert twin.proc.wait(30) == 1 and twin.stop() == 1
    assert twin.log.read_text().splitlines()[-1] == (
        f"dora: the coordinator refused: machine 'm1' already has a daemon (pid "
        f"{m1.proc.pid} on {socket.gethostname()})")
    cluster.daemons.remove(twin)

    waiting = subprocess.Popen([*DORA, "start", str(file), "--name", "across",
                                "--wait-for-machines", "30s"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # the start is waiting: nothing to poll but the process itself
        assert waiting.poll() is None
        m2 = cluster.daemon("m2")
        out, err = waiting.communicate(timeout=40)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    wait_running("across", ["src", "sink"])
    stop_cleanly([m1, m2])


def test_paths_resolve_on_the_target_machine_and_a_missing_one_is_in_the_nodes_log(
        dataflow, cluster, tmp_path):
    here = tmp_path / "robot"
    (here / "bin").mkdir(parents=True)
    (here / "bin" / "hello.py").write_text("import os\nprint('HELLO', os.getcwd(), "
                                           "os.environ['GREETING'], flush=True)\n")
    m1 = Daemon("m1", [cluster.endpoint], tmp_path, "--working-dir", str(here),
                env={"DAEMON_SIDE": "from-the-daemon"})
    cluster.daemons.append(m1)
    file = dataflow("""
        nodes:
          - id: hello
            path: bin/hello.py
            env: {GREETING: $DAEMON_SIDE}
            restart: {policy: temporary}
            deploy: {machine: m1, working_dir: bin}
          - id: lost
            path: bin/hello.py
            restart: {policy: temporary}
            deploy: {machine: m1, working_dir: /nonexistent/dir}
    """)
    assert not (file.parent / "bin").exists()  # only the daemon's directory has it
    started = dora("start", str(file), "--name", "paths", "--wait-for-machines", "30s")
    assert started.returncode == 0, started.stderr
    hello = wait_until(lambda: [r["line"] for r in records("paths", "hello")
                                if r.get("event") == "node_output"], 20, "hello's line")
    assert hello == [f"HELLO {here / 'bin'} from-the-daemon"]
    exits = wait_until(lambda: [r for r in records("paths", "lost")
                                if r.get("event") == "node_exited"], 20, "lost's exit")
    assert exits[0]["code"] == 127
    assert [r["line"] for r in records("paths", "lost") if r.get("event") == "node_output"] \
        == ["dora daemon on 'm1': working directory /nonexistent/dir does not exist "
            "(relative paths resolve against the daemon's --working-dir)"]
    stop_all([m1])


def test_a_dataflow_deployed_to_a_machine_needs_a_listening_coordinator(dataflow, tmp_path):
    result = dora("run", str(across(dataflow)), "--out-dir", str(tmp_path / "out"))
    assert (result.returncode, result.stderr) == (1, (
        "dora: the dataflow deploys nodes to machines 'm1', 'm2', but this coordinator does "
        "not listen for daemons: start it with `dora up --listen tcp/HOST:PORT` (`dora run` "
        "runs nodes on this machine only)\n"))
