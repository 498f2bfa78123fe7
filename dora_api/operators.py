"""Operators: Python classes and C-ABI shared libraries run inside a runtime node.

Both kinds load behind one small interface, `LoadedOperator`:

- `on_event(event, send_output) -> DoraStatus` handles one event whose `id` is already
  operator-local (`time`, not `op/time`); `send_output(output_id, data=b"", metadata=None)`
  takes the operator-local output id.
- `drop()` releases the operator (`dora_drop_operator` for a shared library); idempotent.

Everything an operator does wrong (a missing symbol, a failing `dora_init_operator`, a
non-zero return, an exception) comes out as `OperatorError`, whose message names the
operator and its file in one line. The original exception, if any, is its `__cause__`.

Python operators: a module with `class Operator`, instantiated once with no arguments, and
either `on_event(event, send_output)` (dora-rs) or `on_input(input_id, value, send_output)`
(the original form; it only sees INPUT events). Returning `None` means CONTINUE.

Shared libraries: `dora_api/include/operator_api.h`; only INPUT events reach them.
"""

from __future__ import annotations

import ctypes
import enum
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from dora_api import DoraStatus

__all__ = ["OperatorError", "LoadedOperator", "PythonOperator", "SharedLibraryOperator",
           "load_operator", "to_status", "SYMBOLS"]

SendOutput = Callable[..., None]

SYMBOLS = ("dora_init_operator", "dora_drop_operator", "dora_on_input")

# int (*)(const char *id, unsigned id_len, const char *data, unsigned data_len, const void *)
OUTPUT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p,
                             ctypes.c_uint, ctypes.c_void_p)


class OperatorError(Exception):
    """An operator failed; `str()` is a one-line message naming the operator and file."""

    def __init__(self, operator_id: str, path: str, message: str):
        super().__init__(f"operator '{operator_id}' ({path}): {message}")
        self.operator_id = operator_id
        self.path = path
        self.message = message


def to_status(result: Any) -> DoraStatus:
    """What an operator call returned, as a DoraStatus (None and 0 mean CONTINUE).

    Accepts any enum named like DoraStatus (e.g. the one from dora-rs's `dora` package)."""
    if result is None:
        return DoraStatus.CONTINUE
    if isinstance(result, DoraStatus):
        return result
    if isinstance(result, enum.Enum) and result.name in DoraStatus.__members__:
        return DoraStatus[result.name]
    if isinstance(result, int) and not isinstance(result, bool):
        try:
            return DoraStatus(result)
        except ValueError:
            pass
    raise TypeError(f"expected a DoraStatus (CONTINUE, STOP or STOP_ALL) or None, "
                    f"got {result!r}")


class LoadedOperator:
    """The interface the runtime uses; see the module docstring."""

    kind = "?"

    def __init__(self, operator_id: str, path: str, display_path: str | None = None):
        self.id = operator_id
        self.path = path
        self.display_path = display_path or path
        self.dropped = False

    def error(self, message: str) -> OperatorError:
        return OperatorError(self.id, self.display_path, message)

    def on_event(self, event: dict, send_output: SendOutput) -> DoraStatus:
        raise NotImplementedError

    def drop(self) -> None:
        self.dropped = True


class PythonOperator(LoadedOperator):
    """A `class Operator` from a Python file, dora-rs (`on_event`) or original (`on_input`)."""

    kind = "python"

    def __init__(self, operator_id: str, path: str, display_path: str | None = None):
        super().__init__(operator_id, path, display_path)
        module_name = "dora_operator_" + "".join(c if c.isalnum() else "_" for c in operator_id)
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise self.error("not a Python file that can be imported")
            module = importlib.util.module_from_spec(spec)
            folder = os.path.dirname(os.path.abspath(path))
            if folder not in sys.path:
                sys.path.insert(0, folder)  # sibling modules import as in dora-rs
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except OperatorError:
            raise
        except FileNotFoundError as exc:
            raise self.error("file not found") from exc
        except BaseException as exc:  # noqa: BLE001 - SystemExit from a module is an error too
            raise self._wrap("importing the module", exc) from exc
        cls = getattr(module, "Operator", None)
        if not isinstance(cls, type):
            raise self.error("no class 'Operator' in the module")
        self._on_event = getattr(cls, "on_event", None)
        self._on_input = getattr(cls, "on_input", None)
        if not callable(self._on_event) and not callable(self._on_input):
            raise self.error("class 'Operator' has neither on_event(event, send_output) nor "
                             "on_input(input_id, value, send_output)")
        try:
            self.instance = cls()
        except BaseException as exc:  # noqa: BLE001
            raise self._wrap("Operator()", exc) from exc
        self.form = "dora-rs" if callable(self._on_event) else "original"

    def on_event(self, event: dict, send_output: SendOutput) -> DoraStatus:
        if self.form == "dora-rs":
            method = "on_event"
        elif event["type"] == "INPUT":
            method = "on_input"
        else:
            return DoraStatus.CONTINUE  # the original form only sees inputs
        try:
            if method == "on_event":
                result = self.instance.on_event(event, send_output)
            else:
                result = self.instance.on_input(event["id"], event["value"], send_output)
        except BaseException as exc:  # noqa: BLE001
            raise self._wrap(method, exc) from exc
        try:
            return to_status(result)
        except TypeError as exc:
            raise self.error(f"{method} returned {result!r}; expected a DoraStatus or None") \
                from exc

    def drop(self) -> None:
        if self.dropped:
            return
        self.dropped = True
        self.__dict__.pop("instance", None)  # the last reference: __del__ runs now

    def _wrap(self, where: str, exc: BaseException) -> OperatorError:
        """One line: what raised, the exception, and the innermost line in the operator file."""
        if isinstance(exc, OperatorError):
            return exc
        detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        location = ""
        if isinstance(exc, SyntaxError):
            location = f" (line {exc.lineno})" if exc.lineno else ""
        else:
            frames = [f for f in traceback.extract_tb(exc.__traceback__)
                      if os.path.abspath(f.filename) == os.path.abspath(self.path)]
            if frames:
                location = f" (line {frames[-1].lineno})"
        verb = "failed:" if where == "importing the module" else "raised"
        return self.error(f"{where} {verb} {text.splitlines()[0]}{location}")


