"""The runtime node: several operators in one process (`python -m dora_api.runtime`).

The supervisor starts a node that has `operators:` with this module. It reads the node's
config (`dora_api.contract.NodeConfig`, with its `operators`: id, kind, absolute path,
local input and output ids), loads every operator (`dora_api.operators`) and routes events:

- The node's inputs are named `<op>/<input>`: an INPUT or INPUT_CLOSED with id `op-c/time`
  goes to operator `op-c` as `time`. Timer inputs (`dora/timer/...`) work the same way.
- An operator's `send_output("counter", ...)` is published as the node's output
  `op-c/counter`, i.e. `<node>/op-c/counter` for the rest of the dataflow.
- Inputs fed by an operator of the same runtime node (`runtime-node/op-c/counter` consumed by
  `op-py`) never go through zenoh: they are delivered in-process, right after the call that
  sent them, in order. (Their `queue_size`/`queue_policy` therefore do not apply.)
- STOP goes to every operator still running, then the node finishes.

Lifecycle: an operator finishes when it returns `DoraStatus.STOP`, when all its non-timer
inputs are closed (a dora-rs-form operator then gets a STOP event with id
`ALL_INPUTS_CLOSED`), or when the node gets STOP. A finished operator is dropped at once
(`dora_drop_operator` for a shared library; every operator is dropped exactly once on any
orderly exit). `DoraStatus.STOP_ALL` finishes every operator of this runtime node. The node
exits 0 when all its operators have finished. Operators of the same node that consume a
finished operator's outputs see those inputs closed immediately; for the other nodes of the
dataflow, an operator's outputs close when the whole runtime node finishes (outputs close per
node, not per operator).

Errors: a broken operator (missing file or symbol, `dora_init_operator` failing, a non-zero
`dora_on_input`, a Python exception) ends the node with exit code 1 and one line on stderr,
`dora runtime: operator 'op-c' (c-operator/operator.so): missing symbol dora_on_input`; the
supervisor handles it like any node crash (the restart policy applies). Set DORA_VERBOSE=1
for the Python traceback as well.

This module must not import `dora_supervisor`.
"""

from __future__ import annotations

import collections
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from dora_api import DoraStatus, contract
from dora_api.contract import InputConfig, is_builtin_source, split_source
from dora_api.operators import LoadedOperator, OperatorError, load_operator

__all__ = ["Runtime", "OperatorSlot", "split_inputs", "main"]

log = logging.getLogger("dora.runtime")

Publish = Callable[[str, Any, "dict | None"], None]


class OperatorSlot:
    """One operator in the runtime: its inputs, outputs and whether it still runs."""

    def __init__(self, runtime: Runtime, operator: LoadedOperator, inputs: dict[str, str],
                 outputs: list[str]):
        self.runtime = runtime
        self.operator = operator
        self.id = operator.id
        self.inputs = dict(inputs)  # local input id -> source
        self.outputs = list(outputs)
        self.data_inputs = {i for i, s in self.inputs.items() if not is_builtin_source(s)}
        self.open_inputs = set(self.data_inputs)
        self.done = False

    def send_output(self, output_id: str, data: Any = b"", metadata: dict | None = None) -> None:
        """The `send_output` an operator is given: operator-local output ids."""
        self.runtime.send(self, output_id, data, metadata)


