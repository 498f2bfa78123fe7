"""Delivery accounting: which messages were sent and never taken, from the nodes' counts.

Every message on an edge (producer output -> consumer input) has a `Position`
(producer incarnation, sequence number); positions order the edge's whole history. The
counts come from each node's ledger, read when its process has ended (a SIGKILL loses
none of them), and from the `MovedNote`s a consumer sends when a stream does not go on
where it was expected to. A message is lost when no incarnation of the consumer took it:

- `producer_restarted`: it never arrived before the next incarnation's messages did (the
  producer crashed with it in its send queue, or went past its shutdown grace);
- `consumer_restarted`: it was sent between the last message the old consumer incarnation
  received and the first one the new incarnation got (in flight at the crash, or sent
  while no consumer was there);
- `consumer_stopped`: the consumer had received it but its code never took it (it
  stopped with it queued, or died with it in its event queue; a node that reads its one
  input straight from zenoh's channel has no queue past it, so what waits there at a
  crash is `consumer_restarted`);
- `undelivered`: at the end of the dataflow, sent after the last message its consumer
  received;
- `gap`: missing inside one incarnation's stream (the transport is reliable: never seen).

Messages dropped by a `drop_oldest` input are dropped by design, not lost.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from dora_api.contract import Ledger, MovedNote, Position
from dora_supervisor.descriptor import Dataflow

__all__ = ["LossReason", "Loss", "Accounts", "FIRST", "edges_of", "KEPT_INCARNATIONS"]

FIRST = Position(1, 0)  # the first message a node can ever send (incarnations start at 1)
# What each producer incarnation sent is kept for its latest this many incarnations (a
# node restarted every second for years must not grow the coordinator): a consumer that
# reports a position older than that counts the incarnations forgotten since as empty.
KEPT_INCARNATIONS = 4096


class LossReason(enum.StrEnum):
    PRODUCER_RESTARTED = "producer_restarted"
    CONSUMER_RESTARTED = "consumer_restarted"
    CONSUMER_STOPPED = "consumer_stopped"
    UNDELIVERED = "undelivered"
    GAP = "gap"


@attrs.frozen
class Loss:
    """`count` messages from `source` (`producer/output`) never taken on `consumer`'s
    `input`, and why."""

    consumer: str
    input: str
    source: str
    count: int
    reason: LossReason


def edges_of(df: Dataflow) -> dict[tuple[str, str], tuple[str, str]]:
    """(consumer, input) -> (producer, output) for every input fed by another node."""
    return {(node.id, spec.id): (spec.source_node, spec.source_output)
            for node in df.nodes for spec in node.inputs if not spec.is_timer}


class Accounts:
    """`edges`: (consumer, input) -> (producer, output), for every non-timer input."""

    def __init__(self, edges: Mapping[tuple[str, str], tuple[str, str]]):
        self._edges = dict(edges)
        self._sent: dict[str, dict[int, Mapping[str, int]]] = {}  # producer -> incarnation ->
        self._after: dict[tuple[str, str], Position | None] = dict.fromkeys(self._edges)

    def sent(self, producer: str, incarnation: int) -> dict[str, int]:
        """What that ended incarnation sent, per output (empty when unknown)."""
        return dict(self._sent.get(producer, {}).get(incarnation, {}))

    def ended(self, node: str, ledger: Ledger) -> list[Loss]:
        """`node`'s incarnation ended with `ledger`: remember what it sent and where its
        streams stopped; what it held unread is lost."""
        sent = self._sent.setdefault(node, {})
        sent[ledger.incarnation] = dict(ledger.sent)
        if len(sent) > KEPT_INCARNATIONS:
            del sent[min(sent)]
        losses = []
        for input_id, tally in ledger.inputs.items():
            edge = (node, input_id)
            if edge not in self._edges:
                continue
            if tally.next is not None:
                self._after[edge] = tally.next
            losses += self._loss(edge, tally.unread, LossReason.CONSUMER_STOPPED)
        return losses

    def moved(self, node: str, note: MovedNote) -> list[Loss]:
        """A consumer's stream went on at `note.came` instead of `note.expected`."""
        edge = (node, note.input)
        if edge not in self._edges:
            return []
        start = note.expected or self._after[edge] or FIRST
        if note.expected is None and note.incarnation > 1:
            reason = LossReason.CONSUMER_RESTARTED
        elif start.incarnation == note.came.incarnation:
            reason = LossReason.GAP
        else:
            reason = LossReason.PRODUCER_RESTARTED
        return self._loss(edge, self.between(self._edges[edge], start, note.came), reason)

    def undelivered(self) -> list[Loss]:
        """At the end: per edge, what the producer sent after the last message received."""
        losses = []
        for edge, (producer, output) in self._edges.items():
            sent = self._sent.get(producer)
            if sent:
                last = max(sent)
                end = Position(last, sent[last].get(output, 0))
                losses += self._loss(edge, self.between((producer, output),
                                                        self._after[edge] or FIRST, end),
                                     LossReason.UNDELIVERED)
        return losses

    def between(self, source: tuple[str, str], start: Position, end: Position) -> int:
        """How many messages lie from `start` (included) to `end` (excluded) on `source`."""
        if end <= start:
            return 0
        if start.incarnation == end.incarnation:
            return end.seq - start.seq
        producer, output = source
        sent = self._sent.get(producer, {})
        count = max(0, sent.get(start.incarnation, {}).get(output, 0) - start.seq)
        count += sum(counts.get(output, 0) for incarnation, counts in sent.items()
                     if start.incarnation < incarnation < end.incarnation)
        return count + end.seq

    def _loss(self, edge: tuple[str, str], count: int, reason: LossReason) -> list[Loss]:
        if count <= 0:
            return []
        producer, output = self._edges[edge]
        return [Loss(edge[0], edge[1], f"{producer}/{output}", count, reason)]