class SharedLibraryOperator(LoadedOperator):
    """A shared library exporting the C ABI of `dora_api/include/operator_api.h`."""

    kind = "shared-library"

    def __init__(self, operator_id: str, path: str, display_path: str | None = None):
        super().__init__(operator_id, path, display_path)
        self._context = ctypes.c_void_p()
        self._initialized = False
        if not os.path.exists(path):
            raise self.error("file not found")
        try:
            self._lib = ctypes.CDLL(os.path.abspath(path))
        except OSError as exc:
            raise self.error(f"cannot load the shared library: {exc}") from exc
        functions = {}
        for name in SYMBOLS:
            try:
                functions[name] = getattr(self._lib, name)
            except AttributeError:
                raise self.error(f"missing symbol {name}") from None
        self._init = functions["dora_init_operator"]
        self._init.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        self._init.restype = ctypes.c_int
        self._drop = functions["dora_drop_operator"]
        self._drop.argtypes = [ctypes.c_void_p]
        self._drop.restype = None
        self._on_input = functions["dora_on_input"]
        self._on_input.argtypes = [ctypes.c_char_p, ctypes.c_uint, ctypes.c_char_p,
                                   ctypes.c_uint, OUTPUT_FN, ctypes.c_void_p, ctypes.c_void_p]
        self._on_input.restype = ctypes.c_int
        # The callback stays alive as long as the operator; it sends through whatever
        # `send_output` the current `on_event` call was given.
        self._send: SendOutput | None = None
        self._send_error: BaseException | None = None
        self._output_fn = OUTPUT_FN(self._output)
        self._output_ctx = ctypes.c_void_p(id(self))  # opaque, never dereferenced by C
        code = self._init(ctypes.byref(self._context))
        if code != 0:
            raise self.error(f"dora_init_operator failed (returned {code})")
        self._initialized = True

    def _output(self, id_ptr, id_len, data_ptr, data_len, _ctx) -> int:
        """The `dora_output_fn` handed to C: never lets an exception cross into C."""
        try:
            if self._send is None:
                raise RuntimeError("output_fn called outside dora_on_input")
            output_id = ctypes.string_at(id_ptr, id_len).decode()
            data = ctypes.string_at(data_ptr, data_len) if data_len else b""
            self._send(output_id, data)
            return 0
        except BaseException as exc:  # noqa: BLE001
            if self._send_error is None:
                self._send_error = exc
            return 1

    def on_event(self, event: dict, send_output: SendOutput) -> DoraStatus:
        if event["type"] != "INPUT":
            return DoraStatus.CONTINUE
        if self.dropped:
            raise self.error("dora_on_input called after dora_drop_operator")
        input_id = event["id"].encode()
        data = _as_bytes(event["value"])
        self._send, self._send_error = send_output, None
        try:
            code = self._on_input(input_id, len(input_id), data, len(data), self._output_fn,
                                  self._output_ctx, self._context)
        finally:
            self._send = None
        if self._send_error is not None:
            exc, self._send_error = self._send_error, None
            raise self.error(f"output_fn failed: {type(exc).__name__}: {exc}") from exc
        if code != 0:
            raise self.error(f"dora_on_input returned {code} for input '{event['id']}'")
        return DoraStatus.CONTINUE

    def drop(self) -> None:
        if self.dropped:
            return
        self.dropped = True
        if self._initialized:
            self._drop(self._context)


def _as_bytes(value: Any) -> bytes:
    """A C operator gets raw bytes; a pyarrow array is passed as its IPC encoding."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if value is None:
        return b""
    from dora_api import contract

    return contract.encode_arrow_ipc(value)


def load_operator(operator_id: str, kind: str, path: str,
                  display_path: str | None = None) -> LoadedOperator:
    """Load (and initialise) one operator; raises OperatorError naming it on any failure."""
    if kind == "python":
        return PythonOperator(operator_id, path, display_path)
    if kind == "shared-library":
        return SharedLibraryOperator(operator_id, path, display_path)
    raise OperatorError(operator_id, display_path or path, f"unsupported operator kind {kind!r}")
