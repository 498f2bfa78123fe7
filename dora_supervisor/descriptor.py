"""The dataflow descriptor as frozen attrs records, defaults in one place.

`dora_supervisor.parse` builds these from YAML; everything downstream (graph, tree,
runtime) reads only this model.
"""

from __future__ import annotations

import re

import attrs

__all__ = [
    "Backoff", "RestartSpec", "Limits", "Health", "InputSpec", "OperatorSpec", "NodeSpec",
    "GroupSpec", "SupervisionFlags", "Dataflow", "parse_timer", "RESTART_POLICIES",
    "STRATEGIES", "AUTO_SHUTDOWN", "BRUTAL_KILL", "QUEUE_POLICIES",
]

RESTART_POLICIES = {"permanent": "permanent", "transient": "transient", "temporary": "temporary",
                    "always": "permanent", "on-failure": "transient", "never": "temporary"}
STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")
AUTO_SHUTDOWN = ("never", "any_significant", "all_significant")
QUEUE_POLICIES = ("drop_oldest", "backpressure")
BRUTAL_KILL = 0.0  # `shutdown: brutal_kill` is a zero grace: SIGKILL at once
_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_TIMER = re.compile(r"^dora/timer/(secs|millis|micros|nanos|hz)/([^/]+)$")
_TIMER_SCALE = {"secs": 1.0, "millis": 1e-3, "micros": 1e-6, "nanos": 1e-9}


@attrs.frozen
class Backoff:
    initial: float = 0.1
    max: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.1


@attrs.frozen
class RestartSpec:
    policy: str = "transient"
    backoff: Backoff = Backoff()
    max_restarts: int | None = None  # dora-rs per-node cap; None = only the supervisor's
    window: float | None = None


@attrs.frozen
class Limits:
    memory: int | None = None
    cpu: float | None = None
    cpu_time: float | None = None
    open_files: int | None = None


@attrs.frozen
class Health:
    lease: float = 2.0
    watchdog: float | None = None


@attrs.frozen
class InputSpec:
    id: str
    source: str
    queue_size: int | None = None
    queue_policy: str = "backpressure"
    input_timeout: float | None = None
    where: tuple = attrs.field(default=(), eq=False, repr=False)  # key path, for messages

    @property
    def timer_interval(self) -> float | None:
        return parse_timer(self.source)

    @property
    def is_timer(self) -> bool:
        return self.source.startswith("dora/")

    @property
    def source_node(self) -> str:
        return self.source.split("/", 1)[0]

    @property
    def source_output(self) -> str:
        return self.source.split("/", 1)[1] if "/" in self.source else ""


@attrs.frozen
class OperatorSpec:
    id: str
    kind: str  # "python" | "shared-library"
    path: str
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[str, ...] = ()


@attrs.frozen
class NodeSpec:
    id: str
    line: int = 0
    path: str | None = None
    args: tuple[str, ...] = ()
    run: str | None = None
    env: dict[str, str] = attrs.field(factory=dict)
    working_dir: str | None = None
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[str, ...] = ()
    operators: tuple[OperatorSpec, ...] = ()
    restart: RestartSpec = RestartSpec()
    shutdown: float = 5.0
    significant: bool | None = None
    limits: Limits = Limits()
    health: Health = Health()
    machine: str | None = None
    where: tuple = attrs.field(default=(), eq=False, repr=False)
    build: tuple[str, ...] = ()  # shell commands `dora run`/`dora build` run first

    @property
    def is_source(self) -> bool:
        """No inputs other than built-in timers: nothing upstream can close it."""
        return all(i.is_timer for i in self.inputs)


@attrs.frozen
class SupervisionFlags:
    strategy: str = "one_for_one"
    max_restarts: int = 3
    max_seconds: float = 5.0
    auto_shutdown: str = "all_significant"


@attrs.frozen
class GroupSpec:
    id: str
    members: tuple[str, ...]
    flags: SupervisionFlags = SupervisionFlags(auto_shutdown="never")
    line: int = 0
    where: tuple = attrs.field(default=(), eq=False, repr=False)


@attrs.frozen
class Dataflow:
    nodes: tuple[NodeSpec, ...]
    name: str | None = None
    prefix: str = ""
    supervision: SupervisionFlags = SupervisionFlags()
    groups: tuple[GroupSpec, ...] = ()
    file: str = "<descriptor>"
    base_dir: str = "."

    def node(self, node_id: str) -> NodeSpec:
        return next(n for n in self.nodes if n.id == node_id)


def parse_timer(source: str) -> float | None:
    """Interval in seconds of a `dora/timer/...` input, None for anything else.

    Raises ValueError for a malformed timer."""
    if not source.startswith("dora/timer"):
        return None
    match = _TIMER.match(source)
    if not match:
        raise ValueError(f"malformed timer '{source}' (expected dora/timer/{{secs,millis,"
                         "micros,nanos}/N or dora/timer/hz/F)")
    unit, number = match.groups()
    try:
        value = float(number)  # a huge interval becomes inf (refused below), not an overflow
        if unit != "hz" and value != float("inf"):
            int(number)  # a whole number: not 1.5, not 1e3
    except ValueError:
        raise ValueError(f"malformed timer '{source}': '{number}' is not a "
                         f"{'number' if unit == 'hz' else 'whole number'}") from None
    if not value > 0 or value == float("inf"):  # also rejects nan
        what = "frequency" if unit == "hz" else "interval"
        raise ValueError(f"malformed timer '{source}': the {what} must be a positive, "
                         "finite number")
    return 1.0 / value if unit == "hz" else value * _TIMER_SCALE[unit]
