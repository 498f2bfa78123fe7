"""The network side of a coordinator or daemon, as the user configures it: endpoints,
lease, TLS: checked, and opened as a zenoh router (for `daemon_hub` and `daemon`).

Only `tcp/` and `tls/` endpoints join machines. With TLS files every endpoint must be
`tls/` (a plain `tcp/` one would let anyone in beside the TLS one), and a `tls/` endpoint
needs the files: every link is then mutually authenticated by the installation's CA.
"""

from __future__ import annotations

import os

import attrs

from dora_api import contract
from dora_api.contract import TlsFiles
from dora_supervisor.errors import DoraError

__all__ = ["NetworkSettings", "network_settings", "open_router", "DEFAULT_LEASE_S",
           "DEFAULT_CONNECT"]

DEFAULT_LEASE_S = 2.0  # a daemon lost is seen within this (+ 0.5 s); keepalives 4x a lease
DEFAULT_CONNECT = "tcp/127.0.0.1:7447"  # where `dora daemon` looks without --connect
_SCHEMES = ("tcp", "tls")


@attrs.frozen
class NetworkSettings:
    listen: tuple[str, ...] = ()
    connect: tuple[str, ...] = ()
    lease_s: float = DEFAULT_LEASE_S
    tls: TlsFiles | None = None


def network_settings(listen: list[str] | None, connect: list[str] | None,
                     lease_s: float | None, tls_ca: str | None, tls_cert: str | None,
                     tls_key: str | None) -> NetworkSettings:
    """The settings from the command line, or a one-line DoraError naming the option."""
    given = [name for name, value in (("--tls-ca", tls_ca), ("--tls-cert", tls_cert),
                                      ("--tls-key", tls_key)) if value]
    if given and len(given) != 3:
        missing = sorted({"--tls-ca", "--tls-cert", "--tls-key"} - set(given))
        raise DoraError(f"TLS needs all of --tls-ca, --tls-cert and --tls-key (missing: "
                        f"{', '.join(missing)})")
    tls = TlsFiles(tls_ca, tls_cert, tls_key) if given else None
    for option, endpoints in (("--listen", listen or ()), ("--connect", connect or ())):
        for endpoint in endpoints:
            _check(option, endpoint, tls is not None)
    if lease_s is not None and lease_s <= 0:
        raise DoraError(f"--lease must be more than 0 s, not {lease_s:g}")
    return NetworkSettings(tuple(listen or ()), tuple(connect or ()),
                           DEFAULT_LEASE_S if lease_s is None else lease_s, tls)


def _check(option: str, endpoint: str, tls: bool) -> None:
    scheme, _, address = endpoint.partition("/")
    host, colon, port = address.rpartition(":")
    if scheme not in _SCHEMES or not colon or not host or not port.isdigit():
        raise DoraError(f"{option} {endpoint}: expected tcp/HOST:PORT (or tls/HOST:PORT with "
                        "--tls-ca, --tls-cert and --tls-key)")
    if scheme == "tls" and not tls:
        raise DoraError(f"{option} {endpoint}: a tls/ endpoint needs --tls-ca, --tls-cert "
                        "and --tls-key")
    if scheme == "tcp" and tls:
        raise DoraError(f"{option} {endpoint}: with TLS configured every endpoint must be "
                        f"tls/ (tls/{address}); a tcp/ one would be open to anyone")


def open_router(settings: NetworkSettings, local_endpoint: str):
    """A zenoh router on `local_endpoint` (a Unix socket for this machine's nodes) and the
    settings' endpoints; a TLS file or endpoint it cannot use is a one-line DoraError."""
    import zenoh

    if settings.tls is not None:
        for option, path in (("--tls-ca", settings.tls.ca), ("--tls-cert", settings.tls.cert),
                             ("--tls-key", settings.tls.key)):
            if not os.access(path, os.R_OK):
                raise DoraError(f"{option} {path}: not a readable file")
    config = contract.zenoh_config([local_endpoint, *settings.listen], settings.connect,
                                   settings.lease_s, router=True, tls=settings.tls)
    try:
        return zenoh.open(config)
    except zenoh.ZError as exc:
        where = ", ".join(settings.listen) or ", ".join(settings.connect)
        raise DoraError(f"cannot open the network endpoint(s) {where}: "
                        f"{str(exc).splitlines()[0]}") from None
