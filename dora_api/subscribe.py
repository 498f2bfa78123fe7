"""Subscribing a node to its data inputs, in the order the contract needs: the reader token
first (a producer must know who may hold its shared memory before a message can reach
them), then the inputs, each read directly or by a thread (see dora_api.inputs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dora_api import contract, shm
from dora_api.direct import DirectEvents
from dora_api.events import DEFAULT_BACKPRESSURE_DEPTH, EventQueue
from dora_api.inputs import CHANNEL_DEPTH, SampleDecoder, start_input

if TYPE_CHECKING:
    from dora_api.delivery import Delivery

__all__ = ["Subscribed", "subscribe_inputs"]


class Subscribed:
    """What subscribing made: the node's event source, what to keep alive, what to join."""

    def __init__(self, events):
        self.events = events
        self.handles: list = []  # subscribers and the reader token
        self.pumps: list = []  # input threads, joined at close


def subscribe_inputs(session, zenoh, config: contract.NodeConfig,
                     sources: dict[str, tuple[str, str]], queue: EventQueue,
                     on_flush: Callable[[str, bytes], None],
                     on_error: Callable[[str, str], None], delivery: Delivery,
                     watched: bool) -> Subscribed:
    """One data input with backpressure, no watchdog (`watched`): the node's thread reads
    its channel (DirectEvents, which decodes on that thread only). Otherwise `queue`, fed
    by one thread per input (the node's callbacks must already use it): the queue counts
    what `drop_oldest` drops, and marks when events wait, for the watchdog's heartbeat."""
    ns = contract.Namespace(config.prefix, config.dataflow_id)
    made = Subscribed(queue)
    reader = _shared_memory_reader(session, zenoh, ns, config, made) if sources else None
    decoders = {input_id: SampleDecoder(input_id, on_flush, on_error, delivery,
                                        reader.value_for(node, output) if reader else None)
                for input_id, (node, output) in sources.items()}
    direct = len(sources) == 1 and not watched and not any(
        config.inputs[input_id].drops_oldest for input_id in sources)
    if direct:
        ((input_id, (node, output)),) = sources.items()
        key = ns.output(node, output)
        depth = config.inputs[input_id].queue_size or DEFAULT_BACKPRESSURE_DEPTH
        subscriber = session.declare_subscriber(key, zenoh.handlers.FifoChannel(depth))
        made.handles.append(subscriber)
        local = zenoh.Locality.SESSION_LOCAL

        def wake_up() -> None:
            session.put(key, b"", attachment=contract.WAKE_ATTACHMENT,
                        allowed_destination=local)

        made.events = DirectEvents(subscriber, decoders[input_id], wake_up,
                                   delivery.taken, delivery.dropped, input_id=input_id,
                                   depth=depth)
        return made
    for input_id, (node, output) in sources.items():
        subscriber = session.declare_subscriber(ns.output(node, output),
                                                zenoh.handlers.FifoChannel(CHANNEL_DEPTH))
        made.handles.append(subscriber)
        made.pumps.append(start_input(subscriber, config.inputs[input_id], made.events,
                                      decoders[input_id], input_id))
    return made


def _shared_memory_reader(session, zenoh, ns, config, made: Subscribed):
    """Our reader token, and what maps the segments producers name; None without /dev/shm."""
    if not shm.shm_available():
        return None
    from dora_api.shm_reader import SegmentReader

    made.handles.append(session.liveliness().declare_token(
        ns.reader(config.node_id, config.incarnation, shm.shm_domain())))
    publishers: dict[str, object] = {}  # one per producer we release to

    def put(key: str, message: bytes) -> None:
        publisher = publishers.get(key)
        if publisher is None:
            publisher = publishers[key] = session.declare_publisher(
                key, congestion_control=zenoh.CongestionControl.BLOCK,
                reliability=zenoh.Reliability.RELIABLE)
        publisher.put(message)

    return SegmentReader(put, ns, f"{config.node_id}/{config.incarnation}")