class Runtime:
    """Routes a runtime node's events to its operators; no I/O of its own.

    `operators` is a list of (loaded operator, {local input: source}, [local outputs]);
    `publish(node_output_id, data, metadata)` sends on the node's output (`op/out`)."""

    def __init__(self, node_id: str,
                 operators: list[tuple[LoadedOperator, dict[str, str], list[str]]],
                 publish: Publish):
        self.node_id = node_id
        self.publish = publish
        self.slots: dict[str, OperatorSlot] = {}
        for operator, inputs, outputs in operators:
            self.slots[operator.id] = OperatorSlot(self, operator, inputs, outputs)
        # "<op>/<output>" -> [(consuming slot, its local input id)], inside this node
        self.internal: dict[str, list[tuple[OperatorSlot, str]]] = collections.defaultdict(list)
        for slot in self.slots.values():
            for local, source in slot.inputs.items():
                node, output = split_source(source)
                if node == node_id and not is_builtin_source(source):
                    self.internal[output].append((slot, local))
        self._pending: collections.deque[tuple[OperatorSlot, dict]] = collections.deque()

    @property
    def running(self) -> bool:
        return any(not slot.done for slot in self.slots.values())

    def handle(self, event: dict) -> bool:
        """Route one node event; False once every operator has finished."""
        kind = event.get("type")
        if kind == "STOP":
            self.stop_all(event.get("id") or "MANUAL")
            return False
        if kind in ("INPUT", "INPUT_CLOSED"):
            op_id, _, local = str(event.get("id", "")).partition("/")
            slot = self.slots.get(op_id)
            if slot is not None and local and not slot.done:
                self._deliver(slot, dict(event, id=local))
        elif kind in ("NODE_RESTARTED", "NODE_FAILED"):
            for slot in self.slots.values():
                if not slot.done and any(split_source(s)[0] == event.get("id")
                                         for s in slot.inputs.values()):
                    self._deliver(slot, _for_operator(event, slot.id))
        self._drain()
        return self.running

    def stop_all(self, reason: str = "MANUAL") -> None:
        """STOP to every operator still running (in descriptor order), then drop it."""
        for slot in self.slots.values():
            if not slot.done:
                self._finish(slot, f"stopped ({reason})", stop_event=reason)
                self._drain()

    def drop_all(self) -> None:
        """Drop every operator not dropped yet (exit path); the first error is raised."""
        first: OperatorError | None = None
        for slot in self.slots.values():
            slot.done = True
            try:
                slot.operator.drop()
            except OperatorError as exc:
                first = first or exc
        if first is not None:
            raise first

    # -- internals ------------------------------------------------------------------

    def send(self, slot: OperatorSlot, output_id: str, data: Any, metadata: dict | None) -> None:
        if output_id not in slot.outputs:
            declared = ", ".join(slot.outputs) or "none"
            raise ValueError(f"operator '{slot.id}' has no output '{output_id}' in the "
                             f"descriptor (declared: {declared})")
        if slot.done:
            raise RuntimeError(f"operator '{slot.id}' has finished; it cannot send any more")
        if isinstance(data, bytearray | memoryview):
            data = bytes(data)  # what the receivers get, and safe from later mutation
        name = f"{slot.id}/{output_id}"
        self.publish(name, data, metadata)
        consumers = self.internal.get(name)
        if consumers:
            # the same metadata a remote receiver would decode
            _, meta, _ = contract.decode_attachment(
                contract.encode_attachment(contract.KIND_BYTES, metadata))
            for consumer, local in consumers:
                self._pending.append((consumer, {"type": "INPUT", "id": local, "value": data,
                                                 "metadata": dict(meta), "kind": "dora"}))

    def _deliver(self, slot: OperatorSlot, event: dict) -> None:
        if event["type"] == "INPUT_CLOSED":
            slot.open_inputs.discard(event["id"])
        status = slot.operator.on_event(event, slot.send_output)
        if status is DoraStatus.STOP:
            self._finish(slot, "returned STOP")
        elif status is DoraStatus.STOP_ALL:
            self._finish(slot, "returned STOP_ALL")
            for other in self.slots.values():
                if not other.done:
                    self._finish(other, f"stopped (STOP_ALL from '{slot.id}')",
                                 stop_event="MANUAL")
        elif (event["type"] == "INPUT_CLOSED" and slot.data_inputs and not slot.open_inputs
              and not slot.done):
            self._finish(slot, "all inputs closed", stop_event="ALL_INPUTS_CLOSED")

    def _finish(self, slot: OperatorSlot, why: str, stop_event: str | None = None) -> None:
        if slot.done:
            return
        if stop_event is not None:
            slot.operator.on_event({"type": "STOP", "id": stop_event, "value": None,
                                    "metadata": {}, "kind": "dora"}, slot.send_output)
        slot.done = True
        slot.operator.drop()
        log.info("operator '%s' finished: %s", slot.id, why)
        for output_id in slot.outputs:
            for consumer, local in self.internal.get(f"{slot.id}/{output_id}", ()):
                self._pending.append((consumer, {"type": "INPUT_CLOSED", "id": local,
                                                 "value": None, "metadata": {},
                                                 "kind": "dora"}))

    def _drain(self) -> None:
        """Deliver what operators sent to operators of this node, in order, until none left."""
        while self._pending:
            slot, event = self._pending.popleft()
            if not slot.done:
                self._deliver(slot, event)


