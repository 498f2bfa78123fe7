"""A one-input node's events come straight from its channel; side events (timers, STOP, ...)
wake a blocked reader, timeouts too. A fake channel stands in for zenoh's."""

from __future__ import annotations

import queue
import threading
import time

from dora_api.direct import DirectEvents
from tests.conftest import wait_until

WAKE = "wake"


class Channel:
    """recv() blocks, try_recv() does not; a closed channel raises, like zenoh's."""

    def __init__(self):
        self.items: queue.Queue = queue.Queue()
        self.wakes = 0

    def recv(self):
        item = self.items.get()
        if item is None:
            raise RuntimeError("closed")
        return item

    def try_recv(self):
        try:
            return self.items.get_nowait()
        except queue.Empty:
            return None

    def wake(self):
        self.wakes += 1
        self.items.put(WAKE)


def data(n: int) -> dict:
    return {"type": "INPUT", "id": "in", "value": n, "metadata": {}, "kind": "dora"}


def make():
    channel = Channel()
    events = DirectEvents(channel, lambda sample: None if sample == WAKE else sample,
                          channel.wake)
    return channel, events


def later(delay: float, action) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()), daemon=True)
    thread.start()
    return thread


def test_data_comes_in_channel_order_and_side_events_first():
    channel, events = make()
    for n in range(3):
        channel.items.put(data(n))
    events.put({"type": "NODE_RESTARTED", "id": "up"})
    assert channel.wakes == 0  # nobody was waiting: no wake-up needed
    assert [e.get("value") for e in events.drain()] == [None, 0, 1, 2]
    assert events.get(0) is None and events.empty()


def test_a_side_event_wakes_a_blocked_reader():
    channel, events = make()
    later(0.05, lambda: events.put({"type": "STOP", "id": "MANUAL"}))
    started = time.monotonic()
    assert events.get(None)["type"] == "STOP"
    assert time.monotonic() - started < 2 and channel.wakes == 1
    channel.items.put(data(9))
    assert events.get(None) is None and events.get(0) is None  # ended with STOP


def test_timers_drop_oldest_in_the_side_queue_and_wake_the_reader():
    channel, events = make()
    for n in range(5):
        events.put_input({"type": "INPUT", "id": "tick", "value": n}, 1, True)
    assert events.get(0)["value"] == 4
    later(0.05, lambda: events.put_input({"type": "INPUT", "id": "tick", "value": 5}, 1, True))
    assert events.get(5)["value"] == 5


def test_next_with_a_timeout_returns_none_in_time_and_data_before_it():
    channel, events = make()
    started = time.monotonic()
    assert events.get(0.1) is None
    assert 0.09 <= time.monotonic() - started < 2
    later(0.05, lambda: channel.items.put(data(1)))
    assert events.get(5)["value"] == 1
    assert events.get(0) is None


def test_empty_looks_without_losing_an_event():
    channel, events = make()
    channel.items.put(WAKE)
    assert events.empty()
    channel.items.put(data(7))
    assert not events.empty()
    assert events.get(0)["value"] == 7


def test_close_ends_the_stream_and_a_closed_channel_too():
    channel, events = make()
    events.put({"type": "INPUT_CLOSED", "id": "in"})
    events.close()
    assert events.get(0)["type"] == "INPUT_CLOSED"
    assert events.get(None) is None
    channel2, events2 = make()
    later(0.05, lambda: channel2.items.put(None))
    assert events2.get(None) is None


def test_a_decoder_building_ahead_gives_exactly_what_arrives():
    """SampleDecoder.prepare builds the next array ahead when the layout repeats; what the
    node gets is still exactly what was sent, and a new layout is never mistaken for it."""
    import pyarrow as pa

    from dora_api import contract
    from dora_api.inputs import SampleDecoder

    class Bytes:
        def __init__(self, data):
            self.data = data

        def to_bytes(self):
            return self.data

    class Sample:
        def __init__(self, value):
            kind, payload, header = contract.encode_value(value)
            self.payload = Bytes(bytes(payload))
            self.attachment = Bytes(contract.encode_attachment(kind, None, header))

    decode = SampleDecoder("in", None, None)
    values = [pa.array([i, i + 1, None], pa.int64()) for i in range(5)]
    values += [pa.array(["a", "bc", None]), pa.array(["xyz", "", "q"]),
               pa.array([1.5], pa.float64()), pa.array([7, 8, 9], pa.int64())]
    got = []
    for value in values:
        decode.prepare()
        got.append(decode(Sample(value))["value"])
    assert decode._ready is None or decode._ready[2] not in got
    for value, arrived in zip(values, got, strict=True):
        assert arrived.equals(value) and arrived.type == value.type
    assert len({id(array) for array in got}) == len(got)  # each one its own array


class OrderingDecoder:
    """Stands in for SampleDecoder with delivery: a sample of a new incarnation queues
    NODE_RESTARTED while it is decoded (accept), the last one of an ended incarnation
    right after it is queued (`queued`)."""

    def __init__(self):
        self.events: DirectEvents | None = None
        self.before: set[int] = set()  # values whose decoding restarts first
        self.after: set[int] = set()  # values after which the upstream restart is told
        self._last = None

    def __call__(self, sample):
        if sample == WAKE:
            return None
        self._last = sample["value"]
        if self._last in self.before:
            self.events.put({"type": "NODE_RESTARTED", "id": "up", "value": None})
        return sample

    def queued(self):
        if self._last in self.after:
            self.events.put({"type": "NODE_RESTARTED", "id": "up", "value": None})


