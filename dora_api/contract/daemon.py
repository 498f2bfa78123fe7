"""The contract between the coordinator and its daemons (`dora daemon --machine NAME`).

Everything rides on zenoh, under `dora-machines/`:
- `coordinator`: the coordinator's liveliness token (a daemon whose coordinator is gone
  stops its nodes); `join`: its queryable, where a daemon introduces itself (`DaemonInfo`)
  and is accepted or refused (`JoinReply`);
- `daemon/<machine>`: a joined daemon's liveliness token (its loss is the machine's loss);
- `to/<machine>`: commands for that daemon (`SpawnNode`, `KillNode`, `KillAll`,
  `CloseDataflow`); `from/<machine>`: what it reports (`NodeStarted`, `NodeExited`,
  `NodeSampled`, `NodeHeartbeat`, `NodeEnforced`, `NodeTallied`, `NodeLine`, `NodeNote`,
  `DataflowClosed`), in order on one key: the coordinator's health and delivery
  accounting see a remote node's reports in the order its daemon's executor made them.
Each record is one JSON object with a `kind`; a record of another kind, with missing,
unknown or mistyped fields is a `ContractError` naming the field.
"""

from __future__ import annotations

import json
import re
import typing
from typing import Any, ClassVar

import attrs

from dora_api.contract.errors import ContractError
from dora_api.contract.ledger import (
    LEDGER_INPUT_WORDS,
    InputTally,
    Ledger,
    pack_position,
    unpack_position,
)

__all__ = [
    "PROTOCOL_VERSION", "LOCAL_MACHINE", "check_machine_name", "MachineKeys",
    "DaemonInfo", "JoinReply", "SpawnNode", "KillNode", "KillAll", "CloseDataflow",
    "Command", "NodeStarted", "NodeExited", "NodeSampled", "NodeLine", "NodeNote",
    "DataflowClosed", "NodeHeartbeat", "NodeEnforced", "NodeTallied", "Report",
    "encode_record", "decode_join", "decode_join_reply",
    "decode_command", "decode_report",
]

PROTOCOL_VERSION = 2  # bump on any change a daemon of the previous version would misread
LOCAL_MACHINE = "local"  # the coordinator's own machine: never a daemon's name
_MACHINE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_ROOT = "dora-machines"


def check_machine_name(name: str) -> str:
    """`name` if it can name a daemon's machine (it becomes a key chunk), else raises."""
    if not _MACHINE.match(name):
        raise ContractError(f"machine name '{name}' must be letters, digits, '_', '.' or '-' "
                            "(and not start with '.' or '-')")
    if name == LOCAL_MACHINE:
        raise ContractError(f"machine name '{LOCAL_MACHINE}' is the coordinator's own machine")
    return name


class MachineKeys:
    """The key expressions of the coordinator <-> daemon protocol."""

    coordinator = f"{_ROOT}/coordinator"
    join = f"{_ROOT}/join"

    @staticmethod
    def daemon(machine: str = "*") -> str:
        return f"{_ROOT}/daemon/{machine}"

    @staticmethod
    def to(machine: str) -> str:
        return f"{_ROOT}/to/{machine}"

    @staticmethod
    def reports(machine: str = "*") -> str:
        return f"{_ROOT}/from/{machine}"

    @staticmethod
    def machine_of(key: str) -> str:
        """The machine of a `daemon/<machine>` or `from/<machine>` key."""
        for head in (f"{_ROOT}/daemon/", f"{_ROOT}/from/"):
            if key.startswith(head) and _MACHINE.match(key[len(head):]):
                return key[len(head):]
        raise ContractError(f"not a daemon key of {_ROOT}: '{key}'")


def _typed(*types):
    return attrs.validators.instance_of(types[0] if len(types) == 1 else types)


_text, _integer, _flag = _typed(str), _typed(int), _typed(bool)
_number = _typed(int, float)
_optional_int = attrs.validators.optional(_integer)
_optional_number = attrs.validators.optional(_number)
_texts = attrs.validators.deep_iterable(_text, _typed(list))
_text_map = attrs.validators.deep_mapping(_text, _text, _typed(dict))
_optional_map = attrs.validators.optional(_typed(dict))
_counts = attrs.validators.deep_mapping(_text, _integer, _typed(dict))
_tallies = attrs.validators.deep_mapping(_text, attrs.validators.and_(
    attrs.validators.deep_iterable(_integer, _typed(list)),
    attrs.validators.min_len(len(LEDGER_INPUT_WORDS)),
    attrs.validators.max_len(len(LEDGER_INPUT_WORDS))), _typed(dict))