def split_inputs(node_id: str, inputs: dict[str, InputConfig]
                 ) -> tuple[dict[str, InputConfig], dict[str, InputConfig]]:
    """(inputs from elsewhere, inputs fed by this node's own operators)."""
    def internal(spec: InputConfig) -> bool:
        return not spec.is_builtin and spec.upstream[0] == node_id

    return ({k: v for k, v in inputs.items() if not internal(v)},
            {k: v for k, v in inputs.items() if internal(v)})


def display_path(path: str, base_dir: str | None) -> str:
    """The operator file as the descriptor most likely spelled it (relative to its folder)."""
    if base_dir:
        try:
            relative = os.path.relpath(path, base_dir)
        except ValueError:
            return path
        if not relative.startswith(".."):
            return relative
    return path


def _line_buffer_c_stdout() -> None:
    """printf in a C operator shows up line by line (stdout is a pipe, not a terminal)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        stdout = ctypes.c_void_p.in_dll(libc, "stdout")
        libc.setvbuf.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t]
        libc.setvbuf(stdout, None, 1, 0)  # _IOLBF
    except (OSError, ValueError, AttributeError):
        pass


def _run() -> int:
    try:
        config = contract.config_from_environ(os.environ)
    except contract.ContractError as exc:
        print(f"dora runtime: {exc}", file=sys.stderr, flush=True)
        return 2
    if config is None:
        print("dora runtime: must run inside a dataflow, as a node with `operators:` "
              f"({contract.CONFIG_ENV} is not set)", file=sys.stderr, flush=True)
        return 2
    node_id = config.node_id
    if not config.operators:
        print(f"dora runtime: node '{node_id}' has no operators", file=sys.stderr, flush=True)
        return 2
    # inputs fed by our own operators are delivered in-process: the node must not
    # subscribe to itself
    external, _ = split_inputs(node_id, config.inputs)
    _line_buffer_c_stdout()

    from dora_api.node import Node

    node = Node.from_config(contract.evolve(config, inputs=external))
    loaded: list[tuple[LoadedOperator, dict[str, str], list[str]]] = []
    runtime: Runtime | None = None
    try:
        for spec in config.operators:
            operator = load_operator(spec.id, spec.kind, spec.path,
                                     display_path(spec.path, config.base_dir))
            inputs = {local: config.inputs[f"{spec.id}/{local}"].source
                      for local in spec.inputs if f"{spec.id}/{local}" in config.inputs}
            loaded.append((operator, inputs, list(spec.outputs)))
        runtime = Runtime(node_id, loaded, node.send_output)
        log.debug("runtime node '%s' running %s", node_id,
                  ", ".join(spec.id for spec in config.operators))
        while runtime.running:
            event = node.next()
            if event is None:  # the stream ended without STOP (the node is closing)
                break
            runtime.handle(event)
    except BaseException:
        try:  # after an error, release the other operators too; the first error wins
            _drop_all(runtime, loaded)
        except OperatorError:
            pass
        raise
    _drop_all(runtime, loaded)  # every orderly exit drops each operator exactly once
    node.close()
    return 0


def _drop_all(runtime: Runtime | None, loaded: list) -> None:
    if runtime is not None:
        runtime.drop_all()
        return
    for operator, _, _ in loaded:
        operator.drop()


def _for_operator(event: dict, op_id: str) -> dict:
    """An event about an upstream node, as one operator sees it: NODE_FAILED names the
    operator's own (local) input ids."""
    event = dict(event)
    if event["type"] == "NODE_FAILED":
        affected = [name.partition("/")[2] for name in event["value"]["affected_input_ids"]
                    if name.partition("/")[0] == op_id]
        event["value"] = dict(event["value"], affected_input_ids=affected)
    return event


def main() -> int:
    verbose = os.environ.get("DORA_VERBOSE", "").lower() in ("1", "true", "yes", "on")
    try:
        return _run()
    except OperatorError as exc:
        if verbose:
            traceback.print_exception(exc.__cause__ or exc, file=sys.stderr)
        print(f"dora runtime: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback unless verbose
        if verbose:
            traceback.print_exc()
        print(f"dora runtime: internal error: {type(exc).__name__}: {exc}", file=sys.stderr,
              flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
