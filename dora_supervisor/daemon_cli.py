"""`dora daemon`, and the network options it shares with `dora up`.

`dora up --listen tcp/HOST:PORT` opens the coordinator to daemons; `dora daemon --machine
NAME --connect tcp/HOST:PORT` joins it. Both take `--lease` (how fast a lost peer is
noticed) and the three TLS files; the options are checked here, before anything starts.
"""

from __future__ import annotations

import argparse

from dora_supervisor.errors import DoraError
from dora_supervisor.network import (
    DEFAULT_CONNECT,
    DEFAULT_LEASE_S,
    NetworkSettings,
    network_settings,
)
from dora_supervisor.units import duration_option

__all__ = ["add_network_options", "settings_from", "settings_argv", "add_parser", "run"]


def add_network_options(parser: argparse.ArgumentParser, listen_help: str) -> None:
    parser.add_argument("--listen", action="append", metavar="ENDPOINT", help=listen_help)
    parser.add_argument("--lease", metavar="DURATION",
                        help=f"a peer silent for this long is lost (default "
                             f"{DEFAULT_LEASE_S:g}s; use the same on the coordinator and "
                             "its daemons)")
    parser.add_argument("--tls-ca", metavar="FILE",
                        help="CA certificate that signed every peer's certificate (mutual "
                             "TLS on tls/ endpoints)")
    parser.add_argument("--tls-cert", metavar="FILE", help="this side's certificate")
    parser.add_argument("--tls-key", metavar="FILE", help="this side's private key")


def settings_from(args: argparse.Namespace) -> NetworkSettings:
    """The network settings of `dora up` or `dora daemon`; a one-line DoraError if wrong."""
    lease = duration_option(args.lease, "--lease")
    return network_settings(args.listen, getattr(args, "connect", None), lease, args.tls_ca,
                            args.tls_cert, args.tls_key)


def settings_argv(settings: NetworkSettings) -> list[str]:
    """The options that give another process (the background coordinator) `settings`."""
    argv = [arg for endpoint in settings.listen for arg in ("--listen", endpoint)]
    argv += ["--lease", f"{settings.lease_s!r}s"]
    if settings.tls is not None:
        argv += ["--tls-ca", settings.tls.ca, "--tls-cert", settings.tls.cert,
                 "--tls-key", settings.tls.key]
    return argv


def add_parser(commands) -> None:
    daemon = commands.add_parser("daemon", help="run the nodes deployed to this machine")
    daemon.add_argument("--machine", required=True, metavar="NAME",
                        help="the name descriptors deploy to (`deploy: {machine: NAME}`)")
    daemon.add_argument("--connect", action="append", metavar="ENDPOINT",
                        help="the coordinator's `dora up --listen` endpoint, and any other "
                             "daemon's --listen to link to directly (repeatable; default "
                             f"{DEFAULT_CONNECT})")
    add_network_options(daemon, "where other daemons may link to this one (repeatable; "
                                "default: nowhere)")
    daemon.add_argument("--working-dir", metavar="DIR", default=".",
                        help="stands for the descriptor's directory on this machine: "
                             "relative node paths resolve here (default: the current one)")
    daemon.add_argument("--log-format", choices=("console", "json"), default="console")


def run(args: argparse.Namespace) -> int:
    import os

    from dora_api import contract
    from dora_supervisor.daemon import serve

    try:
        contract.check_machine_name(args.machine)
    except contract.ContractError as exc:
        raise DoraError(f"--machine: {exc}") from None
    if not args.connect:
        args.connect = [DEFAULT_CONNECT]
    settings = settings_from(args)
    if not os.path.isdir(args.working_dir):
        raise DoraError(f"--working-dir {args.working_dir}: not a directory")
    from dora_supervisor import orphans

    with orphans.swept():  # what SIGKILLed processes leave behind (see `orphans`)
        return serve(args.machine, settings, os.path.abspath(args.working_dir),
                     args.log_format)