@attrs.frozen
class DaemonInfo:
    """A daemon introducing itself: who it is, how its machine resolves paths and how it
    enforces limits."""

    kind: ClassVar[str] = "daemon_info"
    machine: str = attrs.field(validator=_text)
    daemon_id: str = attrs.field(validator=_text)  # one per daemon process
    pid: int = attrs.field(validator=_integer)
    host: str = attrs.field(validator=_text)
    version: str = attrs.field(validator=_text)  # dora-supervisor's
    protocol: int = attrs.field(validator=_integer)
    working_dir: str = attrs.field(validator=_text)  # replaces the descriptor's directory
    python: str = attrs.field(validator=_text)  # runs `.py` nodes and operators there
    rundir: str = attrs.field(validator=_text)  # its private directory (node sockets)
    lease_s: float = attrs.field(validator=_number)  # its link lease (loss detection)
    # how its machine enforces limits: {"memory": .., "cpu": .., "cpu_throttle": ..}, the
    # mechanisms the coordinator asks for and judges that machine's nodes by
    enforcement: dict[str, Any] = attrs.field(validator=_typed(dict))

    @property
    def router_socket(self) -> str:
        """Where the daemon's router listens for the nodes of its machine."""
        return f"{self.rundir}/router.sock"

    def node_socket(self, dataflow: str, slot: str) -> str:
        """Where a node of `dataflow` listens on that machine (its same-machine consumers
        dial it; stable across restarts)."""
        return f"{self.rundir}/{dataflow}/{slot}.sock"


@attrs.frozen
class JoinReply:
    kind: ClassVar[str] = "join_reply"
    accepted: bool = attrs.field(validator=_flag)
    message: str = attrs.field(validator=_text)


# -- commands: coordinator -> daemon ---------------------------------------------------


@attrs.frozen
class SpawnNode:
    """Start one incarnation. `env` holds dora's variables as they are; `target_env` the
    descriptor's `env:`, whose `$VAR`s the daemon expands from its own environment;
    `watch` what the coordinator asks the daemon to measure and enforce (the fields of
    the launch's `Watch`; None: the leader alone, every `sample_interval_s`)."""

    kind: ClassVar[str] = "spawn"
    dataflow: str = attrs.field(validator=_text)
    node: str = attrs.field(validator=_text)
    incarnation: int = attrs.field(validator=_integer)
    restart_count: int = attrs.field(validator=_integer)
    argv: list[str] = attrs.field(validator=_texts)
    cwd: str = attrs.field(validator=_text)
    env: dict[str, str] = attrs.field(validator=_text_map, repr=False)
    target_env: dict[str, str] = attrs.field(validator=_text_map)
    limits: dict[str, Any] = attrs.field(validator=_typed(dict))
    sample_interval_s: float = attrs.field(validator=_number)
    watch: dict[str, Any] | None = attrs.field(validator=_optional_map)


@attrs.frozen
class KillNode:
    kind: ClassVar[str] = "kill"
    dataflow: str = attrs.field(validator=_text)
    node: str = attrs.field(validator=_text)
    incarnation: int = attrs.field(validator=_integer)


@attrs.frozen
class KillAll:
    kind: ClassVar[str] = "kill_all"
    dataflow: str = attrs.field(validator=_text)


@attrs.frozen
class CloseDataflow:
    """The dataflow has ended: kill what still runs of it, then report `DataflowClosed`."""

    kind: ClassVar[str] = "close"
    dataflow: str = attrs.field(validator=_text)


Command = SpawnNode | KillNode | KillAll | CloseDataflow

# -- reports: daemon -> coordinator ----------------------------------------------------


@attrs.frozen
class NodeStarted:
    kind: ClassVar[str] = "started"
    dataflow: str = attrs.field(validator=_text)
    node: str = attrs.field(validator=_text)
    incarnation: int = attrs.field(validator=_integer)
    pid: int = attrs.field(validator=_integer)


@attrs.frozen
class NodeExited:
    kind: ClassVar[str] = "exited"
    dataflow: str = attrs.field(validator=_text)
    node: str = attrs.field(validator=_text)
    incarnation: int = attrs.field(validator=_integer)
    code: int | None = attrs.field(validator=_optional_int)
    signal: int | None = attrs.field(validator=_optional_int)


@attrs.frozen
class NodeSampled:
    """A sample as the daemon took it; `at` is the daemon's monotonic clock (only the
    differences between two samples of one process are used)."""

    kind: ClassVar[str] = "sampled"
    dataflow: str = attrs.field(validator=_text)
    node: str = attrs.field(validator=_text)
    incarnation: int = attrs.field(validator=_integer)
    at: float = attrs.field(validator=_number)
    state: str = attrs.field(validator=_text)  # the kernel's state letter
    rss_bytes: int | None = attrs.field(validator=_optional_int)
    cpu_time_s: float | None = attrs.field(validator=_optional_number)


