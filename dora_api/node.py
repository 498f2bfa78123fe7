"""`Node`: a dataflow node's connection to its inputs, outputs and supervisor.

Start-up order matters and is the reason `Node()` may take a few milliseconds: subscribe
to every input and to the control keys, declare the liveliness token, then wait until
every peer named by the supervisor is visible. Only then can nothing sent be lost.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from dora_api import wire
from dora_api.events import EventQueue

__all__ = ["Node"]

_INPUT_CLOSE_SAFETY_S = 5.0
_ACK_WAIT_S = 3.0  # at exit, wait at most this long for consumers to confirm the markers
_CHANNEL_DEPTH = 16  # zenoh-side buffer per input, in front of the event queue  # wait at most this long for an upstream flush marker


class Node:
    """A dataflow node, configured from the environment its supervisor sets."""

    def __init__(self, node_id: str | None = None):
        raw = os.environ.get(wire.CONFIG_ENV)
        if not raw:
            raise RuntimeError("dora_api.Node() must run inside a dataflow: start it with "
                               "`dora run DESCRIPTOR` (DORA_NODE_CONFIG is not set)")
        config = json.loads(raw)
        if node_id is not None and node_id != config["node_id"]:
            raise RuntimeError(f"this process was started as node '{config['node_id']}', "
                               f"not '{node_id}'")
        _die_with_parent()
        _keep_control_fd_private()
        self._config = config
        self._id: str = config["node_id"]
        self._ns = wire.Namespace(config["prefix"], config["dataflow_id"])
        self._incarnation: int = config.get("incarnation", 0)
        self._inputs: dict[str, dict] = config["inputs"]
        # non-timer input id -> (upstream node, its output): derived once, used per event
        self._sources: dict[str, tuple[str, str]] = {
            input_id: tuple(spec["source"].split("/", 1))
            for input_id, spec in self._inputs.items() if not spec["source"].startswith("dora/")}
        self._outputs: list[str] = list(config["outputs"])
        consumers = config.get("consumers")
        self._consumed = set(self._outputs) if consumers is None else set(consumers)
        self._events = EventQueue()
        self._lock = threading.Lock()
        self._closed_inputs: set[str] = set()
        self._flushed: dict[str, int] = {}  # input id -> last flushed upstream incarnation
        self._pending_close: dict[str, int] = {}  # input id -> incarnation to wait for
        self._stop_sent = False
        self._closed = False
        self._timers_stop = threading.Event()
        _install_log_handler(self._id)

        import zenoh

        self._zenoh = zenoh
        endpoints = config["endpoints"]
        self._session = zenoh.open(wire.zenoh_config(endpoints["listen"], endpoints["connect"],
                                                     config.get("lease_s")))
        self._subscribers = []
        for input_id, (node, output) in self._sources.items():
            spec = self._inputs[input_id]
            subscriber = self._session.declare_subscriber(
                self._ns.output(node, output), zenoh.handlers.FifoChannel(_CHANNEL_DEPTH))
            self._subscribers.append(subscriber)
            threading.Thread(target=_pump, args=(subscriber, self._input_callback(input_id, spec)),
                             daemon=True, name=f"dora-input-{input_id}").start()
        self._subscribers.append(self._session.declare_subscriber(
            self._ns.to(self._id), _direct(self._on_control)))
        self._subscribers.append(self._session.declare_subscriber(
            self._ns.to("all"), _direct(self._on_control)))
        self._acks: set[str] = set()
        self._acked = threading.Condition()
        self._subscribers.append(self._session.declare_subscriber(
            self._ns.ack(self._id, self._incarnation), _direct(self._on_ack)))
        self._publishers = {
            output: self._session.declare_publisher(
                self._ns.output(self._id, output),
                congestion_control=zenoh.CongestionControl.BLOCK,
                reliability=zenoh.Reliability.RELIABLE)
            for output in self._outputs}
        liveliness = self._session.liveliness()
        self._seen_alive: set[str] = set()
        self._seen_finished: set[str] = set()
        self._peers_changed = threading.Condition()
        self._watchers = [
            liveliness.declare_subscriber(self._ns.alive(), _direct(self._on_peer),
                                          history=True),
            liveliness.declare_subscriber(self._ns.finished(), _direct(self._on_peer),
                                          history=True),
            liveliness.declare_subscriber(self._ns.coordinator, _direct(self._on_coordinator),
                                          history=True),
        ]
        self._token = liveliness.declare_token(self._ns.alive(self._id, self._incarnation))
        self._wait_for_peers(config.get("wait_for", []), config.get("ready_timeout", 10.0))
        atexit.register(self.close)
        self._start_timers()

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

    async def recv_async(self, timeout: float | None = None) -> dict | None:
        """`next()` for asyncio code: waits in a worker thread, not on the event loop."""
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
        publisher = self._publishers.get(output_id)
        if publisher is None:
            declared = ", ".join(self._outputs) or "none"
            raise ValueError(f"node '{self._id}' has no output '{output_id}' in the descriptor"
                             f" (declared: {declared})")
        if output_id not in self._consumed:
            return  # no other node consumes it: nothing to publish
        kind, payload = wire.encode_value(data)
        attachment = wire.encode_attachment(kind, metadata)
        if attachment is None:
            publisher.put(payload)
        else:
            publisher.put(payload, attachment=attachment)

    # -- introspection --------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._id

    def node_config(self) -> dict:
        return {"inputs": {k: v["source"] for k, v in self._inputs.items()},
                "outputs": list(self._outputs)}

    def dataflow_id(self) -> str:
        return self._config["dataflow_id"]

    def restart_count(self) -> int:
        return self._config.get("restart_count", 0)

    def is_restart(self) -> bool:
        return self.restart_count() > 0

    def dataflow_descriptor(self) -> dict:
        import yaml

        with open(self._config["descriptor"], encoding="utf-8") as handle:
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
        _tell_supervisor(f"C {self._incarnation}")  # our token is about to vanish: expected
        self._timers_stop.set()
        self._events.close()
        marker = bytes((wire.KIND_FLUSH,)) + str(self._incarnation).encode()
        for publisher in self._publishers.values():
            publisher.put(b"", attachment=marker)
        self._wait_for_acks()
        try:
            self._session.close()
        finally:
            _tell_supervisor(f"F {self._incarnation}")

    def _wait_for_acks(self) -> None:
        """Keep the session open until live consumers have the markers.

        zenoh's `close()` drops whatever still waits in its send queue, so leaving right
        after the last put could lose the tail of the stream."""
        with self._peers_changed:
            alive = set(self._seen_alive)
        expected = {f"{consumer}/{output}"
                    for output, consumers in self._config.get("consumers", {}).items()
                    for consumer in consumers if consumer in alive}
        deadline = time.monotonic() + _ACK_WAIT_S
        with self._acked:
            while not expected <= self._acks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._acked.wait(remaining)

    def _on_ack(self, sample) -> None:
        with self._acked:
            self._acks.add(sample.payload.to_bytes().decode())
            self._acked.notify_all()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- zenoh callbacks (zenoh threads) ----------------------------------------------

    def _input_callback(self, input_id: str, spec: dict):
        depth = spec.get("queue_size")
        drop_oldest = spec.get("queue_policy") == "drop_oldest"
        put = self._events.put_input
        decode_attachment, decode_value = wire.decode_attachment, wire.decode_value
        flush_kind = wire.KIND_FLUSH

        def on_sample(sample) -> None:
            attachment = sample.attachment
            raw = attachment.to_bytes() if attachment is not None else b""
            if raw and raw[0] == flush_kind:
                self._on_flush(input_id, int(raw[1:] or 0))
                return
            try:
                kind, metadata = decode_attachment(raw)
                value = decode_value(kind, sample.payload.to_bytes())
            except Exception as exc:  # a payload we cannot read: say so, keep the input
                self._events.put({"type": "ERROR", "id": input_id, "kind": "dora",
                                  "error": f"cannot decode a message on input '{input_id}': "
                                           f"{type(exc).__name__}: {exc}",
                                  "value": None, "metadata": {}})
                return
            put({"type": "INPUT", "id": input_id, "value": value, "metadata": metadata,
                 "kind": "dora"}, depth, drop_oldest)

        return on_sample

    def _on_flush(self, input_id: str, incarnation: int) -> None:
        node, output = self._sources[input_id]
        try:
            self._session.put(self._ns.ack(node, incarnation), f"{self._id}/{output}".encode())
        except Exception:  # our own session is closing: nobody is waiting for us anymore
            pass
        with self._lock:
            self._flushed[input_id] = max(incarnation, self._flushed.get(input_id, -1))
            wanted = self._pending_close.get(input_id)
            ready = wanted is not None and incarnation >= wanted
        if ready:
            self._close_input(input_id)

    def _on_control(self, sample) -> None:
        message = json.loads(sample.payload.to_bytes())
        kind = message.get("t")
        if kind == "stop":
            self._send_stop("MANUAL")
        elif kind == "restarted" and any(
                node == message["node"] for node, _ in self._sources.values()):
            self._events.put({"type": "NODE_RESTARTED", "id": message["node"],
                              "kind": "dora", "value": None, "metadata": {}})

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
        key = str(sample.key_expr)
        _, node, tail = key.rsplit("/", 2)
        alive = sample.kind == self._zenoh.SampleKind.PUT
        finished = "/finished/" in key
        with self._peers_changed:
            target = self._seen_finished if finished else self._seen_alive
            (target.add if alive else target.discard)(node)
            self._peers_changed.notify_all()
        if finished and alive:  # upstream finished for good: its outputs are closed
            flushed = int(tail)
            self._close_inputs_from(node, None if flushed < 0 else flushed)

    def _on_coordinator(self, sample) -> None:
        if sample.kind == self._zenoh.SampleKind.PUT:
            return
        # The supervisor is gone: stop now, and leave for sure a second later.
        self._send_stop("MANUAL")
        timer = threading.Timer(1.0, os._exit, (1,))
        timer.daemon = True
        timer.start()

    def _wait_for_peers(self, peers: list[str], timeout: float) -> None:
        """The readiness barrier: return once every peer is subscribed (or finished)."""
        wanted = set(peers) - {self._id}
        deadline = time.monotonic() + timeout
        with self._peers_changed:
            while not wanted <= (self._seen_alive | self._seen_finished):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = sorted(wanted - self._seen_alive - self._seen_finished)
                    logging.getLogger("dora").warning(
                        "starting without waiting for %s (not ready after %.0fs)",
                        ", ".join(missing), timeout)
                    return
                self._peers_changed.wait(remaining)

    # -- timers ---------------------------------------------------------------------

    def _start_timers(self) -> None:
        from dora_api.timers import run_timers

        timers = {i: s for i, s in self._inputs.items() if s["source"].startswith("dora/timer")}
        if timers:
            thread = threading.Thread(target=run_timers, daemon=True, name="dora-timers",
                                      args=(timers, self._events, self._timers_stop))
            thread.start()


def _pump(subscriber, on_sample) -> None:
    """Feed one input's samples to the event queue (a daemon thread, so it never keeps
    the interpreter alive); blocking here is the backpressure on the sender."""
    while True:
        try:
            sample = subscriber.recv()
        except Exception:  # the subscriber or session is closed: the stream has ended
            return
        on_sample(sample)


def _direct(callback):
    """Run `callback` on zenoh's own thread: no extra hop, and no non-daemon Python
    thread that would keep the interpreter from exiting (zenoh-python's default)."""
    import zenoh

    return zenoh.handlers.Callback(callback, indirect=False)


def _tell_supervisor(line: str) -> None:
    fd = os.environ.get(wire.CONTROL_FD_ENV)
    if not fd:
        return
    try:
        os.write(int(fd), (line + "\n").encode())
    except OSError:
        pass


def _keep_control_fd_private() -> None:
    """Our children must not hold the control pipe open after we exit."""
    fd = os.environ.get(wire.CONTROL_FD_ENV)
    if fd:
        try:
            os.set_inheritable(int(fd), False)
        except OSError:
            pass


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its supervisor dies (no orphans)."""
    parent = os.environ.get(wire.PARENT_PID_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent) and os.getppid() == 1:
        os._exit(1)  # the supervisor died before we could ask


def _install_log_handler(node_id: str) -> None:
    """Route Python `logging` to the supervisor as structured lines, unless configured."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLineFormatter())
    root.addHandler(handler)
    if root.level == logging.WARNING:
        root.setLevel(logging.INFO)


class _JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        return json.dumps({"dora_log": 1, "level": record.levelname.lower(), "msg": message,
                           "logger": record.name})
