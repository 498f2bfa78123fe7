"""Data messages: the payload codec and the attachment that says what the payload is.

pyarrow is imported only when an Arrow value is actually sent or received.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["KIND_BYTES", "KIND_ARROW", "KIND_FLUSH", "encode_value", "decode_value",
           "encode_attachment", "decode_attachment"]

# First byte of a data message's attachment: what the payload is.
KIND_BYTES = ord("b")
KIND_ARROW = ord("a")
KIND_FLUSH = ord("F")  # end of one incarnation's stream on this output (see messages)

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
