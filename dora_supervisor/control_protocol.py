"""The control protocol between `dora` and a coordinator: requests, replies, their records.

One JSON object per line over a Unix stream socket, one request per connection:
`{"v": 1, "op": "status", "dataflow": "3f2a"}` -> `{"v": 1, "ok": true, "result": {...}}`
or `{"v": 1, "ok": false, "error": "one line"}`. A request is at most `MAX_REQUEST_BYTES`;
anything malformed, unknown or of another version is a `ProtocolError` whose message is
the error reply. Pure: no sockets here (`control_server`, `control_client` move the bytes).
"""

from __future__ import annotations

import enum
import json
from typing import Any

import attrs

__all__ = [
    "VERSION", "MAX_REQUEST_BYTES", "MAX_REPLY_BYTES", "ProtocolError", "ServerKind",
    "DataflowState", "Ping", "ListDataflows", "Status", "Start", "Stop", "Restart", "Logs",
    "Destroy", "Request", "Pong", "DataflowSummary", "DataflowStatus", "Started", "Stopping",
    "Restarting", "LogLocation", "Destroying", "encode_request", "decode_request",
    "encode_reply", "encode_error", "decode_reply", "from_json",
]

VERSION = 1
MAX_REQUEST_BYTES = 1 << 20  # a request is a few hundred bytes; this is generous
MAX_REPLY_BYTES = 64 << 20  # the status of thousands of nodes fits


class ProtocolError(ValueError):
    """A request or reply that cannot be taken; the message is one line for the peer."""


class ServerKind(enum.StrEnum):
    BACKGROUND = "up"  # the coordinator `dora up` started
    FOREGROUND = "run"  # a `dora run` in a terminal


class DataflowState(enum.StrEnum):
    RUNNING = "running"
    STOPPING = "stopping"
    FINISHED = "finished"  # ended normally
    FAILED = "failed"  # ended because a supervisor gave up or a node failed for good

    @property
    def ended(self) -> bool:
        return self in (DataflowState.FINISHED, DataflowState.FAILED)


_text = attrs.validators.instance_of(str)
_optional_text = attrs.validators.optional(_text)


def _seconds(_, attribute, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                              or value < 0):
        raise ValueError(f"'{attribute.name}' must be a number of seconds >= 0, got {value!r}")


# -- requests -----------------------------------------------------------------------


@attrs.frozen
class Ping:
    """Who is there: a `Pong`."""

    op = "ping"


@attrs.frozen
class ListDataflows:
    """Running and recently finished dataflows: a list of `DataflowSummary`."""

    op = "list"


@attrs.frozen
class Status:
    """The supervision trees (one dataflow's, or all): a list of `DataflowStatus`."""

    op = "status"
    dataflow: str | None = attrs.field(default=None, validator=_optional_text)


@attrs.frozen
class Start:
    """Start the descriptor at this absolute path: `Started`. Its machines must have
    daemons, or get them within `wait_for_machines_s`."""

    op = "start"
    descriptor: str = attrs.field(validator=_text)
    name: str | None = attrs.field(default=None, validator=_optional_text)
    wait_for_machines_s: float | None = attrs.field(default=None, validator=_seconds)


@attrs.frozen
class Stop:
    """Stop a dataflow (exact uuid) gracefully; kill what still runs after `grace_s`."""

    op = "stop"
    dataflow: str = attrs.field(validator=_text)
    grace_s: float | None = attrs.field(default=None, validator=_seconds)


@attrs.frozen
class Restart:
    """Restart one node through its supervisor: `Restarting`."""

    op = "restart"
    dataflow: str = attrs.field(validator=_text)
    node: str = attrs.field(validator=_text)


@attrs.frozen
class Logs:
    """Where a node's records are: `LogLocation` (the client reads the files)."""

    op = "logs"
    dataflow: str = attrs.field(validator=_text)
    node: str = attrs.field(validator=_text)


@attrs.frozen
class Destroy:
    """Stop every dataflow gracefully, then the coordinator itself: `Destroying`."""

    op = "destroy"


Request = Ping | ListDataflows | Status | Start | Stop | Restart | Logs | Destroy
_REQUESTS: dict[str, type] = {cls.op: cls for cls in
                              (Ping, ListDataflows, Status, Start, Stop, Restart, Logs, Destroy)}

# -- results ------------------------------------------------------------------------


