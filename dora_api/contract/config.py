"""A node's configuration: written by the supervisor, read by the node, one JSON codec.

The supervisor puts `encode_config(config)` in the node's environment (`CONFIG_ENV`);
the node reads it back with `config_from_environ`. Every field is always written, so the
node never guesses a default; a config of another version is refused with a clear error
(a node running a different dora_api than its supervisor).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from dora_api.contract.errors import ContractError
from dora_api.contract.keys import is_builtin_source, split_source
from dora_api.contract.records import asdict, field, record
from dora_api.contract.timers import parse_timer

__all__ = [
    "CONFIG_ENV", "CONTROL_FD_ENV", "WATCHDOG_FD_ENV", "PARENT_PID_ENV", "NODE_ID_ENV", "DATAFLOW_ID_ENV",
    "CONFIG_VERSION", "READY_TIMEOUT_S", "Endpoints", "InputConfig", "OperatorConfig",
    "NodeConfig", "encode_config", "decode_config", "config_from_environ",
]

CONFIG_ENV = "DORA_NODE_CONFIG"  # JSON: `encode_config(NodeConfig)`
CONTROL_FD_ENV = "DORA_CONTROL_FD"  # write end of a pipe: node -> supervisor notes
WATCHDOG_FD_ENV = "DORA_WATCHDOG_FD"  # a shared heartbeat page (`messages.arm_heartbeat`)
PARENT_PID_ENV = "DORA_PARENT_PID"  # the supervisor's pid, for the parent-death signal
NODE_ID_ENV = "DORA_NODE_ID"  # for programs that are not dora_api nodes
DATAFLOW_ID_ENV = "DORA_DATAFLOW_ID"
CONFIG_VERSION = 3  # bump on any change a node of the previous version would misread
# 2: min_log_level and send_logs_as (logs as data)
# 3: data attachments end with a position stamp (`messages.stamp_attachment`)
READY_TIMEOUT_S = 10.0  # how long a starting node waits for the peers it must see


def _strings(value) -> tuple[str, ...]:
    return tuple(value)


@record
class Endpoints:
    """Where a node's zenoh session listens, and whom it dials."""

    listen: tuple[str, ...] = field(converter=_strings)
    connect: tuple[str, ...] = field(converter=_strings)


@record
class InputConfig:
    """One input: where it comes from and how it queues."""

    source: str  # `node/output` or a built-in `dora/timer/...`
    queue_size: int | None
    queue_policy: str  # "backpressure" | "drop_oldest"

    @property
    def is_builtin(self) -> bool:
        return is_builtin_source(self.source)

    @property
    def upstream(self) -> tuple[str, str]:
        """(node, output) of a non-built-in source."""
        return split_source(self.source)

    @property
    def drops_oldest(self) -> bool:
        return self.queue_policy == "drop_oldest"

    @property
    def timer_interval(self) -> float | None:
        """Seconds between ticks of a timer input, None for any other input."""
        return parse_timer(self.source)


@record
class OperatorConfig:
    """One operator of a runtime node; its inputs and outputs are operator-local ids."""

    id: str
    kind: str  # "python" | "shared-library"
    path: str  # absolute
    inputs: tuple[str, ...] = field(converter=_strings)
    outputs: tuple[str, ...] = field(converter=_strings)


