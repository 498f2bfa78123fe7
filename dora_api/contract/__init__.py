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
- `codec`: data payloads and their attachments; `arrow_layout`: Arrow arrays without IPC.
- `timers`: the timer grammar.
- `transport`: the zenoh session settings (and mutual TLS for network links).
- `daemon`: the coordinator <-> daemon records and keys (more than one machine).
- `records`: the frozen records the other modules are made of (attrs' shape, without
  its start-up cost: a node imports them at every start).

Submodules are imported on first use of one of their names (PEP 562): a node never loads
`daemon` (nor attrs); it starts with the rest (messages takes the codec's kind bytes).
"""

from __future__ import annotations

import importlib

# module -> the names it exports here (each module's own __all__; a test keeps them equal)
_EXPORTS: dict[str, tuple[str, ...]] = {
    "errors": (
        "ContractError",
    ),
    "records": (
        "record", "field", "fields", "asdict", "evolve", "FrozenRecordError",
    ),
    "config": (
        "CONFIG_ENV", "CONTROL_FD_ENV", "WATCHDOG_FD_ENV", "PARENT_PID_ENV", "NODE_ID_ENV",
        "DATAFLOW_ID_ENV", "CONFIG_VERSION", "READY_TIMEOUT_S", "Endpoints", "InputConfig",
        "OperatorConfig", "NodeConfig", "encode_config", "decode_config",
        "config_from_environ",
    ),
    "keys": (
        "Namespace", "TokenKind", "PeerToken", "ReaderToken", "ALL_NODES",
        "is_builtin_source", "split_source", "shm_segment_name", "shm_segment_glob",
        "shm_segment_maker",
    ),
    "messages": (
        "StopMessage", "RestartedMessage", "FailedMessage", "ControlMessage",
        "encode_control", "decode_control", "ClosingNote", "FlushedNote", "MovedNote",
        "PipeNote", "encode_note", "decode_note", "Position", "stamp_attachment",
        "split_stamp", "stamper", "read_stamp", "STAMP_SIZE", "LOG_MARK", "LogRecord",
        "encode_log_line", "decode_log_line", "is_flush_marker", "encode_flush_marker",
        "decode_flush_marker", "Ack", "encode_ack", "decode_ack", "HEARTBEAT_BYTES",
        "HeartbeatField", "HeartbeatTimes", "arm_heartbeat", "write_heartbeat",
        "read_heartbeat", "ReleaseMessage", "encode_release", "decode_release",
        "release_encoder", "read_release",
    ),
    "logs": (
        "LEVELS", "LOG_SOURCE", "dora_level", "passes", "LogFilter", "parse_log_source",
        "LogMessage", "encode_log_message", "decode_log_message",
    ),
    "ledger": (
        "LEDGER_ENV", "LEDGER_INPUT_WORDS", "LedgerLayout", "InputTally", "Ledger",
        "read_ledger", "pack_position", "unpack_position", "position_word",
    ),
    "codec": (
        "KIND_BYTES", "KIND_ARROW", "KIND_LAYOUT", "KIND_SHM", "KIND_FLUSH",
        "ShmDescriptor", "encode_value", "decode_value", "encode_attachment",
        "decode_attachment", "encode_shm_attachment", "shm_attachment",
        "decode_shm_descriptor", "read_shm_descriptor", "arrow_layout_of",
        "inline_message", "encode_arrow_ipc", "WAKE_ATTACHMENT", "is_wake",
        "SEGMENT_GENERATION", "SEGMENT_DATA_OFFSET",
    ),
    "arrow_layout": (
        "ArrowLayout", "array_layout", "decode_array", "BUFFER_ALIGNMENT", "uint8_header",
    ),
    "timers": (
        "parse_timer", "TIMER_PREFIX",
    ),
    "transport": (
        "zenoh_config", "TlsFiles", "unix_endpoint", "unix_socket_of",
    ),
    "daemon": (
        "PROTOCOL_VERSION", "LOCAL_MACHINE", "check_machine_name", "MachineKeys",
        "DaemonInfo", "JoinReply", "SpawnNode", "KillNode", "KillAll", "CloseDataflow",
        "Command", "NodeStarted", "NodeExited", "NodeSampled", "NodeLine", "NodeNote",
        "DataflowClosed", "NodeHeartbeat", "NodeEnforced", "NodeTallied", "Report",
        "encode_record", "decode_join", "decode_join_reply", "decode_command",
        "decode_report",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "ContractError", "record", "field", "fields", "asdict", "evolve",
    "FrozenRecordError", "CONFIG_ENV", "CONTROL_FD_ENV", "WATCHDOG_FD_ENV",
    "PARENT_PID_ENV", "NODE_ID_ENV", "DATAFLOW_ID_ENV", "CONFIG_VERSION", "READY_TIMEOUT_S",
    "Endpoints", "InputConfig", "OperatorConfig", "NodeConfig", "encode_config",
    "decode_config", "config_from_environ", "Namespace", "TokenKind", "PeerToken",
    "ReaderToken", "ALL_NODES", "is_builtin_source", "split_source", "shm_segment_name",
    "shm_segment_glob", "shm_segment_maker", "StopMessage", "RestartedMessage",
    "FailedMessage", "ControlMessage", "encode_control", "decode_control", "ClosingNote",
    "FlushedNote", "MovedNote", "PipeNote", "encode_note", "decode_note", "Position",
    "stamp_attachment", "split_stamp", "stamper", "read_stamp", "STAMP_SIZE", "LOG_MARK",
    "LogRecord", "encode_log_line", "decode_log_line", "is_flush_marker",
    "encode_flush_marker", "decode_flush_marker", "Ack", "encode_ack", "decode_ack",
    "HEARTBEAT_BYTES", "HeartbeatField", "HeartbeatTimes", "arm_heartbeat",
    "write_heartbeat", "read_heartbeat", "ReleaseMessage", "encode_release",
    "decode_release", "release_encoder", "read_release", "LEVELS", "LOG_SOURCE",
    "dora_level", "passes", "LogFilter", "parse_log_source", "LogMessage",
    "encode_log_message", "decode_log_message", "LEDGER_ENV", "LEDGER_INPUT_WORDS",
    "LedgerLayout", "InputTally", "Ledger", "read_ledger", "pack_position",
    "unpack_position", "position_word", "KIND_BYTES", "KIND_ARROW", "KIND_LAYOUT",
    "KIND_SHM", "KIND_FLUSH", "ShmDescriptor", "encode_value", "decode_value",
    "encode_attachment", "decode_attachment", "encode_shm_attachment", "shm_attachment",
    "decode_shm_descriptor", "read_shm_descriptor", "arrow_layout_of",
    "inline_message", "encode_arrow_ipc", "WAKE_ATTACHMENT", "is_wake",
    "SEGMENT_GENERATION", "SEGMENT_DATA_OFFSET", "ArrowLayout", "array_layout",
    "decode_array", "BUFFER_ALIGNMENT", "uint8_header", "parse_timer", "TIMER_PREFIX",
    "zenoh_config", "TlsFiles", "unix_endpoint", "unix_socket_of", "PROTOCOL_VERSION",
    "LOCAL_MACHINE", "check_machine_name", "MachineKeys", "DaemonInfo", "JoinReply",
    "SpawnNode", "KillNode", "KillAll", "CloseDataflow", "Command", "NodeStarted",
    "NodeExited", "NodeSampled", "NodeLine", "NodeNote", "DataflowClosed", "NodeHeartbeat",
    "NodeEnforced", "NodeTallied", "Report", "encode_record", "decode_join",
    "decode_join_reply", "decode_command", "decode_report",
]


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'dora_api.contract' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"dora_api.contract.{module}"), name)
    globals()[name] = value  # next time, no __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