@attrs.frozen
class NodeHeartbeat:
    """A node's watchdog page as the daemon read it: all four times are the daemon's
    monotonic clock (the watchdog compares them with each other only)."""

    kind: ClassVar[str] = "heartbeat"
    dataflow: str = attrs.field(validator=_text)
    node: str = attrs.field(validator=_text)
    incarnation: int = attrs.field(validator=_integer)
    at: float = attrs.field(validator=_number)
    taken_at: float = attrs.field(validator=_number)
    waiting_since: float = attrs.field(validator=_number)
    excused_until: float = attrs.field(validator=_number)


@attrs.frozen
class NodeEnforced:
    """The daemon's machine enforced a limit by itself (the kernel's OOM killer in the
    node's cgroup): `limit` and `enforced_by` are the values of the records' fields."""

    kind: ClassVar[str] = "enforced"
    dataflow: str = attrs.field(validator=_text)
    node: str = attrs.field(validator=_text)
    incarnation: int = attrs.field(validator=_integer)
    at: float = attrs.field(validator=_number)
    limit: str = attrs.field(validator=_text)
    measured: float = attrs.field(validator=_number)
    threshold: float = attrs.field(validator=_number)
    enforced_by: str = attrs.field(validator=_text)


@attrs.frozen
class NodeTallied:
    """The counts an ended process left in its delivery ledger (sent before its
    `NodeExited`): `sent` per output; per input its `LEDGER_INPUT_WORDS`, with `next` a
    packed position (0: none), exactly as the ledger file holds them."""

    kind: ClassVar[str] = "tallied"
    dataflow: str = attrs.field(validator=_text)
    node: str = attrs.field(validator=_text)
    incarnation: int = attrs.field(validator=_integer)
    sent: dict[str, int] = attrs.field(validator=_counts)
    inputs: dict[str, list[int]] = attrs.field(validator=_tallies)

    @classmethod
    def of(cls, dataflow: str, node: str, ledger: Ledger) -> NodeTallied:
        inputs = {input_id: [0 if t.next is None else pack_position(t.next), t.received,
                             t.taken, t.dropped] for input_id, t in ledger.inputs.items()}
        return cls(dataflow, node, ledger.incarnation, dict(ledger.sent), inputs)

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.incarnation, dict(self.sent), {
            input_id: InputTally(unpack_position(words[0]), *words[1:])
            for input_id, words in self.inputs.items()})


@attrs.frozen
class NodeLine:
    kind: ClassVar[str] = "line"
    dataflow: str = attrs.field(validator=_text)
    node: str = attrs.field(validator=_text)
    stream: str = attrs.field(validator=_text)  # "stdout" | "stderr"
    line: str = attrs.field(validator=_text)


@attrs.frozen
class NodeNote:
    """A line the node wrote on its control pipe, passed on as it is."""

    kind: ClassVar[str] = "note"
    dataflow: str = attrs.field(validator=_text)
    node: str = attrs.field(validator=_text)
    incarnation: int = attrs.field(validator=_integer)
    note: str = attrs.field(validator=_text)


@attrs.frozen
class DataflowClosed:
    """Every process of the dataflow on this daemon has exited (after `CloseDataflow`)."""

    kind: ClassVar[str] = "closed"
    dataflow: str = attrs.field(validator=_text)


Report = (NodeStarted | NodeExited | NodeSampled | NodeHeartbeat | NodeEnforced | NodeTallied
          | NodeLine | NodeNote | DataflowClosed)

_COMMANDS = {cls.kind: cls for cls in typing.get_args(Command)}
_REPORTS = {cls.kind: cls for cls in typing.get_args(Report)}


def encode_record(record) -> bytes:
    return json.dumps({"kind": record.kind, **attrs.asdict(record)}).encode()


def _decode(data: bytes, known: dict[str, type], what: str):
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise ContractError(f"a {what} that is not JSON") from None
    if not isinstance(body, dict):
        raise ContractError(f"a {what} must be a JSON object")
    cls = known.get(body.pop("kind", None))
    if cls is None:
        raise ContractError(f"not a {what} (kind must be one of {', '.join(known)})")
    names = {field.name for field in attrs.fields(cls)}
    if set(body) != names:
        extra, missing = sorted(set(body) - names), sorted(names - set(body))
        raise ContractError(f"{cls.kind} {what}: " + "; ".join(
            part for part in (extra and f"unknown {', '.join(extra)}",
                              missing and f"missing {', '.join(missing)}") if part))
    try:
        return cls(**body)
    except (TypeError, ValueError) as exc:  # a mistyped field; a ledger's wrong length
        raise ContractError(f"{cls.kind} {what}: {exc.args[0]}") from None


def decode_join(data: bytes) -> DaemonInfo:
    return _decode(data, {DaemonInfo.kind: DaemonInfo}, "join request")


def decode_join_reply(data: bytes) -> JoinReply:
    return _decode(data, {JoinReply.kind: JoinReply}, "join reply")


def decode_command(data: bytes) -> Command:
    return _decode(data, _COMMANDS, "daemon command")


def decode_report(data: bytes) -> Report:
    return _decode(data, _REPORTS, "daemon report")