def _consumers(value: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    return {output: tuple(nodes) for output, nodes in value.items()}


@record
class NodeConfig:
    """Everything a node process needs to know about its place in the dataflow."""

    dataflow_id: str
    node_id: str
    prefix: str
    inputs: dict[str, InputConfig]
    outputs: tuple[str, ...] = field(converter=_strings)
    consumers: dict[str, tuple[str, ...]] = field(converter=_consumers)  # per output
    endpoints: Endpoints
    wait_for: tuple[str, ...] = field(converter=_strings)  # readiness barrier
    incarnation: int
    restart_count: int
    lease_s: float  # zenoh link lease
    descriptor: str  # absolute path of the descriptor file
    base_dir: str
    operators: tuple[OperatorConfig, ...] = field(converter=tuple)
    ready_timeout: float = READY_TIMEOUT_S
    min_log_level: str = "stdout"  # records below this dora-rs level are dropped at the source
    send_logs_as: str | None = None  # the output the node's log records are also sent on
    version: int = CONFIG_VERSION


def encode_config(config: NodeConfig) -> str:
    return json.dumps(asdict(config))


def decode_config(text: str) -> NodeConfig:
    try:
        data = json.loads(text)
    except ValueError:
        raise ContractError(f"{CONFIG_ENV} is not JSON") from None
    node = _Fields(data, CONFIG_ENV)
    version = data.get("version") if isinstance(data, dict) else None
    if version != CONFIG_VERSION:
        raise ContractError(f"{CONFIG_ENV} has version {version!r}, this dora_api reads "
                            f"version {CONFIG_VERSION}: the node runs another dora_api than "
                            "its supervisor")
    return NodeConfig(
        dataflow_id=node.text("dataflow_id"), node_id=node.text("node_id"),
        prefix=node.text("prefix"),
        inputs=node.mapping("inputs", _input_config), outputs=node.strings("outputs"),
        consumers=node.mapping("consumers", lambda f: f.strings(None)),
        endpoints=node.record("endpoints", _endpoints), wait_for=node.strings("wait_for"),
        incarnation=node.integer("incarnation"), restart_count=node.integer("restart_count"),
        lease_s=node.number("lease_s"), descriptor=node.text("descriptor"),
        base_dir=node.text("base_dir"), operators=node.records("operators", _operator_config),
        ready_timeout=node.number("ready_timeout"), min_log_level=node.text("min_log_level"),
        send_logs_as=node.text("send_logs_as", optional=True), version=version)


def config_from_environ(environ: Mapping[str, str]) -> NodeConfig | None:
    """The config in `environ`; None when there is none (not started by a supervisor)."""
    text = environ.get(CONFIG_ENV)
    return decode_config(text) if text else None


def _input_config(fields: _Fields) -> InputConfig:
    return InputConfig(fields.text("source"), fields.integer("queue_size", optional=True),
                       fields.text("queue_policy"))


def _endpoints(fields: _Fields) -> Endpoints:
    return Endpoints(fields.strings("listen"), fields.strings("connect"))


def _operator_config(fields: _Fields) -> OperatorConfig:
    return OperatorConfig(fields.text("id"), fields.text("kind"), fields.text("path"),
                          fields.strings("inputs"), fields.strings("outputs"))


class _Fields:
    """Typed reads of one JSON object; a missing or mistyped field is a ContractError
    that names its place (`DORA_NODE_CONFIG.inputs.x.source`)."""

    def __init__(self, value: Any, where: str):
        self.value = value
        self.where = where

    def _get(self, name: str | None, ok: Callable[[Any], bool], expected: str) -> Any:
        if name is None:
            value, where = self.value, self.where
        else:
            if not isinstance(self.value, dict):
                raise ContractError(f"{self.where} must be an object")
            if name not in self.value:
                raise ContractError(f"{self.where}.{name} is missing")
            value, where = self.value[name], f"{self.where}.{name}"
        if not ok(value):
            raise ContractError(f"{where} must be {expected}, not {value!r}")
        return value

    def text(self, name: str, optional: bool = False) -> str | None:
        return self._get(name, lambda v: isinstance(v, str) or (v is None and optional),
                         "a string")

    def integer(self, name: str, optional: bool = False) -> int | None:
        return self._get(name, lambda v: (v is None and optional) or (
            isinstance(v, int) and not isinstance(v, bool)), "a whole number")

    def number(self, name: str) -> float:
        return float(self._get(name, lambda v: isinstance(v, int | float)
                               and not isinstance(v, bool), "a number"))

    def strings(self, name: str | None) -> tuple[str, ...]:
        return tuple(self._get(name, lambda v: isinstance(v, list)
                               and all(isinstance(s, str) for s in v), "a list of strings"))

    def record(self, name: str, build: Callable[[_Fields], Any]) -> Any:
        return build(_Fields(self._get(name, lambda v: isinstance(v, dict), "an object"),
                             f"{self.where}.{name}"))

    def records(self, name: str, build: Callable[[_Fields], Any]) -> tuple:
        items = self._get(name, lambda v: isinstance(v, list), "a list")
        return tuple(build(_Fields(item, f"{self.where}.{name}[{index}]"))
                     for index, item in enumerate(items))

    def mapping(self, name: str, build: Callable[[_Fields], Any]) -> dict:
        items = self._get(name, lambda v: isinstance(v, dict), "an object")
        return {key: build(_Fields(item, f"{self.where}.{name}.{key}"))
                for key, item in items.items()}
