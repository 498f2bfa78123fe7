"""Key expressions of one dataflow, built and taken apart here and nowhere else.

Data: `<prefix>/dora/<uuid>/<node>/<output>` (operator outputs add a level).
Log records routed as data: `<prefix>/dora/<uuid>/dora/logs/<level>/<node>` (node ids are
never `dora`, so this cannot meet a node's output; it mirrors the input source
`dora/logs/<level>/<node>`).
Control, beside it under `<prefix>/dora-ctl/<uuid>`: liveliness tokens `alive/<node>/<n>`,
and `finished/<node>/<n>` or `failed/<node>/<n>` once a node is done for good, messages to
a node `to/<node>` or to every node `to/all`, end-of-stream acknowledgements
`ack/<producer>/<n>`, the coordinator's token `coordinator`; for shared memory, a
consumer's token `reader/<node>/<n>/<domain>` and the releases of the values it held,
`release/<producer>`.
Also the descriptor's input sources: `<node>/<output>` or a built-in `dora/...`, and the
names of shared-memory segments (`shm_segment_name`, `shm_segment_glob`).
"""

from __future__ import annotations

import enum
import re

from dora_api.contract.errors import ContractError
from dora_api.contract.logs import LEVELS, LOG_SOURCE, LogFilter
from dora_api.contract.records import record

__all__ = ["Namespace", "TokenKind", "PeerToken", "ReaderToken", "ALL_NODES",
           "is_builtin_source", "split_source", "shm_segment_name", "shm_segment_glob",
           "shm_segment_maker"]

ALL_NODES = "all"  # `to/all`: a control message for every node
_BUILTIN_PREFIX = "dora/"
_NUMBER = re.compile(r"^-?[0-9]+$")
_SEGMENT_SEPARATOR = "@"  # never in a node id or a uuid: globs cannot match a longer id


class TokenKind(enum.Enum):
    """A node's liveliness token: alive (per incarnation), or finished for good (after an
    abnormal exit: failed, and its consumers get NODE_FAILED before INPUT_CLOSED)."""

    ALIVE = "alive"
    FINISHED = "finished"
    FAILED = "failed"


@record
class ReaderToken:
    """A consumer that can hold shared memory: `node`'s `incarnation`, and the shared-memory
    `domain` it can map (see dora_api.shm.shm_domain)."""

    node: str
    incarnation: int
    domain: str

    @property
    def holder(self) -> str:
        """How descriptors and releases name this consumer."""
        return f"{self.node}/{self.incarnation}"


@record
class PeerToken:
    """A parsed liveliness key. `number` is the incarnation for ALIVE; for FINISHED and
    FAILED the incarnation whose end-of-stream markers to wait for (-1: none, it crashed)."""

    kind: TokenKind
    node: str
    number: int