def test_node_restarted_stands_exactly_between_two_incarnations_messages():
    channel = Channel()
    decoder = OrderingDecoder()
    taken = []
    events = DirectEvents(channel, decoder, channel.wake, taken.append)
    decoder.events = events
    decoder.before, decoder.after = {2}, {4}
    for n in range(6):
        channel.items.put(data(n))
    got = [(e["type"], e["value"]) for e in iter(lambda: events.get(0), None)]
    assert got == [("INPUT", 0), ("INPUT", 1), ("NODE_RESTARTED", None), ("INPUT", 2),
                   ("INPUT", 3), ("INPUT", 4), ("NODE_RESTARTED", None), ("INPUT", 5)]
    assert taken == ["in"] * 6  # every input event counted once, whichever way it came


def test_empty_looking_ahead_keeps_the_order_too():
    channel = Channel()
    decoder = OrderingDecoder()
    events = DirectEvents(channel, decoder, channel.wake)
    decoder.events = events
    decoder.after = {0}
    channel.items.put(data(0))
    channel.items.put(data(1))
    assert not events.empty()  # decoded 0 ahead; its NODE_RESTARTED is queued behind it
    got = [(e["type"], e["value"]) for e in iter(lambda: events.get(0), None)]
    assert got == [("INPUT", 0), ("NODE_RESTARTED", None), ("INPUT", 1)]


def test_input_closed_and_stop_come_after_what_the_channel_held():
    """Side events go first, but not those that end the input: its data comes before."""
    channel = Channel()
    events = DirectEvents(channel, lambda s: None if s == WAKE else s, channel.wake,
                          input_id="in", depth=8)
    for n in range(3):
        channel.items.put(data(n))
    events.put({"type": "INPUT_CLOSED", "id": "in", "value": None})
    events.put({"type": "STOP", "id": "ALL_INPUTS_CLOSED", "value": None})
    got = [(e["type"], e["value"]) for e in [events.get(0)]]  # held: data comes first
    channel.items.put(data(99))  # too late: it came after INPUT_CLOSED was decided
    got += [(e["type"], e["value"] if e["type"] == "INPUT" else e["id"])
            for e in iter(lambda: events.get(0), None)]
    assert got == [("INPUT", 0), ("INPUT", 1), ("INPUT", 2), ("INPUT_CLOSED", "in"),
                   ("STOP", "ALL_INPUTS_CLOSED")]


def test_a_busy_channel_holds_a_stop_back_by_at_most_its_depth():
    channel = Channel()
    events = DirectEvents(channel, lambda s: None if s == WAKE else s, channel.wake,
                          input_id="in", depth=4)
    for n in range(10):
        channel.items.put(data(n))
    events.put({"type": "STOP", "id": "MANUAL", "value": None})
    got = [e.get("value") if e["type"] == "INPUT" else e["type"]
           for e in iter(lambda: events.get(0), None)]
    assert got == [0, 1, 2, 3, "STOP"]
    assert events.empty()  # after STOP nothing more comes, however full the channel


def test_a_side_event_never_blocks_the_thread_that_adds_it():
    """The wake-up goes through the waker thread: a wake-up put that blocks (a full
    channel) must not block whoever adds the event (it may hold a lock the node needs)."""
    channel = Channel()
    release = threading.Event()
    woken = threading.Event()

    def blocking_wake():
        woken.set()
        release.wait(10)
        channel.items.put(WAKE)

    events = DirectEvents(channel, lambda s: None if s == WAKE else s, blocking_wake)
    reader = threading.Thread(target=lambda: events.get(5), daemon=True)
    reader.start()
    wait_until(lambda: events._waiting, 5, "the reader waiting on the channel")
    putter = threading.Thread(target=events.put, args=({"type": "NODE_RESTARTED",
                                                         "id": "up"},), daemon=True)
    putter.start()
    assert woken.wait(5)  # the wake-up is blocked now ...
    putter.join(5)
    assert not putter.is_alive() and not release.is_set()  # ... and put() has returned
    release.set()
    reader.join(5)
    assert not reader.is_alive()


def test_a_dropped_side_event_is_never_taken_for_the_end_of_the_stream():
    """A drop_oldest input (a timer) empties the box of the event it drops; if the reader
    meets only such a box, it must go on waiting, not end the stream."""
    channel = Channel()
    events = DirectEvents(channel, lambda s: None if s == WAKE else s, channel.wake)
    tick = {"type": "INPUT", "id": "tick", "value": b"", "metadata": {}}
    events.put_input(dict(tick), 1, True)
    box = events._side._gates["tick"].boxes[0]
    box.pop()  # what the timer's next put does to it, just before it queues the new one
    events._side._gates["tick"].dropped += 1
    later(0.2, lambda: channel.items.put(data(1)))
    event = events.get(None)
    assert event is not None and event["value"] == 1
