"""The zenoh session settings every participant of a dataflow uses."""

from __future__ import annotations

import json

from dora_api.contract.records import record

__all__ = ["zenoh_config", "TlsFiles", "unix_endpoint", "unix_socket_of"]

_UNIX = "unixsock-stream/"


@record
class TlsFiles:
    """Mutual TLS for the network links between a coordinator and its daemons: the CA that
    signs every certificate of the installation, and this participant's own key pair
    (the certificate names the address others dial it at)."""

    ca: str
    cert: str
    key: str


def unix_endpoint(path: str) -> str:
    """The zenoh endpoint of a Unix socket (a node's, or a router's for its machine)."""
    return f"{_UNIX}{path}"


def unix_socket_of(endpoint: str) -> str | None:
    """The socket path of a `unix_endpoint`, None for any other endpoint."""
    return endpoint[len(_UNIX):] if endpoint.startswith(_UNIX) else None


def zenoh_config(listen: list[str] | tuple[str, ...], connect: list[str] | tuple[str, ...],
                 lease_s: float | None = None, *, router: bool = False,
                 tls: TlsFiles | None = None):
    """A zenoh config with no scouting at all, explicit endpoints only.

    Every node dials the coordinator and the producers it consumes from, nothing else:
    data flows node to node, never through the coordinator, and a dataflow of N idle
    nodes keeps O(edges) links alive instead of a full mesh. Zenoh redials configured
    endpoints when a peer restarts; the retry period bounds how long that takes.

    `router`: the session of a coordinator or daemon that joins machines: it routes
    between the nodes of its machine and the other routers it is linked to. `tls`: every
    `tls/` link demands a certificate signed by the CA, both ways."""
    import zenoh

    config = zenoh.Config()
    config.insert_json5("mode", '"router"' if router else '"peer"')
    config.insert_json5("scouting/multicast/enabled", "false")
    config.insert_json5("scouting/gossip/enabled", "false")
    config.insert_json5("connect/retry",
                        "{period_init_ms: 20, period_max_ms: 200, period_increase_factor: 1.5}")
    config.insert_json5("listen/endpoints", json.dumps(list(listen)))
    config.insert_json5("connect/endpoints", json.dumps(list(connect)))
    if lease_s is not None:
        config.insert_json5("transport/link/tx/lease", str(max(int(lease_s * 1000), 200)))
        config.insert_json5("transport/link/tx/keep_alive", "4")
    if tls is not None:
        config.insert_json5("transport/link/tls/root_ca_certificate", json.dumps(tls.ca))
        for side in ("listen", "connect"):
            config.insert_json5(f"transport/link/tls/{side}_private_key", json.dumps(tls.key))
            config.insert_json5(f"transport/link/tls/{side}_certificate", json.dumps(tls.cert))
        config.insert_json5("transport/link/tls/enable_mtls", "true")
    return config