class Namespace:
    """The key expressions of one dataflow (its prefix and uuid)."""

    def __init__(self, prefix: str, dataflow_id: str):
        base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.data = f"{base}dora/{dataflow_id}"
        self.ctl = f"{base}dora-ctl/{dataflow_id}"

    def __repr__(self) -> str:
        return f"Namespace({self.data!r})"

    # -- builders -------------------------------------------------------------------

    def output(self, node: str, output: str) -> str:
        return f"{self.data}/{node}/{output}"

    def alive(self, node: str = "*", incarnation: int | str = "*") -> str:
        """A node's liveliness token; the incarnation tells a successor from its past."""
        return self._token(TokenKind.ALIVE, node, incarnation)

    def finished(self, node: str = "*", flushed: int | str = "*") -> str:
        """Declared by the supervisor when `node` is finished for good; `flushed` is the
        incarnation whose end-of-stream markers to wait for (-1: none, it crashed)."""
        return self._token(TokenKind.FINISHED, node, flushed)

    def failed(self, node: str = "*", flushed: int | str = "*") -> str:
        """Like `finished`, for a node that failed for good (its consumers hold back their
        INPUT_CLOSED until they have the NODE_FAILED that says why)."""
        return self._token(TokenKind.FAILED, node, flushed)

    def log(self, level: str, node: str) -> str:
        """Where the supervisor publishes a record of `node` at `level` (`dora/logs`)."""
        return f"{self.data}/{LOG_SOURCE}/{level}/{node}"

    def log_subscriptions(self, log_filter: LogFilter) -> list[str]:
        """The keys a `dora/logs` input subscribes to: one per level it passes, so zenoh
        filters by level and node before anything is sent."""
        first = LEVELS.index(log_filter.min_level)
        return [self.log(level, log_filter.node or "*") for level in LEVELS[first:]]

    def to(self, node: str) -> str:
        """Control messages for one node."""
        return f"{self.ctl}/to/{node}"

    @property
    def to_all(self) -> str:
        """Control messages for every node of the dataflow."""
        return self.to(ALL_NODES)

    def ack(self, producer: str, incarnation: int | str = "*") -> str:
        """Consumers acknowledge a producer's end-of-stream markers here."""
        return f"{self.ctl}/ack/{producer}/{incarnation}"

    @property
    def coordinator(self) -> str:
        return f"{self.ctl}/coordinator"

    def reader(self, node: str = "*", incarnation: int | str = "*", domain: str = "*") -> str:
        """Declared by a consumer before it subscribes to any input: a producer that sees
        a message routed to it has seen this token first, and its end releases whatever
        that consumer held."""
        return f"{self.ctl}/reader/{node}/{incarnation}/{domain}"

    def release(self, producer: str) -> str:
        """Consumers tell `producer` here that they no longer hold a shared-memory value."""
        return f"{self.ctl}/release/{producer}"

    def _token(self, kind: TokenKind, node: str, number: int | str) -> str:
        return f"{self.ctl}/{kind.value}/{node}/{number}"

    # -- parsers --------------------------------------------------------------------

    def parse_token(self, key: str) -> PeerToken:
        """The node and number of an `alive`, `finished` or `failed` key of this dataflow."""
        for kind in TokenKind:
            head = f"{self.ctl}/{kind.value}/"
            if key.startswith(head):
                node, sep, number = key[len(head):].partition("/")
                if node and sep and _NUMBER.match(number):
                    return PeerToken(kind, node, int(number))
                break
        raise ContractError(f"not a liveliness key of {self.ctl}: '{key}'")

    def parse_reader(self, key: str) -> ReaderToken:
        head = f"{self.ctl}/reader/"
        parts = key[len(head):].split("/") if key.startswith(head) else []
        if len(parts) == 3 and all(parts) and _NUMBER.match(parts[1]):
            return ReaderToken(parts[0], int(parts[1]), parts[2])
        raise ContractError(f"not a reader token of {self.ctl}: '{key}'")


def is_builtin_source(source: str) -> bool:
    """A `dora/...` input (a timer or the dataflow's logs): not fed by one node's output,
    so it never closes by the cascade."""
    return source.startswith(_BUILTIN_PREFIX)


def shm_segment_name(dataflow_id: str, node: str, pid: int, number: int) -> str:
    """The name (under /dev/shm) of a shared-memory segment `node` (process `pid`) made."""
    return f"dora-{dataflow_id}{_SEGMENT_SEPARATOR}{node}{_SEGMENT_SEPARATOR}{pid}-{number}"


def shm_segment_maker(name: str) -> int | None:
    """The pid of the process that made segment `name`; None: not a dora segment."""
    if not name.startswith("dora-"):
        return None
    parts = name.split(_SEGMENT_SEPARATOR)
    pid, _, number = parts[-1].partition("-")
    if len(parts) != 3 or not (_NUMBER.match(pid) and _NUMBER.match(number)):
        return None
    return int(pid)


def shm_segment_glob(dataflow_id: str, node: str | None = None) -> str:
    """A glob matching every segment of the dataflow, or of one node of it."""
    node_part = f"{node}{_SEGMENT_SEPARATOR}" if node else ""
    return f"dora-{dataflow_id}{_SEGMENT_SEPARATOR}{node_part}*"


def split_source(source: str) -> tuple[str, str]:
    """(node, output) of an input source `node/output`; output '' when there is none."""
    node, _, output = source.partition("/")
    return node, output
