"""The text of `dora status` and `dora list`: a tree within 80 columns, colour optional."""

from __future__ import annotations

import re

from dora_supervisor.control_protocol import DataflowStatus, DataflowSummary
from dora_supervisor.status_render import duration, render_list, render_status, size

STARTED = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def worker(node: str, **changes) -> dict:
    base = {"id": node, "kind": "worker", "state": "running", "pid": 4242,
            "restart_policy": "transient", "restarts": 0, "alive": True, "uptime_s": 75.5,
            "rss_bytes": 22_333_444, "cpu_percent": 1.25, "machine": "local", "last_exit": None}
    return base | changes


def sup(node: str, children: list, **changes) -> dict:
    return {"id": node, "kind": "supervisor", "strategy": "one_for_one", "max_restarts": 3,
            "max_seconds": 5.0, "state": "running", "children": children} | changes


TREE = sup("dataflow", [
    worker("timer"),
    sup("perception", [
        worker("camera", state="backoff", pid=None, alive=False, uptime_s=None,
               rss_bytes=None, cpu_percent=None, restarts=3,
               last_exit={"code": 1, "signal": None, "reason": "exit_code"}),
        worker("detector-with-a-rather-long-identifier", restarts=1, cpu_percent=150.0,
               last_exit={"code": None, "signal": None, "reason": "liveliness_lost"}),
    ], strategy="one_for_all", max_restarts=2, max_seconds=10.0),
    worker("logger", state="exited", pid=None, alive=False, uptime_s=None,
           last_exit={"code": None, "signal": 9, "reason": "signal"}),
])
STATUS = DataflowStatus("3f2a9c1e-6d0b-4c57-9d57-0b1f3a1e9a4d", "mini", "running",
                        "2027-01-15T08:00:00Z", TREE, {"dataflow": 1, "perception": 2})


def test_the_tree_shows_supervisors_and_workers_within_80_columns():
    text = render_status([STATUS], STARTED + 3725)
    assert text == """\
mini 3f2a9c1e-6d0b-4c57-9d57-0b1f3a1e9a4d  running  up 1h02m
NODE                     STATE        PID UPTIME RST ALIVE    MEM   CPU EXIT
dataflow                 running  one_for_one, 1/3 in 5s
├─ timer                 running     4242  1m15s   0 yes    21.3M  1.2% -
├─ perception            running  one_for_all, 2/2 in 10s
│  ├─ camera             backoff        -      -   3 no         -     - exit 1
│  └─ detector-with-a-r… running     4242  1m15s   1 yes    21.3M  150% livelin…
└─ logger                exited         -      -   0 no     21.3M  1.2% signal 9
"""
    assert max(len(line) for line in text.splitlines()) <= 80


def test_short_names_leave_room_for_the_whole_exit_reason():
    tree = sup("dataflow", [worker("cam", last_exit={"code": None, "signal": None,
                                                     "reason": "liveliness_lost"})])
    lines = render_status([DataflowStatus("u", None, "running", "2027-01-15T08:00:00Z", tree)],
                          STARTED).splitlines()
    assert lines[1].endswith("CPU LAST EXIT") and lines[3].endswith("1.2% liveliness_lost")


def test_colour_marks_only_the_state_and_never_shifts_a_column():
    plain = render_status([STATUS], STARTED + 10).splitlines()
    coloured = render_status([STATUS], STARTED + 10, colour=True).splitlines()
    assert "\x1b[32mrunning\x1b[0m" in coloured[0] and "\x1b[33mbackoff" in coloured[5]
    assert [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in coloured] == plain


def test_units_stay_short():
    assert [duration(s) for s in (None, 4.25, 59, 725, 3725, 2 * 86400 + 3 * 3600)] == [
        "-", "4.2s", "59s", "12m05s", "1h02m", "2d03h"]
    assert [size(b) for b in (None, 512, 2048, 22_333_444, 3 << 30)] == [
        "-", "512B", "2.0K", "21.3M", "3.0G"]


def test_the_list_names_where_each_dataflow_runs():
    rows = [DataflowSummary("3f2a9c1e-6d0b-4c57-9d57-0b1f3a1e9a4d", "mini", "running", 4, 5,
                            STARTED, 65, "/x/mini.yml", "up", 10),
            DataflowSummary("0b1f3a1e-6d0b-4c57-9d57-3f2a9c1e9a4d", None, "failed", 0, 1,
                            STARTED, 3, "/x/other.yml", "run", 4321)]
    assert render_list(rows).splitlines() == [
        "UUID                                  NAME           STATE       NODES UPTIME  VIA"
        "      DESCRIPTOR",
        "3f2a9c1e-6d0b-4c57-9d57-0b1f3a1e9a4d  mini           running       4/5  1m05s  up"
        "       /x/mini.yml",
        "0b1f3a1e-6d0b-4c57-9d57-3f2a9c1e9a4d  -              failed        0/1   3.0s  run "
        "4321 /x/other.yml"]


def test_a_worker_on_another_machine_is_named_with_it():
    tree = sup("dataflow", [worker("src", machine="m1"), worker("sink")])
    text = render_status([DataflowStatus("u", None, "running", "2027-01-15T08:00:00Z", tree)],
                         STARTED + 80)
    rows = text.splitlines()[3:]
    assert rows[0].startswith("├─ src@m1 ") and rows[1].startswith("└─ sink ")
