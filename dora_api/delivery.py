"""What a consumer sees across its producers' restarts, and the counts behind it.

Every data message carries its `Position` (producer incarnation, sequence number). Per
input, messages come in position order; a message of an incarnation that has already
ended for this node (NODE_RESTARTED given) is stale and dropped, so NODE_RESTARTED always
stands between two incarnations' messages. It is given when the first message of a newer
incarnation arrives, or when the supervisor says an incarnation ended (`RestartedMessage`,
with what it sent) and the last of its messages is in the queue, or `HOLD_S` after that.

Where a stream does not go on where it was expected to (the first message of this
incarnation, or a jump), the supervisor is told (`MovedNote`): it counts what lies
between as lost. The counts themselves live in the ledger (`Tally`).

Per message this is two short critical sections on a plain lock (`admit`, then `queued`)
over small records, with positions as two ints: no Position object is made unless a
stream moved.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from dora_api import contract, parent
from dora_api.contract import Position
from dora_api.ledger import Tally

__all__ = ["Delivery", "StreamOrder", "HOLD_S"]

HOLD_S = 1.0  # how long NODE_RESTARTED waits for the ended incarnation's last messages


class _Producer:
    """One upstream node, as this consumer knows it."""

    __slots__ = ("node", "streams", "ended", "seen")

    def __init__(self, node: str):
        self.node = node
        self.streams: list[_Stream] = []
        self.ended: int | None = None  # NODE_RESTARTED given up to this incarnation
        self.seen: int | None = None  # the newest incarnation a message came from


class _Stream:
    """One input: the position expected next, the position after the last message queued
    (both (incarnation, seq) tuples), the incarnation of the accepted message not yet in
    the queue (its put may wait for room: nothing may overtake it)."""

    __slots__ = ("output", "producer", "expected", "queued", "in_flight", "counts")

    def __init__(self, output: str, producer: _Producer, counts):
        self.output, self.producer, self.counts = output, producer, counts
        self.expected: tuple[int, int] | None = None
        self.queued: tuple[int, int] | None = None
        self.in_flight: int | None = None


class StreamOrder:
    """The decisions, per input of one node; thread-safe (zenoh threads call it).

    `restarted(node)` is called (under the lock, so nothing overtakes it) to queue the
    NODE_RESTARTED event; it must not block."""

    def __init__(self, sources: dict[str, tuple[str, str]],
                 restarted: Callable[[str], None], hold_s: float = HOLD_S,
                 tally: Tally | None = None):
        self._producers: dict[str, _Producer] = {}
        self._streams: dict[str, _Stream] = {}
        for input_id, (node, output) in sources.items():
            producer = self._producers.get(node) or self._producers.setdefault(
                node, _Producer(node))
            counts = tally.input_words(input_id) if tally is not None else None
            stream = self._streams[input_id] = _Stream(output, producer, counts)
            producer.streams.append(stream)
        self._store = tally.store if tally is not None else None
        self._restarted = restarted
        self._hold_s = hold_s
        self._owed: dict[str, int] = {}  # node -> NODE_RESTARTED waiting for a message in flight
        self._pending: dict[str, tuple[int, dict[str, int]]] = {}  # node -> (ended, sent)
        # the per-message path takes it directly; the ledger's counts are updated under it
        self._mutex = tally.lock if tally is not None else threading.Lock()
        self._lock = threading.Condition(self._mutex)

    def accept(self, input_id: str, position: Position) -> tuple[bool, Position | None, bool]:
        """Before the message is queued: (deliver it?, the position expected, moved?)."""
        deliver, expected = self.admit(input_id, position.incarnation, position.seq)
        if not deliver:
            return False, None, False
        expected = Position(*expected) if expected is not None else None
        return True, expected, expected != position

    def in_order(self, input_id: str, incarnation: int, seq: int) -> bool:
        """The steady state, decided and counted (the ledger's next and received) in one
        short section: the message is the one expected next on its input, from the
        incarnation seen last, nothing pending. False: not that case, nothing changed
        (ask `admit`)."""
        stream = self._streams[input_id]
        with self._mutex:
            expected, producer = stream.expected, stream.producer
            if expected is None or expected[1] != seq or expected[0] != incarnation or \
                    producer.seen != incarnation or incarnation <= producer.ended or \
                    self._pending:
                return False
            stream.expected = (incarnation, seq + 1)
            stream.in_flight = incarnation
            counts = stream.counts
            if counts is not None:
                self._store(counts.next_at, contract.position_word(incarnation, seq + 1))
                counts.received += 1
                self._store(counts.received_at, counts.received)
            return True

    def admit(self, input_id: str, incarnation: int, seq: int
              ) -> tuple[bool, tuple[int, int] | None]:
        """`accept` with the position as two ints: (deliver it?, the (incarnation, seq)
        expected). A message that opens a new incarnation waits here until NODE_RESTARTED
        is queued."""
        stream = self._streams[input_id]
        producer = stream.producer
        with self._mutex:
            if producer.seen != incarnation or self._pending:  # not the steady state
                return self._admit_slowly(stream, producer, incarnation, seq)
            if incarnation <= producer.ended:
                return False, None
            expected = stream.expected
            stream.expected = (incarnation, seq + 1)
            stream.in_flight = incarnation
            return True, expected

    def _admit_slowly(self, stream: _Stream, producer: _Producer, incarnation: int,
                      seq: int) -> tuple[bool, tuple[int, int] | None]:
        node = producer.node
        if producer.ended is None:
            producer.ended = incarnation - 1  # before our time
        if incarnation <= producer.ended:
            return False, None
        expected = stream.expected
        seen, pending = producer.seen, self._pending.get(node)
        if (seen is not None and incarnation > seen) or \
                (pending is not None and incarnation > pending[0]):
            self._end(producer, incarnation - 1)  # NODE_RESTARTED goes first
            self._lock.wait_for(lambda: not self._owed.get(node))
        producer.seen = max(incarnation, seen or 0)
        stream.expected = (incarnation, seq + 1)
        stream.in_flight = incarnation
        return True, expected

    def queued(self, input_id: str, position: Position) -> None:
        """The accepted message is in the queue (or was dropped by a closed one): a held
        NODE_RESTARTED may follow it."""
        self.queued_at(input_id, position.incarnation, position.seq)

    def queued_at(self, input_id: str, incarnation: int, seq: int) -> None:
        """`queued` with the position as two ints."""
        stream = self._streams[input_id]
        with self._mutex:
            stream.in_flight = None
            stream.queued = (incarnation, seq + 1)
            if self._pending or self._owed:  # a NODE_RESTARTED may wait for this one
                node = stream.producer.node
                pending = self._pending.get(node)
                if pending is not None and self._complete(stream.producer, *pending):
                    self._end(stream.producer, pending[0])
                elif node in self._owed:
                    self._pay(stream.producer)

    def ended(self, node: str, incarnation: int, sent: dict[str, int]) -> None:
        """The supervisor says `node`'s `incarnation` ended, having sent `sent`."""
        producer = self._producers.get(node)
        if producer is None:  # none of our inputs comes from it
            return
        with self._lock:
            if producer.ended is None:
                producer.ended = incarnation - 1
            if incarnation <= producer.ended:
                return
            if self._complete(producer, incarnation, sent):
                self._end(producer, incarnation)
                return
            self._pending[node] = (incarnation, sent)
        timer = threading.Timer(self._hold_s, self._give_up, (producer, incarnation))
        timer.daemon = True
        timer.start()

    def _give_up(self, producer: _Producer, incarnation: int) -> None:
        with self._lock:
            pending = self._pending.get(producer.node)
            if pending is not None and pending[0] == incarnation:
                self._end(producer, incarnation)

    @staticmethod
    def _complete(producer: _Producer, incarnation: int, sent: dict[str, int]) -> bool:
        """Every message `incarnation` sent to us is queued (or we are past it)."""
        for stream in producer.streams:
            total = sent.get(stream.output, 0)
            if total and (stream.queued is None or stream.queued < (incarnation, total)):
                return False
        return True

    def _end(self, producer: _Producer, incarnation: int) -> None:
        """`producer`'s incarnations up to `incarnation` are over: one NODE_RESTARTED for
        each (a restart whose incarnation sent us nothing is announced too), once no
        message of theirs that was accepted is still on its way into the queue."""
        node = producer.node
        done = producer.ended if producer.ended is not None else incarnation - 1
        if incarnation > done:
            producer.ended = incarnation
            self._owed[node] = self._owed.get(node, 0) + incarnation - done
            pending = self._pending.get(node)
            if pending is not None and pending[0] <= incarnation:
                del self._pending[node]
        self._pay(producer)

    def _pay(self, producer: _Producer) -> None:
        ended = producer.ended or 0
        if self._owed.get(producer.node) and not any(
                s.in_flight is not None and s.in_flight <= ended for s in producer.streams):
            for _ in range(self._owed.pop(producer.node)):
                self._restarted(producer.node)
            self._lock.notify_all()


class Delivery:
    """A node's side of delivery: stamps what it sends, orders and counts what it gets.
    `put_event` queues a control event (NODE_RESTARTED) and never blocks."""

    def __init__(self, config: contract.NodeConfig, sources: dict[str, tuple[str, str]],
                 put_event: Callable[[dict], None]):
        self._incarnation = config.incarnation
        self._tally = Tally(contract.LedgerLayout(config.outputs, list(sources)),
                            config.incarnation, os.environ.get(contract.LEDGER_ENV))
        self._put_event = put_event
        self._order = StreamOrder(sources, self._restarted, tally=self._tally)
        self._admit, self.queued_at = self._order.admit, self._order.queued_at
        self._in_order = self._order.in_order
        self._received = self._tally.received_at
        self.taken, self.dropped = self._tally.taken, self._tally.dropped
        next_seq, stamp = self._tally.next_seq, contract.stamper(config.incarnation)
        # (output, attachment) -> the attachment stamped with the next position on output
        self.stamp: Callable[[str, bytes | None], bytes] = \
            lambda output, attachment: stamp(attachment, next_seq(output))

    def _restarted(self, node: str) -> None:
        self._put_event({"type": "NODE_RESTARTED", "id": node, "kind": "dora",
                         "value": None, "metadata": {}})

    def accept_at(self, input_id: str, incarnation: int, seq: int) -> bool:
        """False: a stale message at (incarnation, seq), to drop. Tells the supervisor
        where the stream moved. (A message without a position, from a sender outside this
        contract, is simply taken: the caller does not ask.)"""
        if self._in_order(input_id, incarnation, seq):  # the steady state, counted too
            return True
        deliver, expected = self._admit(input_id, incarnation, seq)
        if not deliver:
            return False
        if expected is None or expected[1] != seq or expected[0] != incarnation:
            parent.tell_supervisor(contract.MovedNote(
                self._incarnation, input_id, Position(*expected) if expected else None,
                Position(incarnation, seq)))
        self._received(input_id, incarnation, seq)
        return True

    def undecodable(self, input_id: str, position: Position | None) -> None:
        """An accepted message became an ERROR event: the node was told, it is not lost
        (counted with what its queue policy dropped); nothing waits for it any more."""
        if position is not None:
            self._tally.dropped(input_id)
            self.queued_at(input_id, position.incarnation, position.seq)

    def upstream_restarted(self, message: contract.RestartedMessage) -> None:
        if message.ended is None:  # a supervisor that does not say what ended
            self._restarted(message.node)
        else:
            self._order.ended(message.node, message.ended, message.sent)
