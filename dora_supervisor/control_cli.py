"""The control commands: `up destroy start list status logs restart stop`.

Each one parses its arguments, asks the coordinator(s) through `control_client`, and
renders the answer (`status_render`); errors are one-line `DoraError`s that `cli.main`
prints. DATAFLOW is resolved against every coordinator of this user at once (the
background one and each foreground `dora run`), so a command reaches either kind.
"""

from __future__ import annotations

import json
import os
import sys
import time

import attrs

from dora_supervisor import control_protocol as proto
from dora_supervisor import daemon_cli, log_reader, status_render
from dora_supervisor.control_client import (
    DEFAULT_TIMEOUT_S,
    NO_COORDINATOR,
    Endpoint,
    Unreachable,
    ask_all,
    ask_background,
    call,
)
from dora_supervisor.control_select import choose
from dora_supervisor.errors import DoraError
from dora_supervisor.units import duration_option

__all__ = ["add_parsers", "run", "COMMANDS"]

COMMANDS = ("up", "destroy", "start", "list", "status", "logs", "restart", "stop")
_WATCH_PERIOD_S = 1.0
_POLL_S = 0.1


def add_parsers(commands) -> None:
    up = commands.add_parser("up", help="start the background coordinator")
    up.add_argument("--log-format", choices=("console", "json"), default="console",
                    help="format of its own log (json for log aggregators)")
    daemon_cli.add_network_options(up, "open the coordinator to `dora daemon`s on this "
                                       "endpoint (tcp/HOST:PORT or tls/HOST:PORT; repeatable;"
                                       " default: no network at all)")
    commands.add_parser("destroy", help="stop every dataflow, then the background coordinator")
    start = commands.add_parser("start", help="start a dataflow on the background coordinator")
    start.add_argument("file")
    start.add_argument("--name", help="a name to address it by (unique among running ones)")
    start.add_argument("--attach", action="store_true",
                       help="stream its records until it ends; Ctrl-C stops it")
    start.add_argument("--wait-for-machines", metavar="DURATION",
                       help="wait up to DURATION for the daemons of the machines it deploys "
                            "to (default: a missing one is an error at once)")
    listing = commands.add_parser("list", help="list dataflows (running and recently ended)")
    listing.add_argument("--json", action="store_true")
    status = commands.add_parser("status", help="show the supervision tree")
    status.add_argument("dataflow", nargs="?", metavar="DATAFLOW", help="name or uuid (prefix)")
    status.add_argument("--json", action="store_true", help="SPEC section 5's object")
    status.add_argument("--watch", action="store_true", help="redraw every second")
    node_logs = commands.add_parser("logs", help="show a node's output and lifecycle events")
    node_logs.add_argument("dataflow", nargs="?", metavar="DATAFLOW", help="name or uuid (prefix)")
    node_logs.add_argument("node", metavar="NODE")
    node_logs.add_argument("--follow", "-f", action="store_true")
    node_logs.add_argument("--json", action="store_true", help="the stored JSON records")
    node_logs.add_argument("--tail", type=int, metavar="N", help="only the last N records")
    restart = commands.add_parser("restart", help="restart one node through its supervisor")
    restart.add_argument("dataflow", nargs="?", metavar="DATAFLOW", help="name or uuid (prefix)")
    restart.add_argument("node", metavar="NODE")
    stop = commands.add_parser("stop", help="stop a dataflow gracefully")
    stop.add_argument("dataflow", nargs="?", metavar="DATAFLOW", help="name or uuid (prefix)")
    stop.add_argument("--grace", metavar="D",
                      help="kill what still runs D after the stop (default: each node's "
                           "`shutdown`)")


def run(args) -> int:
    if args.command == "up":
        from dora_supervisor.lifecycle import up

        return up(args.log_format, daemon_cli.settings_from(args))
    if args.command == "destroy":
        from dora_supervisor.lifecycle import destroy

        return destroy()
    return {"start": _start, "list": _list, "status": _status, "logs": _logs,
            "restart": _restart, "stop": _stop}[args.command](args)


# -- finding a dataflow across coordinators -----------------------------------------


