"""A node's log records as data: dora-rs's `node.log_*` API, the Python `logging` handler
that filters records at the source (`min_log_level`) and sends them on an output
(`send_logs_as`), and the `dora/logs` inputs that receive every other node's records.

Each record that passes `min_log_level` becomes one structured line on stderr, which the
supervisor logs (`node_log`), writes to the node's file and publishes to the dataflow's
`dora/logs` inputs; with `send_logs_as` it is also one message on that output: an Arrow
string array holding the record as JSON (`contract.LogMessage`). Printed lines are not
records: they are never sent by `send_logs_as`.

A `dora/logs` input receives each record of the other nodes as its JSON in UTF-8 bytes
(`json.loads(bytes(event["value"]))`, as dora-rs's log-aggregator reads them).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from dora_api import contract

__all__ = ["NodeLogging", "LOG_INPUT_DEPTH"]

LOG_INPUT_DEPTH = 64  # a `dora/logs` input without queue_size keeps this many records
# `min_log_level` -> the Python level of the root logger and of the handler
_PYTHON_LEVELS = {"stdout": 1, "trace": 1, "debug": logging.DEBUG,
                  "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


def _dora_level_of(levelno: int) -> str:
    """The dora-rs level of a Python level number (below DEBUG is trace)."""
    for level, floor in (("error", logging.ERROR), ("warn", logging.WARNING),
                         ("info", logging.INFO), ("debug", logging.DEBUG)):
        if levelno >= floor:
            return level
    return "trace"


def _as_data(text: str) -> Any:
    """One record as dora-rs sends it: an Arrow string array (UTF-8 bytes without pyarrow)."""
    try:
        import pyarrow as pa
    except ImportError:
        return text.encode()
    return pa.array([text], type=pa.string())


class NodeLogging:
    """Mixed into `Node` (it uses the node's `_config`, `_id`, `_ns`, `_session`, `_inputs`,
    `_events`, `_subscribers`, `send_output` and `_put_error`)."""

    # -- dora-rs's logging API --------------------------------------------------------

    def log(self, level: str, message: str, target: str | None = None,
            fields: dict | None = None) -> None:
        """One log record at a dora-rs (`warn`, `trace`) or Python (`WARNING`) level name."""
        level = contract.dora_level(level)
        if not contract.passes(level, self._config.min_log_level):
            return
        record = contract.LogRecord(level, str(message), target, fields)
        sys.stderr.write(contract.encode_log_line(record) + "\n")
        sys.stderr.flush()
        self._send_log(level, record.msg, target, fields)

    def log_error(self, message: str) -> None:
        self.log("error", message)

    def log_warn(self, message: str) -> None:
        self.log("warn", message)

    def log_info(self, message: str) -> None:
        self.log("info", message)

    def log_debug(self, message: str) -> None:
        self.log("debug", message)

    def log_trace(self, message: str) -> None:
        self.log("trace", message)

    # -- the records' ways out ---------------------------------------------------------

    def _install_log_handler(self) -> None:
        """Route Python `logging` to the supervisor as structured lines (and to
        `send_logs_as`), unless the program configured logging itself."""
        root = logging.getLogger()
        if root.handlers:
            return
        minimum = self._config.min_log_level
        handler = _RecordHandler(self)
        handler.setLevel(_PYTHON_LEVELS[minimum])
        root.addHandler(handler)
        if root.level == logging.WARNING:  # Python's default: show info, as dora-rs does
            root.setLevel(logging.INFO)
        if minimum in ("trace", "debug"):  # asked for: create the records at all
            root.setLevel(_PYTHON_LEVELS[minimum])

    def _send_log(self, level: str, message: str, target: str | None,
                  fields: dict | None) -> None:
        output = self._config.send_logs_as
        if output is None:
            return
        from datetime import UTC, datetime  # here: most nodes never send their logs

        record = contract.LogMessage(level, message, self._id,
                                     datetime.now(UTC).isoformat(timespec="microseconds"),
                                     target, fields, self._config.dataflow_id)
        try:
            self.send_output(output, _as_data(contract.encode_log_message(record)))
        except Exception:  # not started yet, or closing: the stderr line is there anyway
            pass

    # -- dora/logs inputs --------------------------------------------------------------

    def _subscribe_log_inputs(self) -> None:
        """Subscribe every `dora/logs` input (before the liveliness token: the supervisor
        holds the records back until it sees that token, so none is missed)."""
        import zenoh

        for input_id, spec in self._inputs.items():
            log_filter = contract.parse_log_source(spec.source)
            if log_filter is None:
                continue
            callback = zenoh.handlers.Callback(self._log_input_callback(input_id),
                                               indirect=False)
            self._subscribers += [self._session.declare_subscriber(key, callback)
                                  for key in self._ns.log_subscriptions(log_filter)]

    def _log_input_callback(self, input_id: str):
        """Deliver records as INPUT events; a full queue drops its oldest record, never
        blocking zenoh's thread (which also carries the supervisor's messages)."""
        depth = self._inputs[input_id].queue_size or LOG_INPUT_DEPTH
        put = self._events.put_input

        def on_sample(sample) -> None:
            payload = sample.payload.to_bytes()
            try:
                message = contract.decode_log_message(payload)
            except contract.ContractError as exc:
                self._put_error(f"input '{input_id}': {exc}", input_id)
                return
            if message.node_id == self._id:
                return  # never a node's own records (they would loop)
            put({"type": "INPUT", "id": input_id, "value": payload, "metadata": {},
                 "kind": "dora"}, depth, True)

        return on_sample


class _RecordHandler(logging.StreamHandler):
    """Python `logging` records -> structured stderr lines, and `send_logs_as`."""

    def __init__(self, node: NodeLogging):
        super().__init__(sys.stderr)
        self._node = node

    def emit(self, record: logging.LogRecord) -> None:
        """The structured stderr line, then the record as data: one message for both."""
        message = self._message(record)
        try:
            self.stream.write(contract.encode_log_line(contract.LogRecord(
                record.levelname.lower(), message, record.name)) + self.terminator)
            self.flush()
        except Exception:
            self.handleError(record)
        self._node._send_log(_dora_level_of(record.levelno), message, record.name, None)

    def _message(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        return message
