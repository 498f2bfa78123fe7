"""A simulator for the supervision tree: it plays the processes of the nodes. Spawned
nodes come up at once, obey STOP unless told to ignore it, and die when killed; timers
fire when the test advances the clock."""

from __future__ import annotations

import collections
import heapq
import textwrap

from dora_supervisor.parse import parse
from dora_supervisor.tree import Tree
from dora_supervisor.tree_model import (
    CloseOutputs,
    Exited,
    Finished,
    Kill,
    Liveliness,
    Log,
    NotifyRestarted,
    Respond,
    Schedule,
    SendStop,
    Spawn,
    Started,
)
from dora_supervisor.yamlsrc import load_yaml

__all__ = ["Sim"]


class Sim:
    def __init__(self, text: str, before_start=()):
        """`before_start`: events the tree takes before it starts (machines known gone)."""
        data, lines, _ = load_yaml(textwrap.dedent(text))
        df, problems = parse(data, lines, "test.yml")
        assert not [p for p in problems if not p.warning], problems
        self.tree = Tree(df)
        self.now = 0.0
        self.timers: list = []
        self.seq = 0
        self.pending: collections.deque = collections.deque()
        self.starts: collections.Counter = collections.Counter()
        self.spawns: list[Spawn] = []
        self.stops: list[str] = []
        self.kills: list[str] = []
        self.closed: list[str] = []
        self.logs: list[Log] = []
        self.restarted: list[str] = []
        self.result: Finished | None = None
        self.responses: list[Respond] = []
        self.actions: list = []  # every action, in order
        self.deaf: set[str] = set()  # nodes that ignore STOP
        self.pid = 100
        self.running: dict[str, int] = {}  # node -> incarnation of its live process
        for event in before_start:
            self._apply(self.tree.step(event, self.now, 0.5))
        self._apply(self.tree.start(self.now))
        self._drain()

    def incarnation(self, node: str) -> int:
        return self.tree.workers[node].incarnation

    def exit(self, node: str, code: int | None = 0, signal: int | None = None) -> None:
        assert node in self.running, f"{node} is not running"
        self._died(node, self.running[node], code, signal)
        self._drain()

    def _died(self, node: str, incarnation: int, code, signal) -> None:
        if self.running.get(node) == incarnation:
            del self.running[node]
            self.pending.append(Exited(node, incarnation, code, signal, True))

    def post(self, event) -> None:
        self.pending.append(event)
        self._drain()

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while self.timers and self.timers[0][0] <= end:
            due, _, event = heapq.heappop(self.timers)
            self.now = max(self.now, due)
            self.pending.append(event)
            self._drain()
        self.now = end

    def _drain(self) -> None:
        while self.pending:
            self._apply(self.tree.step(self.pending.popleft(), self.now, 0.5))

    def _apply(self, actions) -> None:
        self.actions += actions
        for action in actions:
            if isinstance(action, Spawn):
                self.starts[action.node] += 1
                self.spawns.append(action)
                self.pid += 1
                assert action.node not in self.running, f"{action.node} spawned twice"
                self.running[action.node] = action.incarnation
                self.pending.append(Started(action.node, action.incarnation, self.pid))
                self.pending.append(Liveliness(action.node, action.incarnation, True))
            elif isinstance(action, SendStop):
                self.stops.append(action.node)
                if action.node not in self.deaf and action.node in self.running:
                    self._died(action.node, self.running[action.node], 0, None)
            elif isinstance(action, Kill):
                self.kills.append(action.node)
                self._died(action.node, action.incarnation, None, 9)
            elif isinstance(action, Schedule):
                self.seq += 1
                heapq.heappush(self.timers, (self.now + action.delay, self.seq, action.event))
            elif isinstance(action, CloseOutputs):
                self.closed.append(action.node)
            elif isinstance(action, NotifyRestarted):
                self.restarted.append(action.node)
            elif isinstance(action, Log):
                self.logs.append(action)
            elif isinstance(action, Finished):
                self.result = action
            elif isinstance(action, Respond):
                self.responses.append(action)

    def logged(self, event: str) -> list[dict]:
        return [log.fields for log in self.logs if log.event == event]
