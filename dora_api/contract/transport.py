"""The zenoh session settings every participant of a dataflow uses."""

from __future__ import annotations

import json

__all__ = ["zenoh_config"]


def zenoh_config(listen: list[str] | tuple[str, ...], connect: list[str] | tuple[str, ...],
                 lease_s: float | None = None):
    """A peer-mode zenoh config: no scouting at all, explicit endpoints only.

    Every node dials the coordinator and the producers it consumes from, nothing else:
    data flows node to node, never through the coordinator, and a dataflow of N idle
    nodes keeps O(edges) links alive instead of a full mesh. Zenoh redials configured
    endpoints when a peer restarts; the retry period bounds how long that takes."""
    import zenoh

    config = zenoh.Config()
    config.insert_json5("mode", '"peer"')
    config.insert_json5("scouting/multicast/enabled", "false")
    config.insert_json5("scouting/gossip/enabled", "false")
    config.insert_json5("connect/retry",
                        "{period_init_ms: 20, period_max_ms: 200, period_increase_factor: 1.5}")
    config.insert_json5("listen/endpoints", json.dumps(list(listen)))
    config.insert_json5("connect/endpoints", json.dumps(list(connect)))
    if lease_s is not None:
        config.insert_json5("transport/link/tx/lease", str(max(int(lease_s * 1000), 200)))
        config.insert_json5("transport/link/tx/keep_alive", "4")
    return config
