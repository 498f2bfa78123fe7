"""`dora status` and `dora list` as text for a terminal: pure functions of the records.

The tree fits 80 columns: the node column takes what the names need (within bounds), the
last exit column what is left. A worker on another machine is named `node@machine`. Colour is a parameter (the CLI decides: a TTY and no
`NO_COLOR`); widths are computed on the plain text, so colour never shifts a column.
"""

from __future__ import annotations

import datetime
from typing import Any

from dora_supervisor.control_protocol import DataflowStatus, DataflowSummary

__all__ = ["render_status", "render_list", "duration", "size", "WIDTH"]

WIDTH = 80
_COLOURS = {"running": "32", "starting": "33", "backoff": "33", "stopping": "33",
            "restarting": "33", "failed": "31", "exited": "2", "finished": "2"}
# columns after the node's: (header, width, right-aligned)
_COLUMNS = (("STATE", 8, False), ("PID", 7, True), ("UPTIME", 6, True), ("RST", 3, True),
            ("ALIVE", 5, False), ("MEM", 6, True), ("CPU", 5, True))
_NAME_MIN, _NAME_MAX, _LAST_MIN = 12, 28, 8  # names first: --json has every reason


def duration(seconds: float | None) -> str:
    """`4.2s`, `59s`, `12m05s`, `3h04m`, `2d03h`: at most 6 characters up to 99 days."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02}h"
    if hours:
        return f"{hours}h{minutes:02}m"
    return f"{minutes}m{secs:02}s" if minutes else f"{secs}s"


def size(count: int | None) -> str:
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            break
        value /= 1024
    return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"


def _paint(text: str, state: str, colour: bool) -> str:
    code = _COLOURS.get(state) if colour else None
    return f"\x1b[{code}m{text}\x1b[0m" if code else text


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


def render_status(statuses: list[DataflowStatus], now_wall: float, colour: bool = False,
                  width: int = WIDTH) -> str:
    """Every dataflow's header line and its tree, a blank line between dataflows."""
    return "\n".join(_dataflow(status, now_wall, colour, width) for status in statuses)


def _dataflow(status: DataflowStatus, now_wall: float, colour: bool, width: int) -> str:
    started = datetime.datetime.fromisoformat(status.started_at).timestamp()
    title = f"{status.name} {status.uuid}" if status.name else status.uuid
    state = status.state.value
    up = f"up {duration(now_wall - started)}"
    lines = [f"{_cut(title, width - len(state) - len(up) - 4)}  {_paint(state, state, colour)}"
             f"  {up}"]
    rows = list(_walk(status.tree, "", "", True))
    columns = sum(w + 1 for _, w, _ in _COLUMNS)
    name_width = min(_NAME_MAX, width - columns - 1 - _LAST_MIN,
                     max([_NAME_MIN] + [len(prefix) + len(_name(node)) for prefix, node in rows]))
    last_width = width - columns - name_width - 1
    header = ["NODE".ljust(name_width)] + [h.rjust(w) if right else h.ljust(w)
                                           for h, w, right in _COLUMNS]
    lines.append(" ".join(header + ["LAST EXIT" if last_width >= 9 else "EXIT"]))
    for prefix, node in rows:
        name = _cut(prefix + _name(node), name_width).ljust(name_width)
        if node["kind"] == "supervisor":
            lines.append(f"{name} {_supervisor(node, status.windows, colour)}")
        else:
            lines.append(f"{name} {_worker(node, colour, last_width)}")
    return "\n".join(lines) + "\n"


def _name(node: dict[str, Any]) -> str:
    """A worker on another machine shows where: `sink@robot-a`."""
    machine = node.get("machine", "local")
    return node["id"] if machine in ("local", None) else f"{node['id']}@{machine}"


def _walk(node: dict[str, Any], prefix: str, child_prefix: str, last: bool):
    """(tree-drawing prefix, node) in display order: `├─ ` / `└─ ` and `│  ` guides."""
    yield prefix, node
    children = node.get("children", [])
    for index, child in enumerate(children):
        is_last = index == len(children) - 1
        yield from _walk(child, child_prefix + ("└─ " if is_last else "├─ "),
                         child_prefix + ("   " if is_last else "│  "), is_last)


def _supervisor(node: dict[str, Any], windows: dict[str, int], colour: bool) -> str:
    state = node["state"]
    used = windows.get(node["id"], 0)
    return (f"{_paint(state.ljust(8), state, colour)} {node['strategy']}, "
            f"{used}/{node['max_restarts']} in {node['max_seconds']:g}s")


def _worker(node: dict[str, Any], colour: bool, last_width: int) -> str:
    cpu = node["cpu_percent"]
    cells = [node["state"], "-" if node["pid"] is None else str(node["pid"]),
             duration(node["uptime_s"]), str(node["restarts"]),
             "yes" if node["alive"] else "no", size(node["rss_bytes"]),
             "-" if cpu is None else f"{cpu:.0f}%" if cpu >= 100 else f"{cpu:.1f}%"]
    text = [_cut(cell, w).rjust(w) if right else _cut(cell, w).ljust(w)
            for cell, (_, w, right) in zip(cells, _COLUMNS, strict=True)]
    text[0] = _paint(text[0], node["state"], colour)
    return " ".join(text + [_cut(_last_exit(node["last_exit"]), last_width)]).rstrip()


def _last_exit(last: dict[str, Any] | None) -> str:
    if last is None:
        return "-"
    if last["reason"] == "exit_code":
        return f"exit {last['code']}"
    if last["reason"] == "signal":
        return f"signal {last['signal']}"
    return last["reason"]


def render_list(summaries: list[DataflowSummary], colour: bool = False) -> str:
    """One line per dataflow: uuid, name, state, nodes running/total, uptime, where it
    runs (`up`: the background coordinator, `run`: a foreground `dora run`), descriptor."""
    header = f"{'UUID':36}  {'NAME':14} {'STATE':9} {'NODES':>7} {'UPTIME':>6}  {'VIA':8} DESCRIPTOR"
    lines = [header]
    for s in summaries:
        via = "up" if s.server_kind.value == "up" else f"run {s.server_pid}"
        state = _paint(s.state.value.ljust(9), s.state.value, colour)
        nodes = f"{s.nodes_running}/{s.nodes_total}"
        lines.append(f"{s.uuid:36}  {_cut(s.name or '-', 14):14} {state} {nodes:>7} "
                     f"{duration(s.uptime_s):>6}  {via:8} {s.descriptor}")
    return "\n".join(lines) + "\n"