def _summaries() -> list[tuple[Endpoint, proto.DataflowSummary]]:
    answers = ask_all(proto.ListDataflows())
    if not answers:
        raise Unreachable(NO_COORDINATOR)
    found = [(endpoint, proto.from_json(proto.DataflowSummary, item))
             for endpoint, items in answers for item in items]
    return sorted(found, key=lambda pair: pair[1].started_at)


def _find(wanted: str | None) -> tuple[Endpoint, proto.DataflowSummary]:
    found = _summaries()
    chosen = choose([summary for _, summary in found], wanted)
    return next(pair for pair in found if pair[1] is chosen)


def _summary_of(endpoint: Endpoint, uuid: str) -> proto.DataflowSummary | None:
    """The dataflow's summary now; None once its coordinator has gone (a `dora run` that
    ended with it)."""
    try:
        items = call(endpoint.path, proto.ListDataflows())
    except Unreachable:
        return None
    return next((proto.from_json(proto.DataflowSummary, item) for item in items
                 if item["uuid"] == uuid), None)


def _ended(endpoint: Endpoint, uuid: str) -> bool:
    summary = _summary_of(endpoint, uuid)
    return summary is None or summary.state.ended


def _colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


# -- commands ---------------------------------------------------------------------------


def _list(args) -> int:
    try:
        found = [summary for _, summary in _summaries()]
    except Unreachable:
        if args.json:
            print("[]")
            return 0
        raise
    if args.json:
        print(json.dumps([attrs.asdict(s) for s in found], indent=2))
    elif not found:
        print("no dataflows")
    else:
        sys.stdout.write(status_render.render_list(found, _colour()))
    return 0


def _statuses(wanted: str | None) -> list[proto.DataflowStatus]:
    if wanted is not None:
        endpoint, summary = _find(wanted)
        items = call(endpoint.path, proto.Status(summary.uuid))
    else:
        answers = ask_all(proto.Status())
        if not answers:
            raise Unreachable(NO_COORDINATOR)
        items = [item for _, part in answers for item in part]
    statuses = [proto.from_json(proto.DataflowStatus, item) for item in items]
    return sorted(statuses, key=lambda s: s.started_at)


def _status_text(wanted: str | None, as_json: bool) -> str:
    statuses = _statuses(wanted)
    if as_json:
        return json.dumps({"dataflows": [s.spec_object() for s in statuses]}, indent=2) + "\n"
    if not statuses:
        return "no dataflow is running\n"
    return status_render.render_status(statuses, time.time(), _colour())


def _status(args) -> int:
    if not args.watch:
        sys.stdout.write(_status_text(args.dataflow, args.json))
        return 0
    tty = sys.stdout.isatty()
    try:
        while True:
            frame = _status_text(args.dataflow, args.json)
            if tty:  # home, each line cleared to its end, then the rest of the screen
                frame = "\x1b[H" + frame.replace("\n", "\x1b[K\n") + "\x1b[J"
            else:
                frame += "\n"
            sys.stdout.write(frame)
            sys.stdout.flush()
            time.sleep(_WATCH_PERIOD_S)
    except KeyboardInterrupt:
        return 0


def _start(args) -> int:
    from dora_supervisor.load import load_descriptor

    _, warnings = load_descriptor(args.file)  # `dora check`'s errors, before anything starts
    for warning in warnings:
        print(warning, file=sys.stderr)
    wait = duration_option(args.wait_for_machines, "--wait-for-machines")
    request = proto.Start(os.path.abspath(args.file), args.name, wait)
    started = proto.from_json(proto.Started, ask_background(
        request, timeout=DEFAULT_TIMEOUT_S + (wait or 0.0)))
    print(started.uuid, flush=True)
    if not args.attach:
        return 0
    return _attach(started)


