"""The dataflow descriptor as frozen attrs records, defaults in one place.

`dora_supervisor.parse` builds these from YAML; everything downstream (graph, tree,
runtime) reads only this model.
"""

from __future__ import annotations

import enum

import attrs

from dora_api.contract import is_builtin_source, parse_timer, split_source  # shared with nodes

__all__ = [
    "Backoff", "RestartSpec", "Limits", "Health", "LogSettings", "InputSpec", "OperatorSpec",
    "NodeSpec",
    "GroupSpec", "ModuleRef", "SupervisionFlags", "Dataflow", "parse_timer", "RestartPolicy", "Strategy",
    "AutoShutdown", "QueuePolicy", "RESTART_POLICIES", "STRATEGIES", "AUTO_SHUTDOWN",
    "BRUTAL_KILL", "QUEUE_POLICIES", "CpuMode", "CPU_MODES",
]


class RestartPolicy(enum.StrEnum):
    """OTP's restart types (the values are what logs and `dora status` show)."""

    PERMANENT = "permanent"  # always restarted
    TRANSIENT = "transient"  # restarted after an abnormal exit
    TEMPORARY = "temporary"  # never restarted


class Strategy(enum.StrEnum):
    """Which siblings a supervisor restarts along with a failed child."""

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class AutoShutdown(enum.StrEnum):
    """When a supervisor stops by itself because its significant children finished."""

    NEVER = "never"
    ANY_SIGNIFICANT = "any_significant"
    ALL_SIGNIFICANT = "all_significant"


class QueuePolicy(enum.StrEnum):
    """What a full input queue does with the next message."""

    DROP_OLDEST = "drop_oldest"
    BACKPRESSURE = "backpressure"


class CpuMode(enum.StrEnum):
    """What `limits.cpu` does to a node above it."""

    KILL = "kill"  # stop it (reason cpu_limit); its restart policy applies
    THROTTLE = "throttle"  # hold it to the share (a cgroup CPU quota, like systemd's CPUQuota=)


# The spellings a descriptor may use: OTP's, then dora-rs's aliases for the same types.
RESTART_POLICIES = {**{p.value: p for p in RestartPolicy}, "always": RestartPolicy.PERMANENT,
                    "on-failure": RestartPolicy.TRANSIENT, "never": RestartPolicy.TEMPORARY}
STRATEGIES = tuple(s.value for s in Strategy)
AUTO_SHUTDOWN = tuple(m.value for m in AutoShutdown)
QUEUE_POLICIES = tuple(q.value for q in QueuePolicy)
CPU_MODES = tuple(m.value for m in CpuMode)
BRUTAL_KILL = 0.0  # `shutdown: brutal_kill` is a zero grace: SIGKILL at once


@attrs.frozen
class Backoff:
    initial: float = 0.1
    max: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.1


@attrs.frozen
class RestartSpec:
    policy: RestartPolicy = attrs.field(default=RestartPolicy.TRANSIENT, converter=RestartPolicy)
    backoff: Backoff = Backoff()
    max_restarts: int | None = None  # dora-rs per-node cap; None = only the supervisor's
    window: float | None = None


@attrs.frozen
class Limits:
    memory: int | None = None
    cpu: float | None = None
    cpu_time: float | None = None
    open_files: int | None = None
    cpu_mode: CpuMode = attrs.field(default=CpuMode.KILL, converter=CpuMode)


@attrs.frozen
class Health:
    lease: float = 2.0
    watchdog: float | None = None


@attrs.frozen
class LogSettings:
    """What becomes of the node's log records (dora-rs `min_log_level`, `send_logs_as`,
    `max_log_size`, `max_rotated_files`); None: the coordinator's default."""

    min_level: str = "stdout"  # a dora-rs level: records below it are dropped at the source
    send_as: str | None = None  # also send each record on this output
    max_size: int | None = None  # rotate the node's log file at this many bytes
    max_files: int | None = None  # keep this many rotated files


@attrs.frozen
class InputSpec:
    id: str
    source: str
    queue_size: int | None = None
    queue_policy: QueuePolicy = attrs.field(default=QueuePolicy.BACKPRESSURE,
                                            converter=QueuePolicy)
    input_timeout: float | None = None
    where: tuple = attrs.field(default=(), eq=False, repr=False)  # key path, for messages
    # the file `where` is in, when not its node's (a module input wired by the including file)
    origin: object = attrs.field(default=None, eq=False, repr=False)  # errors.Origin

    @property
    def timer_interval(self) -> float | None:
        return parse_timer(self.source)

    @property
    def is_timer(self) -> bool:
        return is_builtin_source(self.source)

    @property
    def source_node(self) -> str:
        return split_source(self.source)[0]

    @property
    def source_output(self) -> str:
        return split_source(self.source)[1]


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
    logs: LogSettings = LogSettings()
    origin: object = attrs.field(default=None, eq=False, repr=False)  # errors.Origin

    @property
    def is_source(self) -> bool:
        """No inputs other than built-in timers: nothing upstream can close it."""
        return all(i.is_timer for i in self.inputs)


@attrs.frozen
class SupervisionFlags:
    strategy: Strategy = attrs.field(default=Strategy.ONE_FOR_ONE, converter=Strategy)
    max_restarts: int = 3
    max_seconds: float = 5.0
    auto_shutdown: AutoShutdown = attrs.field(default=AutoShutdown.ALL_SIGNIFICANT,
                                              converter=AutoShutdown)


@attrs.frozen
class GroupSpec:
    id: str
    members: tuple[str, ...]
    flags: SupervisionFlags = SupervisionFlags(auto_shutdown="never")
    line: int = 0
    where: tuple = attrs.field(default=(), eq=False, repr=False)
    origin: object = attrs.field(default=None, eq=False, repr=False)  # errors.Origin
    module: str | None = None  # the module file a module node included (a module's group)


@attrs.frozen
class ModuleRef:
    """A node with `module:`, as written: `modules.expand` replaces it with the module's
    nodes and a group. `flags` are the raw supervisor flags given on the node."""

    id: str
    file: str  # as written: relative to the including file's folder
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[str, ...] = ()
    params: dict[str, str] = attrs.field(factory=dict)
    flags: dict = attrs.field(factory=dict)
    machine: str | None = None
    build: tuple[str, ...] = ()  # build steps of the modules that include it
    line: int = 0
    where: tuple = attrs.field(default=(), eq=False, repr=False)
    origin: object = attrs.field(default=None, eq=False, repr=False)  # errors.Origin


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

