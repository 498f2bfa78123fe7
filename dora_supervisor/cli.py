"""`dora`: argparse, one-line errors, exit codes. No supervision logic lives here."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid

from dora_supervisor import __version__, control_cli, daemon_cli
from dora_supervisor.errors import DescriptorError, DoraError

__all__ = ["main"]


_UV = ("accepted for dora-rs compatibility and ignored: uv is not used; Python nodes run "
       "with the interpreter that runs dora, build steps run as written")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dora", description="Run dataflows under an "
                                     "Erlang/OTP-style supervision tree.")
    parser.add_argument("--version", action="version", version=f"dora-supervisor {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    check = commands.add_parser("check", aliases=["validate"],
                                help="validate a dataflow descriptor (alias: validate)")
    check.add_argument("file")
    graph = commands.add_parser("graph", help="print the dataflow graph as mermaid text")
    graph.add_argument("file")
    graph.add_argument("--mermaid", action="store_true", help="mermaid text (the default)")
    build = commands.add_parser("build", help="run the nodes' build steps")
    build.add_argument("file")
    build.add_argument("--uv", action="store_true", help=_UV)
    run = commands.add_parser("run", help="run a dataflow in the foreground until it ends")
    run.add_argument("file")
    run.add_argument("--name", help="a name for this run (shown in logs)")
    run.add_argument("--log-format", choices=("console", "json"), default="console")
    run.add_argument("--out-dir", default="out", help="where logs go: OUT_DIR/<uuid>/")
    run.add_argument("--stop-after", type=duration, metavar="DURATION",
                     help="stop gracefully after DURATION (5s, 500ms, 2m); exit 0 if clean")
    run.add_argument("--uv", action="store_true", help=_UV)
    commands.add_parser("schema", help="print the descriptor's JSON Schema (for editors)")
    control_cli.add_parsers(commands)
    daemon_cli.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in ("check", "validate"):
            return _check(args)
        if args.command == "graph":
            return _graph(args)
        if args.command == "run":
            return _run(args)
        if args.command == "build":
            return _build(args)
        if args.command == "schema":
            return _schema()
        if args.command in control_cli.COMMANDS:
            return control_cli.run(args)
        if args.command == "daemon":
            return daemon_cli.run(args)
        raise DoraError(f"'dora {args.command}' is not available in this version yet")
    except DescriptorError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except DoraError as exc:
        print(f"dora: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the one boundary where anything becomes a single line
        if args.verbose:
            raise
        print(f"dora: internal error: {type(exc).__name__}: {exc} (run with --verbose "
              "for details)", file=sys.stderr)
        return 1


def _load(file: str, quiet: bool = False):
    from dora_supervisor.load import load_descriptor

    dataflow, warnings = load_descriptor(file)
    if not quiet:
        _print_all(warnings)
    return dataflow, warnings


def _print_all(lines) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def _check(args) -> int:
    dataflow, _ = _load(args.file)
    print(f"{args.file}: ok ({len(dataflow.nodes)} nodes)")
    return 0


def _graph(args) -> int:
    from dora_supervisor.graph import mermaid

    sys.stdout.write(mermaid(_load(args.file)[0]))
    return 0


def _build(args) -> int:
    from dora_supervisor.build import run_builds

    run_builds(_load(args.file)[0])
    return 0


def _schema() -> int:
    from dora_supervisor.schema import render_schema

    sys.stdout.write(render_schema())
    return 0


def duration(text: str) -> float:
    """`--stop-after`'s value: `5s`, `500ms`, `2m` or a number of seconds."""
    from dora_supervisor.units import parse_duration

    return parse_duration(text)


def _stop_after(coordinator, dataflow_id: str) -> None:
    """`--stop-after`: the coordinator's graceful stop, if the dataflow still runs."""
    if coordinator.get(dataflow_id) is not None:
        coordinator.stop(dataflow_id, "stop_after")


def _run(args) -> int:
    from dora_supervisor import orphans
    from dora_supervisor.build import run_builds
    from dora_supervisor.control_server import foreground_control
    from dora_supervisor.coordinator import Coordinator

    dataflow, warnings = _load(args.file, quiet=True)
    if any(node.build for node in dataflow.nodes):
        run_builds(dataflow)
        dataflow, _ = _load(args.file)  # what the build created is now checked for real
    else:
        _print_all(warnings)
    if args.verbose:
        os.environ["DORA_VERBOSE"] = "1"  # nodes and operators print their tracebacks
    if args.name:
        import attrs

        dataflow = attrs.evolve(dataflow, name=args.name)

    async def foreground():
        async with Coordinator(args.log_format, args.out_dir) as coordinator, \
                foreground_control(coordinator):  # `dora status` sees this run too
            dataflow_id = str(uuid.uuid4())
            if args.stop_after is not None:
                asyncio.get_running_loop().call_later(args.stop_after, _stop_after,
                                                      coordinator, dataflow_id)
            return await coordinator.run_dataflow(dataflow, os.path.abspath(args.file),
                                                  dataflow_id)

    with orphans.swept():  # what SIGKILLed processes leave behind (see `orphans`)
        runtime = asyncio.run(foreground())
    if runtime.exit_code != 0 and runtime.result is not None:
        print(f"dora: dataflow failed: {runtime.result.reason}", file=sys.stderr)
        for detail in runtime.failure_details():
            print(f"dora:   {detail}", file=sys.stderr)
    return runtime.exit_code
