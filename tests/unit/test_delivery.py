"""Delivery across restarts without processes: where a consumer's NODE_RESTARTED goes
(`dora_api.delivery.StreamOrder`) and how the supervisor's books balance
(`dora_supervisor.delivery.Accounts`)."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from dora_api.contract import InputTally, Ledger, MovedNote, Position
from dora_api.delivery import StreamOrder
from dora_supervisor.delivery import KEPT_INCARNATIONS, Accounts, Loss, LossReason
from tests.conftest import wait_until

P = Position


class Consumer:
    """A StreamOrder with one input `in` from `producer/out` (and optionally a second,
    `other`, from `producer/side`), recording the queue it feeds."""

    def __init__(self, hold_s: float = 60.0, two_inputs: bool = False):
        sources = {"in": ("producer", "out")}
        if two_inputs:
            sources["other"] = ("producer", "side")
        self.queue: list = []
        self.order = StreamOrder(sources, lambda node: self.queue.append(("RESTARTED", node)),
                                 hold_s)

    def arrive(self, position: Position, input_id: str = "in") -> bool:
        """A message arrives and, when accepted, is queued at once."""
        deliver, _, _ = self.order.accept(input_id, position)
        if deliver:
            self.queue.append(position)
            self.order.queued(input_id, position)
        return deliver


def test_a_new_incarnation_s_first_message_comes_after_node_restarted_and_old_ones_drop():
    consumer = Consumer()
    assert consumer.arrive(P(1, 0)) and consumer.arrive(P(1, 1))
    assert consumer.arrive(P(2, 0))
    assert not consumer.arrive(P(1, 2))  # stale: its incarnation was declared over
    assert consumer.queue == [P(1, 0), P(1, 1), ("RESTARTED", "producer"), P(2, 0)]
    consumer.order.ended("producer", 1, {"out": 3})  # the supervisor's word comes late
    assert consumer.queue[-1] == P(2, 0)


def test_node_restarted_waits_for_the_last_message_the_ended_incarnation_sent():
    consumer = Consumer()
    consumer.arrive(P(1, 0))
    consumer.order.ended("producer", 1, {"out": 3})
    assert consumer.queue == [P(1, 0)]
    consumer.arrive(P(1, 1))
    consumer.arrive(P(1, 2))
    assert consumer.queue == [P(1, 0), P(1, 1), P(1, 2), ("RESTARTED", "producer")]


def test_node_restarted_comes_at_once_when_everything_sent_has_arrived():
    consumer = Consumer()
    consumer.arrive(P(1, 0))
    consumer.order.ended("producer", 1, {"out": 1})
    consumer.order.ended("producer", 1, {"out": 1})  # said twice: given once
    assert consumer.queue == [P(1, 0), ("RESTARTED", "producer")]


def test_node_restarted_is_given_after_the_hold_when_the_tail_never_comes():
    consumer = Consumer(hold_s=0.05)
    consumer.arrive(P(1, 0))
    consumer.order.ended("producer", 1, {"out": 5})
    wait_until(lambda: consumer.queue[-1:] == [("RESTARTED", "producer")], 5,
               "NODE_RESTARTED after the hold")
    assert not consumer.arrive(P(1, 1))


def test_node_restarted_never_overtakes_an_old_message_waiting_for_room_in_the_queue():
    """It did: the hold ran out while the message's put waited for room (backpressure),
    and NODE_RESTARTED went into the queue first."""
    consumer = Consumer(hold_s=0.01)
    assert consumer.order.accept("in", P(1, 0))[0]  # its put now waits for room...
    consumer.order.ended("producer", 1, {"out": 3})
    wait_until(lambda: "producer" not in consumer.order._pending, 5, "the hold to run out")
    assert consumer.queue == []
    consumer.queue.append(P(1, 0))  # ... and gets it
    consumer.order.queued("in", P(1, 0))
    assert consumer.queue == [P(1, 0), ("RESTARTED", "producer")]


def test_a_new_incarnation_on_one_input_waits_for_an_old_message_in_flight_on_another():
    consumer = Consumer(two_inputs=True)
    assert consumer.order.accept("other", P(1, 0))[0]  # in flight on `other`
    opened = threading.Thread(target=consumer.arrive, args=(P(2, 0), "in"))
    opened.start()
    wait_until(lambda: consumer.order._owed, 5, "NODE_RESTARTED to be owed")
    assert consumer.queue == []
    consumer.queue.append(P(1, 0))
    consumer.order.queued("other", P(1, 0))
    opened.join(5)
    assert consumer.queue == [P(1, 0), ("RESTARTED", "producer"), P(2, 0)]


def test_the_first_message_and_every_jump_are_reported_as_moves():
    order = StreamOrder({"in": ("producer", "out")}, lambda node: None)
    assert order.accept("in", P(1, 4)) == (True, None, True)
    order.queued("in", P(1, 4))
    assert order.accept("in", P(1, 5)) == (True, P(1, 5), False)
    assert order.accept("in", P(1, 9)) == (True, P(1, 6), True)


def ledger(incarnation: int, sent: dict | None = None, **inputs: InputTally) -> Ledger:
    return Ledger(incarnation, sent or {}, inputs)


def test_a_first_consumer_s_stream_starting_late_is_the_producer_s_loss_not_a_restart():
    """All of a crashed producer incarnation's messages can be lost before the consumer
    (never restarted) gets its first: that was counted as `consumer_restarted`."""
    accounts = Accounts({("c", "in"): ("p", "out")})
    accounts.ended("p", ledger(1, {"out": 200}))
    assert accounts.moved("c", MovedNote(1, "in", None, P(2, 0))) == [
        Loss("c", "in", "p/out", 200, LossReason.PRODUCER_RESTARTED)]
    assert accounts.moved("c", MovedNote(1, "other", None, P(1, 0))) == []


def test_the_losses_of_a_producer_crash_a_consumer_crash_and_the_end_are_counted():
    accounts = Accounts({("c", "in"): ("p", "out")})
    lost = accounts.ended("p", ledger(1, {"out": 10}))  # crashed having sent 10
    assert lost == []
    # the live consumer had 7 of them when the next incarnation's first message came
    assert accounts.moved("c", MovedNote(1, "in", P(1, 7), P(2, 0))) == [
        Loss("c", "in", "p/out", 3, LossReason.PRODUCER_RESTARTED)]
    # the consumer crashes after receiving up to (2, 5), having taken 3 of those 5+7
    assert accounts.ended("c", ledger(1, **{"in": InputTally(P(2, 5), 12, 9, 0)})) == [
        Loss("c", "in", "p/out", 3, LossReason.CONSUMER_STOPPED)]
    assert accounts.moved("c", MovedNote(2, "in", None, P(2, 8))) == [
        Loss("c", "in", "p/out", 3, LossReason.CONSUMER_RESTARTED)]
    accounts.ended("p", ledger(2, {"out": 20}))
    accounts.ended("c", ledger(2, **{"in": InputTally(P(2, 18), 10, 10, 0)}))
    assert accounts.undelivered() == [Loss("c", "in", "p/out", 2, LossReason.UNDELIVERED)]


@st.composite
def histories(draw):
    """Producer incarnations with what each sent; consumer incarnations, each receiving
    an in-order subset of a stretch of that history and taking a prefix of it."""
    sends = draw(st.lists(st.integers(0, 12), min_size=1, max_size=4))
    positions = [P(k, s) for k, n in enumerate(sends, 1) for s in range(n)]
    cuts = sorted(draw(st.lists(st.integers(0, len(positions)), max_size=4)))
    consumers = []
    for start, end in zip([0, *cuts], [*cuts, len(positions)], strict=True):
        got = [p for p in positions[start:end] if draw(st.booleans()) or draw(st.booleans())]
        consumers.append((got, draw(st.integers(0, len(got)))))
    return sends, consumers


@given(histories())
def test_the_books_balance_every_message_sent_is_taken_or_counted_lost(history):
    sends, consumers = history
    accounts = Accounts({("c", "in"): ("p", "out")})
    for k, n in enumerate(sends, 1):
        assert accounts.ended("p", ledger(k, {"out": n})) == []
    losses: list[Loss] = []
    for j, (got, taken) in enumerate(consumers, 1):
        expected = None
        for position in got:  # what the consumer's StreamOrder reports as moves
            if position != expected:
                losses += accounts.moved("c", MovedNote(j, "in", expected, position))
            expected = P(position.incarnation, position.seq + 1)
        losses += accounts.ended("c", ledger(j, **{"in": InputTally(expected, len(got),
                                                                    taken, 0)}))
    losses += accounts.undelivered()
    assert sum(taken for _, taken in consumers) + sum(loss.count for loss in losses) == \
        sum(sends)
    assert all(loss.count > 0 for loss in losses)


def test_what_old_incarnations_sent_is_forgotten_past_a_bound():
    accounts = Accounts({("c", "in"): ("p", "out")})
    for k in range(1, KEPT_INCARNATIONS + 3):
        accounts.ended("p", ledger(k, {"out": 1}))
    assert accounts.sent("p", 1) == {} and accounts.sent("p", 2) == {}
    assert accounts.sent("p", 3) == {"out": 1}


def test_each_restart_is_announced_once_even_one_whose_incarnation_sent_nothing():
    """Two quick restarts used to be one NODE_RESTARTED when the middle incarnation's
    messages never reached this consumer."""
    consumer = Consumer()
    consumer.arrive(P(4, 0))  # this consumer joined at incarnation 4
    consumer.order.ended("producer", 4, {"out": 3})  # its tail is still on its way
    consumer.order.ended("producer", 5, {"out": 2})  # and 5 sent us nothing we got
    assert consumer.arrive(P(6, 0))
    assert not consumer.arrive(P(4, 1)) and not consumer.arrive(P(5, 0))
    assert consumer.queue == [P(4, 0), ("RESTARTED", "producer"), ("RESTARTED", "producer"),
                              P(6, 0)]


def test_a_restart_held_for_its_tail_is_not_forgotten_when_an_older_one_ends():
    consumer = Consumer(hold_s=0.05)
    consumer.arrive(P(1, 0))
    consumer.order.ended("producer", 2, {"out": 5})  # 1's end was never said; 2 waits
    assert consumer.arrive(P(2, 0))  # ends 1 (announced), 2 still held for its tail
    assert consumer.queue == [P(1, 0), ("RESTARTED", "producer"), P(2, 0)]
    wait_until(lambda: consumer.queue.count(("RESTARTED", "producer")) == 2, 5,
               "2's NODE_RESTARTED after its hold")
