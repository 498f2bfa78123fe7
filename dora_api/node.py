"""`Node`: a dataflow node's connection to its inputs, outputs and supervisor.

Start-up order matters and is the reason `Node()` may take a few milliseconds: subscribe
to every input and to the control keys, declare the liveliness token, then wait until
every peer named by the supervisor is visible. Only then can nothing sent be lost.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from typing import Any

from dora_api import contract, parent, watchdog
from dora_api.contract import ContractError, NodeConfig
from dora_api.delivery import Delivery
from dora_api.events import EventQueue
from dora_api.failures import FailedUpstreams
from dora_api.node_logging import NodeLogging
from dora_api.outputs import Outputs
from dora_api.peers import Peers
from dora_api.subscribe import subscribe_inputs

__all__ = ["Node"]

_INPUT_CLOSE_SAFETY_S = 5.0  # wait at most this long for an upstream end-of-stream marker
_ACK_WAIT_S = 3.0  # at exit, wait at most this long for consumers to confirm the markers
_PUMP_JOIN_S = 2.0  # at exit, wait at most this long for the input threads to end
_UNDECLARED = object()


class Node(NodeLogging):
    """A dataflow node, configured from the environment its supervisor sets."""

    def __init__(self, node_id: str | None = None):
        config = contract.config_from_environ(os.environ)
        if config is None:
            raise RuntimeError("dora_api.Node() must run inside a dataflow: start it with "
                               f"`dora run DESCRIPTOR` ({contract.CONFIG_ENV} is not set)")
        if node_id is not None and node_id != config.node_id:
            raise RuntimeError(f"this process was started as node '{config.node_id}', "
                               f"not '{node_id}'")
        self._start(config)

    @classmethod
    def from_config(cls, config: NodeConfig) -> Node:
        """A node configured by `config` instead of the environment (the runtime node
        leaves out the inputs its own operators feed)."""
        node = cls.__new__(cls)
        node._start(config)
        return node

    def _start(self, config: NodeConfig) -> None:
        parent.die_with_parent()
        parent.keep_control_fd_private()
        self._config = config
        self._id = config.node_id
        self._ns = contract.Namespace(config.prefix, config.dataflow_id)
        self._incarnation = config.incarnation
        self._inputs = config.inputs
        # non-timer input id -> (upstream node, its output): derived once, used per event
        self._sources: dict[str, tuple[str, str]] = {
            input_id: spec.upstream for input_id, spec in self._inputs.items()
            if not spec.is_builtin}
        self._delivery = Delivery(config, self._sources, self._put_event)
        # until subscribe_inputs says which event source the node reads
        self._events = EventQueue(self._delivery.taken, self._delivery.dropped)
        self._lock = threading.Lock()
        self._closed_inputs: set[str] = set()
        self._flushed: dict[str, int] = {}  # input id -> last flushed upstream incarnation
        self._pending_close: dict[str, int] = {}  # input id -> incarnation to wait for
        self._stop_sent = False
        self._closed = False
        self._timers_stop = threading.Event()
        self._failed = FailedUpstreams(self._sources, self._put_event, self._close_inputs_from)
        self._peers = Peers(self._ns, self._failed.upstream_finished, self._put_error)
        self._install_log_handler()

        import zenoh

        self._zenoh = zenoh
        endpoints = config.endpoints
        self._session = zenoh.open(contract.zenoh_config(endpoints.listen, endpoints.connect,
                                                         config.lease_s))
        subscribed = subscribe_inputs(self._session, zenoh, config, self._sources,
                                      self._events, self._on_flush, self._put_error,
                                      self._delivery, watchdog.wanted())
        self._events = subscribed.events
        self._subscribers, self._pumps = subscribed.handles, subscribed.pumps
        self._subscribe_log_inputs()
        for key in (self._ns.to(self._id), self._ns.to_all):
            self._subscribers.append(self._session.declare_subscriber(
                key, _direct(self._on_control)))
        self._acks: set[contract.Ack] = set()
        self._acked = threading.Condition()
        self._subscribers.append(self._session.declare_subscriber(
            self._ns.ack(self._id, self._incarnation), _direct(self._on_ack)))
        self._out = Outputs(self._session, zenoh, self._ns, config,
                            lambda node: node in self._peers.alive(), _direct,
                            self._delivery.stamp)
        self._publishers = self._out.publishers  # output -> publisher, None: not consumed
        liveliness = self._session.liveliness()
        self._watchers = [
            liveliness.declare_subscriber(key, _direct(self._on_peer), history=True)
            for key in (self._ns.alive(), self._ns.finished(), self._ns.failed())]
        self._watchers.append(liveliness.declare_subscriber(
            self._ns.coordinator, _direct(self._on_coordinator), history=True))
        self._token = liveliness.declare_token(self._ns.alive(self._id, self._incarnation))
        self._peers.wait_for(set(config.wait_for) - {self._id}, config.ready_timeout)
        atexit.register(self.close)
        self._heartbeat = watchdog.attach(self._events)  # beats from here on
        from dora_api.timers import start_timers  # here: most nodes have no timer

        start_timers(self._inputs, self._events, self._timers_stop)

    # -- receiving ------------------------------------------------------------------

    def next(self, timeout: float | None = None) -> dict | None:
        """The next event; None on timeout or when the stream has ended (after STOP)."""
        return self._events.get(timeout)

    def try_recv(self) -> dict | None:
        """The next queued event without waiting, or None."""
        return self._events.get(0)

    def drain(self) -> list[dict]:
        """Every event queued right now."""
        return self._events.drain()

    def is_empty(self) -> bool:
        """No event queued right now."""
        return self._events.empty()

    def keepalive(self, seconds: float | None = None) -> None:
        """For `health.watchdog`: alive now, as if an event were taken; with `seconds`,
        excused for that long too (call it before a call that legitimately blocks)."""
        if self._heartbeat is not None:
            self._heartbeat.keepalive(seconds)

    async def recv_async(self, timeout: float | None = None) -> dict | None:
        """`next()` for asyncio code: waits in a worker thread, not on the event loop."""
        import asyncio  # here, not at the top: it costs a node ~25 ms to import

        return await asyncio.get_running_loop().run_in_executor(None, self.next, timeout)

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        event = self._events.get(None)
        if event is None:
            raise StopIteration
        return event

    # -- sending --------------------------------------------------------------------

    def send_output(self, output_id: str, data: Any = b"", metadata: dict | None = None) -> None:
        """Publish `data` (bytes-like or a pyarrow array) on a declared output."""
        publisher = self._publishers.get(output_id, _UNDECLARED)
        if publisher is None:
            return  # no other node consumes it: nothing to publish
        if publisher is _UNDECLARED:
            raise self._out.undeclared(output_id)
        self._out.send(output_id, publisher, data, metadata)

    def send_output_raw(self, output_id: str, data_len: int, metadata: dict | None = None):
        """A sample of `data_len` bytes to fill in place, then `send()` (or a `with`
        block); see dora_api.raw_sample for its contract (dora-rs's)."""
        publisher = self._publishers.get(output_id, _UNDECLARED)
        if publisher is _UNDECLARED:
            raise self._out.undeclared(output_id)
        return self._out.raw_sample(output_id, publisher, data_len, metadata)

    # -- introspection --------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._id

    def node_config(self) -> dict:
        return {"inputs": {k: v.source for k, v in self._inputs.items()},
                "outputs": list(self._config.outputs)}

    def dataflow_id(self) -> str:
        return self._config.dataflow_id

    def restart_count(self) -> int:
        return self._config.restart_count

    def is_restart(self) -> bool:
        return self.restart_count() > 0

    def dataflow_descriptor(self) -> dict:
        import yaml

        with open(self._config.descriptor, encoding="utf-8") as handle:
            return yaml.safe_load(handle)

    # -- shutdown -------------------------------------------------------------------

    def close(self) -> None:
        """Flush every output and leave; idempotent, also run at interpreter exit.

        Each output gets an end-of-incarnation marker in-band, after the last message, and
        the supervisor is told through the control pipe that the markers are out: that is
        how downstream nodes know every message has arrived before their INPUT_CLOSED."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        # our token is about to vanish: expected
        parent.tell_supervisor(contract.ClosingNote(self._incarnation))
        self._timers_stop.set()
        self._events.close()
        self._out.put_markers(contract.encode_flush_marker(self._incarnation))
        self._wait_for_acks()
        try:
            self._session.close()
            # The input threads end as their subscribers close; let them, or one still
            # inside zenoh when the interpreter finalizes takes the process down.
            deadline = time.monotonic() + _PUMP_JOIN_S
            for pump in self._pumps:
                pump.join(max(0.0, deadline - time.monotonic()))
            self._events.join(deadline)
            self._out.close()
        finally:
            parent.tell_supervisor(contract.FlushedNote(self._incarnation))

    def _wait_for_acks(self) -> None:
        """Keep the session open until live consumers have the markers.

        zenoh's `close()` drops whatever still waits in its send queue, so leaving right
        after the last put could lose the tail of the stream."""
        alive = self._peers.alive()
        expected = {contract.Ack(consumer, output)
                    for output, consumers in self._config.consumers.items()
                    for consumer in consumers if consumer in alive}
        deadline = time.monotonic() + _ACK_WAIT_S
        with self._acked:
            while not expected <= self._acks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._acked.wait(remaining)

    def _on_ack(self, sample) -> None:
        try:
            ack = contract.decode_ack(sample.payload.to_bytes())
        except ContractError as exc:
            self._put_error(str(exc))
            return
        with self._acked:
            self._acks.add(ack)
            self._acked.notify_all()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- zenoh callbacks (zenoh threads) ----------------------------------------------

    def _on_flush(self, input_id: str, marker: bytes) -> None:
        try:
            incarnation = contract.decode_flush_marker(marker)
        except ContractError as exc:
            self._put_error(f"input '{input_id}': {exc}", input_id)
            return
        node, output = self._sources[input_id]
        try:
            self._session.put(self._ns.ack(node, incarnation),
                              contract.encode_ack(contract.Ack(self._id, output)))
        except Exception:  # our own session is closing: nobody is waiting for us anymore
            pass
        with self._lock:
            self._flushed[input_id] = max(incarnation, self._flushed.get(input_id, -1))
            wanted = self._pending_close.get(input_id)
            ready = wanted is not None and incarnation >= wanted
        if ready:
            self._close_input(input_id)

    def _on_control(self, sample) -> None:
        try:
            message = contract.decode_control(sample.payload.to_bytes())
        except ContractError as exc:
            self._put_error(str(exc))
            return
        match message:
            case contract.StopMessage():
                self._send_stop("MANUAL")
            case contract.RestartedMessage(node=restarted) if any(
                    node == restarted for node, _ in self._sources.values()):
                self._delivery.upstream_restarted(message)
            case contract.FailedMessage(node=failed, error=error):
                self._failed.reported(failed, error)

    def _put_error(self, error: str, event_id: str | None = None) -> None:
        """An ERROR event: input the node cannot read, reported instead of raised."""
        self._events.put({"type": "ERROR", "id": event_id, "kind": "dora", "error": error,
                          "value": None, "metadata": {}})

    def _put_event(self, event: dict) -> None:
        """A control event, into whichever event source the node reads now."""
        self._events.put(event)

    def _close_inputs_from(self, source_node: str, flushed: int | None) -> None:
        """Upstream `source_node` finished for good; close its inputs once drained."""
        for input_id, (node, _) in self._sources.items():
            if node != source_node:
                continue
            with self._lock:
                drained = flushed is None or self._flushed.get(input_id, -1) >= flushed
                if not drained:
                    self._pending_close[input_id] = flushed
            if drained:
                self._close_input(input_id)
            else:
                timer = threading.Timer(_INPUT_CLOSE_SAFETY_S, self._close_input, (input_id,))
                timer.daemon = True
                timer.start()

    def _close_input(self, input_id: str) -> None:
        with self._lock:
            if input_id in self._closed_inputs:
                return
            self._closed_inputs.add(input_id)
            self._pending_close.pop(input_id, None)
            all_closed = self._sources.keys() <= self._closed_inputs
        self._events.put({"type": "INPUT_CLOSED", "id": input_id, "kind": "dora",
                          "value": None, "metadata": {}})
        if all_closed:
            self._send_stop("ALL_INPUTS_CLOSED")

    def _send_stop(self, reason: str) -> None:
        with self._lock:
            if self._stop_sent:
                return
            self._stop_sent = True
        self._timers_stop.set()
        self._events.put({"type": "STOP", "id": reason, "kind": "dora", "value": None,
                          "metadata": {}})

    def _on_peer(self, sample) -> None:
        self._peers.update(str(sample.key_expr), sample.kind == self._zenoh.SampleKind.PUT)

    def _on_coordinator(self, sample) -> None:
        if sample.kind == self._zenoh.SampleKind.PUT:
            return
        # The supervisor is gone: stop now, and leave for sure a second later.
        self._send_stop("MANUAL")
        timer = threading.Timer(1.0, os._exit, (1,))
        timer.daemon = True
        timer.start()


def _direct(callback):
    """Run `callback` on zenoh's own thread: no extra hop, and no non-daemon Python
    thread that would keep the interpreter from exiting (zenoh-python's default)."""
    import zenoh

    return zenoh.handlers.Callback(callback, indirect=False)
