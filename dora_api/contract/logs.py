"""Logs as data: the levels, the routed log record and the built-in `dora/logs` inputs.

A node's log record travels as data in two ways, both as one JSON object per record (a
`LogMessage`, the shape dora-rs gives its consumers):
- `send_logs_as: <output>`: the node itself sends its records on one of its outputs;
- `dora/logs[/<level>[/<node>]]`: an input that receives the records of every other node
  of the dataflow (the supervisor publishes the records it captures).

Levels, most verbose first, as in dora-rs: `stdout` (plain output lines), `trace`,
`debug`, `info`, `warn`, `error`. A filter at level L passes records at L or above, so
`stdout` passes everything and `info` drops plain output, trace and debug.
"""

from __future__ import annotations

import json

from dora_api.contract.errors import ContractError
from dora_api.contract.records import record

__all__ = ["LEVELS", "LOG_SOURCE", "dora_level", "passes", "LogFilter", "parse_log_source",
           "LogMessage", "encode_log_message", "decode_log_message"]

LEVELS = ("stdout", "trace", "debug", "info", "warn", "error")
LOG_SOURCE = "dora/logs"
# Python's level names (and the odd spellings dora-rs accepts) -> the dora-rs level
_ALIASES = {"warning": "warn", "critical": "error", "fatal": "error", "notset": "trace"}


def dora_level(name: str) -> str:
    """The dora-rs level of a level name (Python's `WARNING` is `warn`); ContractError for
    a name that is neither."""
    level = _ALIASES.get(name.lower(), name.lower())
    if level not in LEVELS:
        raise ContractError(f"unknown log level '{name}' (expected one of {', '.join(LEVELS)})")
    return level


def passes(level: str, minimum: str) -> bool:
    """Does a record at `level` pass a filter at `minimum`? (Both dora-rs level names.)"""
    return LEVELS.index(level) >= LEVELS.index(minimum)


@record
class LogFilter:
    """A `dora/logs` input: records at `min_level` or above, from `node` (None: every node)."""

    min_level: str = "stdout"
    node: str | None = None


def parse_log_source(source: str) -> LogFilter | None:
    """The filter of a `dora/logs[/<level>[/<node>]]` input, None for any other source.

    Raises ContractError (a ValueError) for a malformed one; the descriptor checks show
    its message verbatim."""
    if source != LOG_SOURCE and not source.startswith(LOG_SOURCE + "/"):
        return None
    parts = source.split("/")[2:]
    if len(parts) > 2 or "" in parts:
        raise ContractError(f"malformed log input '{source}' (expected dora/logs, "
                            "dora/logs/<level> or dora/logs/<level>/<node>)")
    if parts and parts[0] not in LEVELS:
        raise ContractError(f"malformed log input '{source}': unknown level '{parts[0]}' "
                            f"(expected one of {', '.join(LEVELS)})")
    return LogFilter(*parts)


@record
class LogMessage:
    """One log record routed as data. `target` is the Python logger's name (dora-rs calls
    it the target; the JSON carries it as both `target` and `logger`)."""

    level: str
    message: str
    node_id: str
    timestamp: str  # ISO 8601, UTC
    target: str | None = None
    fields: dict | None = None
    dataflow_id: str | None = None


def encode_log_message(message: LogMessage) -> str:
    return json.dumps({"level": message.level, "message": message.message,
                       "node_id": message.node_id, "timestamp": message.timestamp,
                       "target": message.target, "logger": message.target,
                       "fields": message.fields, "dataflow_id": message.dataflow_id},
                      default=str)


def decode_log_message(text: str | bytes) -> LogMessage:
    try:
        fields = json.loads(text)
    except ValueError:
        raise ContractError(f"log record is not JSON: {text[:80]!r}") from None
    if not isinstance(fields, dict) or not all(
            isinstance(fields.get(key), str) for key in ("level", "message", "node_id",
                                                          "timestamp")):
        raise ContractError(f"malformed log record: {text[:80]!r}")
    extra = fields.get("fields")
    return LogMessage(fields["level"], fields["message"], fields["node_id"],
                      fields["timestamp"], fields.get("target"),
                      extra if isinstance(extra, dict) else None, fields.get("dataflow_id"))