def _attach(started: proto.Started) -> int:
    endpoint = Endpoint(_background_path(), proto.ServerKind.BACKGROUND)
    reader = log_reader.DirectoryFollower(started.log_dir)
    interrupts = 0

    def on_interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        grace = None if interrupts == 1 else 0.0  # a second Ctrl-C: no more patience
        try:
            call(endpoint.path, proto.Stop(started.uuid, grace))
        except DoraError:
            pass  # it has finished meanwhile
        print("dora: stopping" + ("" if grace is None else " now (killing)"), file=sys.stderr)

    _stream(reader, lambda line: log_reader.render_record(line, False),
            lambda: _ended(endpoint, started.uuid), on_interrupt)
    summary = _summary_of(endpoint, started.uuid)
    return _report_end(summary)


def _background_path() -> str:
    from dora_supervisor import control_paths

    return control_paths.coordinator_socket(control_paths.runtime_dir())


def _report_end(summary: proto.DataflowSummary | None) -> int:
    if summary is None or summary.exit_code is None:
        return 0
    if summary.exit_code != 0:
        print(f"dora: dataflow failed: {summary.reason}", file=sys.stderr)
        for detail in summary.failures:
            print(f"dora:   {detail}", file=sys.stderr)
    return summary.exit_code


def _stream(reader, render, ended, on_interrupt=None, check_every_s: float = 0.5) -> None:
    """Print new lines until `ended()`; Ctrl-C calls `on_interrupt`, or ends the stream."""
    next_check = 0.0
    while True:
        try:
            for line in reader.read_new():
                print(render(line), flush=True)
            if time.monotonic() >= next_check:
                if ended():
                    for line in reader.read_new():
                        print(render(line), flush=True)
                    return
                next_check = time.monotonic() + check_every_s
            time.sleep(_POLL_S)
        except KeyboardInterrupt:
            if on_interrupt is None:
                return
            on_interrupt()


def _logs(args) -> int:
    node = args.node
    endpoint, summary = _find(args.dataflow)
    where = proto.from_json(proto.LogLocation, call(endpoint.path,
                                                    proto.Logs(summary.uuid, node)))
    lines, follower = log_reader.node_history(where.directory, node)
    if args.tail is not None:
        lines = lines[-args.tail:] if args.tail > 0 else []
    for line in lines:
        print(log_reader.render_record(line, args.json))
    if args.follow:
        _stream(follower, lambda line: log_reader.render_record(line, args.json),
                lambda: _ended(endpoint, summary.uuid))
    follower.close()
    return 0


def _restart(args) -> int:
    node = args.node
    endpoint, summary = _find(args.dataflow)
    going = proto.from_json(proto.Restarting, call(endpoint.path,
                                                   proto.Restart(summary.uuid, node)))
    deadline = time.monotonic() + going.bound_s
    while time.monotonic() < deadline:
        worker = _worker(endpoint, summary.uuid, node)
        if worker is None:
            break
        if worker["restarts"] > going.restarts and worker["state"] == "running":
            print(f"dora: restarted node '{node}' of dataflow {summary.label()} "
                  f"(pid {worker['pid']}, restarts {worker['restarts']})")
            return 0
        time.sleep(_POLL_S)
    raise DoraError(f"node '{node}' of dataflow {summary.label()} was stopped but is not "
                    f"running again after {going.bound_s:g} s (see `dora status`)")


def _worker(endpoint: Endpoint, uuid: str, node: str) -> dict | None:
    try:
        items = call(endpoint.path, proto.Status(uuid))
    except Unreachable:
        return None
    pending = [items[0]["tree"]] if items else []
    while pending:
        item = pending.pop()
        if item["kind"] == "worker" and item["id"] == node:
            return item
        pending += item.get("children", [])
    return None


def _stop(args) -> int:
    grace = duration_option(args.grace, "--grace")
    endpoint, summary = _find(args.dataflow)
    going = proto.from_json(proto.Stopping, call(endpoint.path, proto.Stop(summary.uuid, grace)))
    deadline = time.monotonic() + going.bound_s
    while time.monotonic() < deadline:
        now = _summary_of(endpoint, summary.uuid)
        if now is None or now.state.ended:
            print(f"dora: stopped dataflow {summary.label()}")
            return _report_end(now)
        time.sleep(_POLL_S)
    raise DoraError(f"dataflow {summary.label()} is still stopping after {going.bound_s:g} s "
                    "(see `dora status`)")
