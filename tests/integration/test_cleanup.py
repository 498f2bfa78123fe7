"""What a dataflow leaves behind when it is over: nothing, even when nodes were killed."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time

import psutil
import pytest

from dora_supervisor import orphans
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(60)


def zenoh_segments(pid: int) -> set[str]:
    with open(f"/proc/{pid}/maps") as maps:
        return {line.split()[-1] for line in maps if line.rstrip().endswith(".zenoh")}


def test_a_node_killed_after_its_shutdown_grace_leaves_no_shared_memory_segment(
        dora_run, dataflow):
    """Zenoh's segments of a SIGKILLed node stayed in /dev/shm until another zenoh
    process happened to start on the machine."""
    run = dora_run(dataflow("""
        nodes:
          - {id: deaf, path: {nodes}/worker.py, args: --ignore-stop, shutdown: 0.5s}
    """))
    run.wait_for(lambda r: any(line.startswith("START") for line in r.lines("deaf")), 20,
                 "the node to start")
    [node] = psutil.Process(run.proc.pid).children()
    segments = zenoh_segments(node.pid) | zenoh_segments(run.proc.pid)
    wait_until(lambda: all(time.time() - os.stat(path).st_ctime > orphans.MIN_AGE_S
                           for path in segments), 5, "the segments to be past creation")
    run.interrupt()
    assert run.wait(20) == 0
    assert run.events("node_exited", "deaf")[0]["signal"] == 9
    left = [path for path in segments if os.path.exists(path)]
    assert segments and not left



def _age(path: str) -> float:
    return time.time() - os.stat(path).st_ctime


def test_only_segments_no_other_process_holds_old_enough_and_new_since_the_start_go(
        tmp_path):
    old = tmp_path / "old.zenoh"
    old.write_bytes(b"x")
    wait_until(lambda: _age(str(old)) > orphans.COARSE_S + 0.05, 5, "an old segment")
    since = time.time()
    held, ours, orphan, other = (tmp_path / n for n in (
        "held.zenoh", "ours.zenoh", "orphan.zenoh", "file.shm"))
    for path in (held, ours, orphan, other):
        path.write_bytes(b"x")
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open("
                               f"{str(held)!r}); fcntl.flock(f, fcntl.LOCK_SH); "
                               "print('locked', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    with open(ours) as mine:  # held by this process only: a killed peer's, for the sweep
        fcntl.flock(mine, fcntl.LOCK_SH)
        try:
            assert holder.stdout.readline() == "locked\n"
            assert orphans.sweep_zenoh_segments(since, str(tmp_path)) == []  # too young
            wait_until(lambda: _age(str(held)) > orphans.MIN_AGE_S, 5, "the files to age")
            assert sorted(orphans.sweep_zenoh_segments(since, str(tmp_path))) == [
                str(orphan), str(ours)]
        finally:
            holder.kill()
            holder.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.shm", "held.zenoh",
                                                           "old.zenoh"]
