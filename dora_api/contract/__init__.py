"""The contract between the supervisor and its nodes, in one place.

Both `dora_supervisor` and `dora_api` import it; nothing else builds or takes apart a
key expression, a control message, a pipe note or a node config. It stays free of heavy
imports: zenoh and pyarrow are loaded only when a session is opened or an Arrow value
is sent or received.

- `config`: `NodeConfig` and its records, the env variable names, the JSON codec.
- `messages`: control messages, pipe notes, log lines, end-of-stream marker and ack.
- `keys`: key expressions (builders and parsers) and input sources.
- `codec`: data payloads and their attachments; `arrow_layout`: Arrow arrays without IPC.
- `timers`: the timer grammar.
- `transport`: the zenoh session settings.
"""

from __future__ import annotations

from dora_api.contract.arrow_layout import (
    BUFFER_ALIGNMENT,
    ArrowLayout,
    array_layout,
    decode_array,
    uint8_header,
)
from dora_api.contract.codec import (
    KIND_ARROW,
    KIND_BYTES,
    KIND_FLUSH,
    KIND_LAYOUT,
    KIND_SHM,
    WAKE_ATTACHMENT,
    ShmDescriptor,
    arrow_layout_of,
    decode_attachment,
    decode_shm_descriptor,
    decode_value,
    encode_arrow_ipc,
    encode_attachment,
    encode_shm_attachment,
    encode_value,
    is_wake,
    pack_region,
)
from dora_api.contract.config import (
    CONFIG_ENV,
    CONFIG_VERSION,
    CONTROL_FD_ENV,
    DATAFLOW_ID_ENV,
    NODE_ID_ENV,
    PARENT_PID_ENV,
    READY_TIMEOUT_S,
    Endpoints,
    InputConfig,
    NodeConfig,
    OperatorConfig,
    config_from_environ,
    decode_config,
    encode_config,
)
from dora_api.contract.errors import ContractError
from dora_api.contract.keys import (
    ALL_NODES,
    Namespace,
    PeerToken,
    ReaderToken,
    TokenKind,
    is_builtin_source,
    shm_segment_glob,
    shm_segment_name,
    split_source,
)
from dora_api.contract.messages import (
    LOG_MARK,
    Ack,
    ClosingNote,
    ControlMessage,
    FlushedNote,
    LogRecord,
    PipeNote,
    ReleaseMessage,
    RestartedMessage,
    StopMessage,
    decode_ack,
    decode_control,
    decode_flush_marker,
    decode_log_line,
    decode_note,
    decode_release,
    encode_ack,
    encode_control,
    encode_flush_marker,
    encode_log_line,
    encode_note,
    encode_release,
    is_flush_marker,
)
from dora_api.contract.timers import TIMER_PREFIX, parse_timer
from dora_api.contract.transport import zenoh_config

__all__ = [
    # errors
    "ContractError",
    # config
    "CONFIG_ENV", "CONTROL_FD_ENV", "PARENT_PID_ENV", "NODE_ID_ENV", "DATAFLOW_ID_ENV",
    "CONFIG_VERSION", "READY_TIMEOUT_S", "Endpoints", "InputConfig", "OperatorConfig",
    "NodeConfig", "encode_config", "decode_config", "config_from_environ",
    # messages
    "StopMessage", "RestartedMessage", "ControlMessage", "encode_control", "decode_control",
    "ClosingNote", "FlushedNote", "PipeNote", "encode_note", "decode_note",
    "LOG_MARK", "LogRecord", "encode_log_line", "decode_log_line",
    "is_flush_marker", "encode_flush_marker", "decode_flush_marker",
    "Ack", "encode_ack", "decode_ack", "ReleaseMessage", "encode_release", "decode_release",
    # keys
    "Namespace", "TokenKind", "PeerToken", "ReaderToken", "ALL_NODES", "is_builtin_source",
    "split_source", "shm_segment_name", "shm_segment_glob",
    # codec
    "KIND_BYTES", "KIND_ARROW", "KIND_LAYOUT", "KIND_SHM", "KIND_FLUSH", "encode_value",
    "decode_value", "encode_attachment", "decode_attachment", "arrow_layout_of",
    "pack_region", "encode_arrow_ipc", "ShmDescriptor", "encode_shm_attachment",
    "decode_shm_descriptor", "WAKE_ATTACHMENT", "is_wake",
    # arrow_layout
    "ArrowLayout", "array_layout", "decode_array", "BUFFER_ALIGNMENT", "uint8_header",
    # timers, transport
    "parse_timer", "TIMER_PREFIX", "zenoh_config",
]