@attrs.frozen
class Pong:
    pid: int
    kind: ServerKind = attrs.field(converter=ServerKind)
    version: str
    started_at: float  # wall clock (seconds since the epoch)
    listen: list[str] = attrs.Factory(list)  # its network endpoints for daemons, if any


@attrs.frozen
class DataflowSummary:
    """One line of `dora list`. `server_*` say which coordinator runs it."""

    uuid: str
    name: str | None
    state: DataflowState = attrs.field(converter=DataflowState)
    nodes_running: int
    nodes_total: int
    started_at: float
    uptime_s: float
    descriptor: str
    server_kind: ServerKind = attrs.field(converter=ServerKind)
    server_pid: int
    exit_code: int | None = None  # once ended
    reason: str | None = None  # once ended: how
    failures: list[str] = attrs.Factory(list)  # once failed: each failed node's last words

    def label(self) -> str:
        """How a dataflow is named in one-line messages: `mini (3f2a9c1e)`."""
        return f"{self.name} ({self.uuid[:8]})" if self.name else self.uuid


@attrs.frozen
class DataflowStatus:
    """One entry of `dora status`: SPEC section 5's object plus what only the text needs
    (`windows`: restarts of each supervisor within its intensity window now)."""

    uuid: str
    name: str | None
    state: DataflowState = attrs.field(converter=DataflowState)
    started_at: str  # ISO 8601, UTC
    tree: dict[str, Any]
    windows: dict[str, int] = attrs.Factory(dict)

    def spec_object(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "name": self.name, "state": self.state.value,
                "started_at": self.started_at, "tree": self.tree}


@attrs.frozen
class Started:
    uuid: str
    name: str | None
    log_dir: str  # where its records go (`start --attach` follows them)


@attrs.frozen
class Stopping:
    message: str
    bound_s: float  # it has ended by then at the latest (its nodes' graces, or `grace_s`)


@attrs.frozen
class Restarting:
    message: str
    restarts: int  # the node's count before this restart
    bound_s: float  # the new incarnation runs by then at the latest


@attrs.frozen
class LogLocation:
    directory: str
    node: str


@attrs.frozen
class Destroying:
    dataflows: int
    bound_s: float


# -- encoding -----------------------------------------------------------------------


def encode_request(request: Request) -> bytes:
    return _line({"v": VERSION, "op": request.op, **attrs.asdict(request)})


def decode_request(data: bytes) -> Request:
    body = _object(data, "request")
    op = body.pop("op", None)
    cls = _REQUESTS.get(op) if isinstance(op, str) else None
    if cls is None:
        raise ProtocolError(f"unknown request {op!r} (known: {', '.join(_REQUESTS)})")
    try:
        return from_json(cls, body)
    except ProtocolError as exc:
        raise ProtocolError(f"malformed '{op}' request: {exc}") from None


def encode_reply(result: Any) -> bytes:
    return _line({"v": VERSION, "ok": True, "result": _plain(result)})


def encode_error(message: str) -> bytes:
    return _line({"v": VERSION, "ok": False, "error": message})


def decode_reply(data: bytes) -> Any:
    """The reply's result; raises ProtocolError with the server's error message."""
    body = _object(data, "reply")
    if body.get("ok") is True:
        return body.get("result")
    error = body.get("error")
    raise ProtocolError(error if isinstance(error, str) else f"malformed reply: {body!r}"[:200])


def from_json(cls: type, data: Any):
    """An attrs record from a JSON object: unknown keys, missing keys and bad values are
    a ProtocolError naming them."""
    if not isinstance(data, dict):
        raise ProtocolError(f"expected an object, got {type(data).__name__}")
    names = {f.name for f in attrs.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ProtocolError(f"unknown field(s): {', '.join(unknown)}")
    try:
        return cls(**data)
    except (TypeError, ValueError) as exc:  # attrs puts its message first in `args`
        message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
        raise ProtocolError(message.splitlines()[0]) from None


def _object(data: bytes, what: str) -> dict:
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"malformed {what}: not a JSON line ({exc})") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"malformed {what}: expected a JSON object")
    version = body.pop("v", None)
    if version != VERSION:
        raise ProtocolError(f"unsupported control protocol version {version!r} "
                            f"(this side speaks {VERSION}): use one dora-supervisor version")
    return body


def _plain(value: Any) -> Any:
    if attrs.has(type(value)):
        return attrs.asdict(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _line(body: dict) -> bytes:
    return (json.dumps(body, default=str) + "\n").encode()
