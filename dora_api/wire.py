"""The contract between the supervisor and its nodes: environment, key expressions, codec.

Both packages import this module; it must stay free of heavy imports (pyarrow is loaded
only when an Arrow value is actually sent or received).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "CONFIG_ENV", "CONTROL_FD_ENV", "PARENT_PID_ENV", "LOG_MARK", "Namespace", "encode_value",
    "decode_value", "zenoh_config", "KIND_BYTES", "KIND_ARROW", "KIND_FLUSH",
    "encode_attachment", "decode_attachment",
]

CONFIG_ENV = "DORA_NODE_CONFIG"  # JSON: see `dora_supervisor.spawn.node_config`
CONTROL_FD_ENV = "DORA_CONTROL_FD"  # write end of a pipe: node -> supervisor notes
PARENT_PID_ENV = "DORA_PARENT_PID"  # the supervisor's pid, for the parent-death signal
LOG_MARK = '{"dora_log":'  # stderr lines starting with this are structured log records

# First byte of a data message's attachment: what the payload is.
KIND_BYTES = ord("b")
KIND_ARROW = ord("a")
KIND_FLUSH = ord("F")  # end of one incarnation's stream on this output; payload empty


class Namespace:
    """Key expressions of one dataflow: data under `<prefix>/dora/<uuid>`, control beside it.

    Data: `<prefix>/dora/<uuid>/<node>/<output>` (operator outputs add a level).
    Control: `<prefix>/dora-ctl/<uuid>/{alive,finished}/<node>`, `.../to/<node>`,
    `.../to/all` and the coordinator's liveliness token `.../coordinator`."""

    def __init__(self, prefix: str, dataflow_id: str):
        base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.data = f"{base}dora/{dataflow_id}"
        self.ctl = f"{base}dora-ctl/{dataflow_id}"

    def output(self, node: str, output: str) -> str:
        return f"{self.data}/{node}/{output}"

    def alive(self, node: str = "*", incarnation: int | str = "*") -> str:
        """A node's liveliness token; the incarnation tells a successor from its past."""
        return f"{self.ctl}/alive/{node}/{incarnation}"

    def finished(self, node: str = "*", flushed: int | str = "*") -> str:
        """Declared by the supervisor when `node` is finished for good; `flushed` is the
        incarnation whose end-of-stream markers to wait for (-1: none, it crashed)."""
        return f"{self.ctl}/finished/{node}/{flushed}"

    def to(self, node: str) -> str:
        return f"{self.ctl}/to/{node}"

    def ack(self, producer: str, incarnation: int | str = "*") -> str:
        """Consumers acknowledge a producer's end-of-stream markers here."""
        return f"{self.ctl}/ack/{producer}/{incarnation}"

    @property
    def coordinator(self) -> str:
        return f"{self.ctl}/coordinator"


def zenoh_config(listen: list[str], connect: list[str], lease_s: float | None = None):
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
    config.insert_json5("listen/endpoints", json.dumps(listen))
    config.insert_json5("connect/endpoints", json.dumps(connect))
    if lease_s is not None:
        config.insert_json5("transport/link/tx/lease", str(max(int(lease_s * 1000), 200)))
        config.insert_json5("transport/link/tx/keep_alive", "4")
    return config


_BYTES_LIKE = (memoryview,)
_encode_json = json.JSONEncoder(default=str, separators=(",", ":")).encode


def encode_value(data: Any) -> tuple[int, bytes | bytearray]:
    """(kind, payload) for bytes-likes and pyarrow arrays (sent as Arrow IPC streams)."""
    if type(data) is bytes or type(data) is bytearray:
        return KIND_BYTES, data
    if isinstance(data, _BYTES_LIKE):
        return KIND_BYTES, bytes(data)  # zenoh's put takes bytes and bytearray only
    module = type(data).__module__ or ""
    if module.startswith("pyarrow"):
        import pyarrow as pa

        if isinstance(data, pa.ChunkedArray):
            data = data.combine_chunks()
        if isinstance(data, pa.Array):
            batch = pa.RecordBatch.from_arrays([data], ["value"])
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, batch.schema) as writer:
                writer.write_batch(batch)
            return KIND_ARROW, sink.getvalue().to_pybytes()
    raise TypeError(f"send_output takes bytes, bytearray, memoryview or a pyarrow array, "
                    f"not {type(data).__name__}")


def decode_value(kind: int, payload: bytes) -> Any:
    if kind == KIND_ARROW:
        import pyarrow as pa

        with pa.ipc.open_stream(payload) as reader:
            return reader.read_next_batch().column(0)
    return payload


def encode_attachment(kind: int, metadata: dict | None) -> bytes | None:
    """None for plain bytes without metadata: the receiver's default, and the fast path."""
    if not metadata:
        return None if kind == KIND_BYTES else bytes((kind,))
    return bytes((kind,)) + _encode_json(metadata).encode()


def decode_attachment(attachment: bytes | None) -> tuple[int, dict]:
    if not attachment:
        return KIND_BYTES, {}
    kind = attachment[0]
    return kind, (json.loads(attachment[1:]) if len(attachment) > 1 else {})
