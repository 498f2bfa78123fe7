"""The contract between the supervisor and its nodes, in one place.

Both `dora_supervisor` and `dora_api` import it; nothing else builds or takes apart a
key expression, a control message, a pipe note or a node config. It stays free of heavy
imports: zenoh and pyarrow are loaded only when a session is opened or an Arrow value
is sent or received.

- `config`: `NodeConfig` and its records, the env variable names, the JSON codec.
- `messages`: control messages, pipe notes, log lines, end-of-stream marker and ack,
  the position stamp of data messages.
- `logs`: log levels, the record a log line becomes as data, the `dora/logs` inputs.
- `ledger`: the file a node keeps its message counts in, for delivery accounting.
- `keys`: key expressions (builders and parsers) and input sources.
- `codec`: data payloads and their attachments.
- `timers`: the timer grammar.
- `transport`: the zenoh session settings (and mutual TLS for network links).
- `daemon`: the coordinator <-> daemon records and keys (more than one machine).
"""

from __future__ import annotations

from dora_api.contract.codec import (
    KIND_ARROW,
    KIND_BYTES,
    KIND_FLUSH,
    decode_attachment,
    decode_value,
    encode_attachment,
    encode_value,
)
from dora_api.contract.config import (
    CONFIG_ENV,
    CONFIG_VERSION,
    CONTROL_FD_ENV,
    DATAFLOW_ID_ENV,
    NODE_ID_ENV,
    PARENT_PID_ENV,
    READY_TIMEOUT_S,
    WATCHDOG_FD_ENV,
    Endpoints,
    InputConfig,
    NodeConfig,
    OperatorConfig,
    config_from_environ,
    decode_config,
    encode_config,
)
from dora_api.contract.daemon import (
    LOCAL_MACHINE,
    PROTOCOL_VERSION,
    CloseDataflow,
    Command,
    DaemonInfo,
    DataflowClosed,
    JoinReply,
    KillAll,
    KillNode,
    MachineKeys,
    NodeExited,
    NodeLine,
    NodeNote,
    NodeSampled,
    NodeStarted,
    Report,
    SpawnNode,
    check_machine_name,
    decode_command,
    decode_join,
    decode_join_reply,
    decode_report,
    encode_record,
)
from dora_api.contract.errors import ContractError
from dora_api.contract.keys import (
    ALL_NODES,
    Namespace,
    PeerToken,
    TokenKind,
    is_builtin_source,
    split_source,
)
from dora_api.contract.ledger import (
    LEDGER_ENV,
    LEDGER_INPUT_WORDS,
    InputTally,
    Ledger,
    LedgerLayout,
    pack_position,
    read_ledger,
)
from dora_api.contract.logs import (
    LEVELS,
    LOG_SOURCE,
    LogFilter,
    LogMessage,
    decode_log_message,
    dora_level,
    encode_log_message,
    parse_log_source,
    passes,
)
from dora_api.contract.messages import (
    HEARTBEAT_BYTES,
    LOG_MARK,
    Ack,
    ClosingNote,
    ControlMessage,
    FailedMessage,
    FlushedNote,
    HeartbeatField,
    HeartbeatTimes,
    LogRecord,
    MovedNote,
    PipeNote,
    Position,
    RestartedMessage,
    StopMessage,
    arm_heartbeat,
    decode_ack,
    decode_control,
    decode_flush_marker,
    decode_log_line,
    decode_note,
    encode_ack,
    encode_control,
    encode_flush_marker,
    encode_log_line,
    encode_note,
    is_flush_marker,
    read_heartbeat,
    split_stamp,
    stamp_attachment,
    write_heartbeat,
)
from dora_api.contract.timers import TIMER_PREFIX, parse_timer
from dora_api.contract.transport import TlsFiles, unix_endpoint, unix_socket_of, zenoh_config

__all__ = [
    # errors
    "ContractError",
    # config
    "CONFIG_ENV", "CONTROL_FD_ENV", "WATCHDOG_FD_ENV", "PARENT_PID_ENV", "NODE_ID_ENV",
    "DATAFLOW_ID_ENV",
    "CONFIG_VERSION", "READY_TIMEOUT_S", "Endpoints", "InputConfig", "OperatorConfig",
    "NodeConfig", "encode_config", "decode_config", "config_from_environ",
    # messages
    "StopMessage", "RestartedMessage", "FailedMessage", "ControlMessage", "encode_control",
    "decode_control", "ClosingNote", "FlushedNote", "MovedNote", "PipeNote", "encode_note", "decode_note",
    "Position", "stamp_attachment", "split_stamp",
    "LOG_MARK", "LogRecord", "encode_log_line", "decode_log_line",
    "is_flush_marker", "encode_flush_marker", "decode_flush_marker",
    "Ack", "encode_ack", "decode_ack",
    # logs as data
    "LEVELS", "LOG_SOURCE", "dora_level", "passes", "LogFilter", "parse_log_source",
    "LogMessage", "encode_log_message", "decode_log_message",
    "HEARTBEAT_BYTES", "HeartbeatField", "HeartbeatTimes", "arm_heartbeat", "write_heartbeat",
    "read_heartbeat",
    # ledger
    "LEDGER_ENV", "LEDGER_INPUT_WORDS", "LedgerLayout", "InputTally", "Ledger", "read_ledger",
    "pack_position",
    # keys
    "Namespace", "TokenKind", "PeerToken", "ALL_NODES", "is_builtin_source", "split_source",
    # codec
    "KIND_BYTES", "KIND_ARROW", "KIND_FLUSH", "encode_value", "decode_value",
    "encode_attachment", "decode_attachment",
    # coordinator <-> daemon
    "PROTOCOL_VERSION", "LOCAL_MACHINE", "check_machine_name", "MachineKeys",
    "DaemonInfo", "JoinReply", "SpawnNode", "KillNode", "KillAll", "CloseDataflow",
    "Command", "NodeStarted", "NodeExited", "NodeSampled", "NodeLine", "NodeNote",
    "DataflowClosed", "Report", "encode_record", "decode_join", "decode_join_reply",
    "decode_command", "decode_report",
    # timers, transport
    "parse_timer", "TIMER_PREFIX", "zenoh_config", "TlsFiles", "unix_endpoint",
    "unix_socket_of",
]
