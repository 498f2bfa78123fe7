"""Operators without a dataflow: loading Python and C operators, the runtime's routing."""

from __future__ import annotations

import enum
import textwrap
from pathlib import Path

import pytest

from dora_api import DoraStatus
from dora_api.contract import InputConfig
from dora_api.operators import (
    LoadedOperator,
    OperatorError,
    PythonOperator,
    SharedLibraryOperator,
    load_operator,
    to_status,
)
from dora_api.runtime import Runtime, display_path, split_inputs
from tests.conftest import ROOT, compile_c


def python_operator(tmp_path: Path, source: str, op_id: str = "op") -> PythonOperator:
    path = tmp_path / f"{op_id}.py"
    path.write_text(textwrap.dedent(source))
    return load_operator(op_id, "python", str(path), path.name)


def event(kind: str, input_id: str = "in", value=b"", **extra) -> dict:
    return {"type": kind, "id": input_id, "value": value, "metadata": {}, "kind": "dora",
            **extra}


class Sent(list):
    def __call__(self, output_id, data=b"", metadata=None):
        self.append((output_id, data, metadata))


# -- Python operators ---------------------------------------------------------------------

def test_dora_rs_form_gets_every_event_and_returns_its_status(tmp_path):
    op = python_operator(tmp_path, """
        from dora_api import DoraStatus

        class Operator:
            def __init__(self):
                self.events = []

            def on_event(self, dora_event, send_output):
                self.events.append((dora_event["type"], dora_event["id"]))
                if dora_event["type"] == "INPUT":
                    send_output("out", dora_event["value"] + b"!", {"n": 1})
                    if dora_event["value"] == b"last":
                        return DoraStatus.STOP
                return DoraStatus.CONTINUE
    """)
    sent = Sent()
    assert op.form == "dora-rs"
    assert op.on_event(event("INPUT", value=b"a"), sent) is DoraStatus.CONTINUE
    assert op.on_event(event("INPUT_CLOSED"), sent) is DoraStatus.CONTINUE
    assert op.on_event(event("INPUT", value=b"last"), sent) is DoraStatus.STOP
    assert sent == [("out", b"a!", {"n": 1}), ("out", b"last!", {"n": 1})]
    assert op.instance.events == [("INPUT", "in"), ("INPUT_CLOSED", "in"), ("INPUT", "in")]
    op.drop()
    op.drop()  # idempotent
    assert op.dropped and not hasattr(op, "instance")


def test_original_form_sees_inputs_only_and_none_means_continue(tmp_path):
    op = python_operator(tmp_path, """
        class Operator:
            calls = []

            def on_input(self, input_id, value, send_output):
                self.calls.append(input_id)
                send_output("echo", value)
    """)
    sent = Sent()
    assert op.form == "original"
    assert op.on_event(event("INPUT", "time", b"1.5"), sent) is DoraStatus.CONTINUE
    assert op.on_event(event("INPUT_CLOSED", "time"), sent) is DoraStatus.CONTINUE
    assert op.on_event(event("STOP", "MANUAL"), sent) is DoraStatus.CONTINUE
    assert op.instance.calls == ["time"]
    assert sent == [("echo", b"1.5", None)]


def test_the_shipped_python_examples_load(tmp_path):
    folder = ROOT / "examples" / "python-operator"
    rs = load_operator("op-py", "python", str(folder / "op.py"))
    orig = load_operator("op-orig", "python", str(folder / "original_op.py"))
    assert (rs.form, orig.form) == ("dora-rs", "original")
    sent = Sent()
    rs.on_event(event("INPUT", "counter", b"7"), sent)
    rs.on_event(event("INPUT", "time", b"1.0"), sent)
    orig.on_event(event("INPUT", "time", b"1.0"), sent)
    assert sent[0][:2] == ("status", b"1 time messages, C counter at 7")
    assert sent[1][0] == "latency" and sent[1][1].endswith(b"ms")


class ForeignStatus(enum.Enum):  # e.g. dora-rs's own `dora.DoraStatus`
    CONTINUE = 0
    STOP = 1
    STOP_ALL = 2


@pytest.mark.parametrize("result, status", [
    (None, DoraStatus.CONTINUE), (DoraStatus.STOP, DoraStatus.STOP), (0, DoraStatus.CONTINUE),
    (1, DoraStatus.STOP), (2, DoraStatus.STOP_ALL), (ForeignStatus.STOP, DoraStatus.STOP),
    (ForeignStatus.CONTINUE, DoraStatus.CONTINUE)])
def test_status_values(result, status):
    assert to_status(result) is status


@pytest.mark.parametrize("result", ["STOP", 7, True, 1.0])
def test_unknown_status_is_an_error(result):
    with pytest.raises(TypeError):
        to_status(result)


def test_a_bad_return_value_names_the_operator(tmp_path):
    op = python_operator(tmp_path, """
        class Operator:
            def on_event(self, event, send_output):
                return "continue"
    """)
    with pytest.raises(OperatorError, match=r"^operator 'op' \(op.py\): on_event returned "
                                            r"'continue'; expected a DoraStatus or None$"):
        op.on_event(event("INPUT"), Sent())


def test_an_exception_is_one_line_naming_operator_file_and_line(tmp_path):
    op = python_operator(tmp_path, """
        class Operator:
            def on_event(self, event, send_output):
                helper()

        def helper():
            raise ValueError("boom\\nsecond line")
    """, op_id="op-bad")
    with pytest.raises(OperatorError) as caught:
        op.on_event(event("INPUT"), Sent())
    assert str(caught.value) == ("operator 'op-bad' (op-bad.py): on_event raised "
                                 "ValueError: boom (line 7)")
    assert isinstance(caught.value.__cause__, ValueError)


@pytest.mark.parametrize("source, message", [
    ("x = 1\n", "no class 'Operator' in the module"),
    ("class Operator:\n    pass\n", "class 'Operator' has neither on_event(event, send_output) "
                                     "nor on_input(input_id, value, send_output)"),
    ("class Operator:\n  def on_event(self, e, s)\n", "importing the module failed: "
                                                     "SyntaxError: expected ':' (line 2)"),
    ("import no_such_module_here\n", "importing the module failed: ModuleNotFoundError: No "
                                     "module named 'no_such_module_here' (line 1)"),
    ("class Operator:\n  def __init__(self):\n    raise RuntimeError('init')\n"
     "  def on_event(self, e, s): pass\n", "Operator() raised RuntimeError: init (line 3)"),
])
def test_a_broken_python_operator_fails_to_load_with_one_line(tmp_path, source, message):
    path = tmp_path / "broken.py"
    path.write_text(source)
    with pytest.raises(OperatorError) as caught:
        load_operator("op", "python", str(path), "broken.py")
    assert str(caught.value) == f"operator 'op' (broken.py): {message}"


def test_sibling_modules_of_a_python_operator_import(tmp_path):
    (tmp_path / "helper_mod_for_op.py").write_text("VALUE = b'from helper'\n")
    op = python_operator(tmp_path, """
        import helper_mod_for_op

        class Operator:
            def on_event(self, event, send_output):
                send_output("out", helper_mod_for_op.VALUE)
    """)
    sent = Sent()
    op.on_event(event("INPUT"), sent)
    assert sent == [("out", b"from helper", None)]


def test_missing_file_and_unknown_kind(tmp_path):
    with pytest.raises(OperatorError, match="file not found"):
        load_operator("op", "python", str(tmp_path / "nope.py"))
    with pytest.raises(OperatorError, match="file not found"):
        load_operator("op", "shared-library", str(tmp_path / "nope.so"))
    with pytest.raises(OperatorError, match="unsupported operator kind 'wasm'"):
        load_operator("op", "wasm", str(tmp_path / "x.wasm"))


# -- C operators (ctypes) -----------------------------------------------------------------

C_BODY = """
    #include "operator_api.h"
    #include <stdlib.h>
    #include <string.h>

    static int drops = 0;
    int dropped(void) { return drops; }

    int dora_init_operator(void **ctx) { *ctx = calloc(1, sizeof(int)); return INIT_CODE; }
    void dora_drop_operator(void *ctx) { drops++; free(ctx); }
    int dora_on_input(const char *id, unsigned int id_len, const char *data,
                      unsigned int data_len, dora_output_fn output_fn, void *output_context,
                      const void *ctx)
    {
        int *count = (int *)ctx;
        *count += 1;
        if (id_len == 4 && memcmp(id, "fail", 4) == 0) return 5;
        const char *out = id_len == 5 && memcmp(id, "wrong", 5) == 0 ? "nope" : "out";
        /* echo the input with its id in front, binary-safe */
        char buffer[256];
        memcpy(buffer, id, id_len);
        memcpy(buffer + id_len, data, data_len);
        return output_fn(out, strlen(out), buffer, id_len + data_len, output_context) ? 9 : 0;
    }
"""


@pytest.mark.timeout(60)
def test_c_operator_init_input_output_and_drop(tmp_path):
    library = compile_c(C_BODY.replace("INIT_CODE", "0"), tmp_path)
    op = load_operator("op-c", "shared-library", str(library), "op.so")
    assert isinstance(op, SharedLibraryOperator)
    sent = Sent()

    def send(output_id, data=b"", metadata=None):
        if output_id != "out":
            raise ValueError(f"no output '{output_id}'")
        sent(output_id, data, metadata)

    assert op.on_event(event("INPUT", "in", b"a\x00b"), send) is DoraStatus.CONTINUE
    assert op.on_event(event("INPUT_CLOSED", "in"), send) is DoraStatus.CONTINUE
    assert op.on_event(event("INPUT", "x", b""), send) is DoraStatus.CONTINUE
    assert sent == [("out", b"ina\x00b", None), ("out", b"x", None)]
    with pytest.raises(OperatorError, match=r"^operator 'op-c' \(op.so\): dora_on_input "
                                            r"returned 5 for input 'fail'$"):
        op.on_event(event("INPUT", "fail"), send)
    with pytest.raises(OperatorError, match=r"output_fn failed: ValueError: no output 'nope'"):
        op.on_event(event("INPUT", "wrong"), send)
    assert op._lib.dropped() == 0
    op.drop()
    op.drop()
    assert op._lib.dropped() == 1  # exactly once


@pytest.mark.timeout(60)
def test_c_operator_init_failure_and_missing_symbol(tmp_path):
    library = compile_c(C_BODY.replace("INIT_CODE", "3"), tmp_path, "init")
    with pytest.raises(OperatorError) as caught:
        load_operator("op-c", "shared-library", str(library), "init.so")
    assert str(caught.value) == "operator 'op-c' (init.so): dora_init_operator failed " \
                                "(returned 3)"
    library = compile_c("""
        int dora_init_operator(void **ctx) { *ctx = 0; return 0; }
    """, tmp_path, "partial")
    with pytest.raises(OperatorError) as caught:
        load_operator("op-c", "shared-library", str(library), "partial.so")
    assert str(caught.value) == "operator 'op-c' (partial.so): missing symbol dora_drop_operator"
    not_a_library = tmp_path / "text.so"
    not_a_library.write_text("hello")
    with pytest.raises(OperatorError, match=r"cannot load the shared library"):
        load_operator("op-c", "shared-library", str(not_a_library))


@pytest.mark.timeout(60)
def test_header_accepts_operators_written_for_the_original_dora_api(tmp_path):
    """The original dora examples spell the callback `const int (*output_fn_raw)(...)`."""
    compile_c("""
        #include "operator_api.h"
        int dora_init_operator(void **operator_context) { *operator_context = 0; return 0; }
        void dora_drop_operator(void *operator_context) { (void)operator_context; }
        int dora_on_input(
            const char *id_start, unsigned int id_len, const char *data_start,
            unsigned int data_len,
            const int (*output_fn_raw)(const char *id_start, unsigned int id_len,
                                       const char *data_start, unsigned int data_len,
                                       const void *output_context),
            void *output_context, const void *operator_context)
        {
            (void)operator_context;
            return output_fn_raw(id_start, id_len, data_start, data_len, output_context);
        }
    """, tmp_path, "original")


@pytest.mark.timeout(60)
def test_the_c_example_counts(tmp_path):
    library = compile_c((ROOT / "examples" / "c-operator" / "operator.c").read_text(), tmp_path)
    op = load_operator("op-c", "shared-library", str(library))
    sent = Sent()
    for _ in range(3):
        op.on_event(event("INPUT", "time", b"123.0"), sent)
    op.on_event(event("INPUT", "other", b""), sent)
    assert [data for _, data, _ in sent] == [b"1", b"2", b"3"]
    op.drop()


# -- the runtime's routing ----------------------------------------------------------------

class FakeOperator(LoadedOperator):
    """Records events; `script` maps an input value to (outputs to send, status)."""

    kind = "fake"

    def __init__(self, op_id, script=None):
        super().__init__(op_id, f"/ops/{op_id}.py", f"{op_id}.py")
        self.events: list[tuple] = []
        self.script = script or {}
        self.drops = 0

    def on_event(self, event, send_output):
        self.events.append((event["type"], event["id"], event.get("value")))
        outputs, status = self.script.get(event.get("value"), ([("out", event.get("value"))]
                                                              if event["type"] == "INPUT"
                                                              else [], None)) \
            if event["type"] != "NODE_FAILED" else ([], None)
        for output_id, data in outputs:
            send_output(output_id, data)
        return status or DoraStatus.CONTINUE

    def drop(self):
        if not self.dropped:
            self.drops += 1
        super().drop()


def make_runtime(*specs):
    published = []
    runtime = Runtime("rt", [(op, inputs, outputs) for op, inputs, outputs in specs],
                      lambda name, data, metadata: published.append((name, data)))
    return runtime, published


def test_inputs_are_routed_by_operator_and_outputs_are_prefixed():
    a, b = FakeOperator("a"), FakeOperator("b")
    runtime, published = make_runtime((a, {"x": "up/x"}, ["out"]), (b, {"x": "up/x"}, ["out"]))
    assert runtime.handle(event("INPUT", "a/x", b"1"))
    assert runtime.handle(event("INPUT", "b/x", b"2"))
    assert runtime.handle(event("INPUT", "nobody/x", b"3"))  # ignored
    assert a.events == [("INPUT", "x", b"1")]
    assert b.events == [("INPUT", "x", b"2")]
    assert published == [("a/out", b"1"), ("b/out", b"2")]


def test_node_failed_reaches_the_operators_fed_by_that_node_with_their_own_input_ids():
    a, b, c = FakeOperator("a"), FakeOperator("b"), FakeOperator("c")
    runtime, _ = make_runtime((a, {"x": "up/x", "y": "up/y"}, ["out"]),
                              (b, {"x": "other/x"}, ["out"]), (c, {"x": "up/z"}, ["out"]))
    details = {"source_node_id": "up", "error": "exited with code 3",
               "affected_input_ids": ["a/x", "a/y", "c/x"]}
    assert runtime.handle(event("NODE_FAILED", "up", details, error="exited with code 3"))
    assert a.events == [("NODE_FAILED", "up", dict(details, affected_input_ids=["x", "y"]))]
    assert b.events == []
    assert c.events == [("NODE_FAILED", "up", dict(details, affected_input_ids=["x"]))]


def test_an_undeclared_output_is_an_error():
    a = FakeOperator("a", {b"1": ([("nope", b"")], None)})
    runtime, _ = make_runtime((a, {"x": "up/x"}, ["out"]))
    with pytest.raises(ValueError, match="operator 'a' has no output 'nope'"):
        runtime.handle(event("INPUT", "a/x", b"1"))


def test_an_operator_returning_stop_is_dropped_and_the_node_ends_with_the_last():
    a = FakeOperator("a", {b"stop": ([], DoraStatus.STOP)})
    b = FakeOperator("b", {b"stop": ([], DoraStatus.STOP)})
    runtime, _ = make_runtime((a, {"x": "up/x"}, ["out"]), (b, {"t": "dora/timer/millis/5"}, []))
    assert runtime.handle(event("INPUT", "a/x", b"stop"))
    assert a.drops == 1 and runtime.running
    assert runtime.handle(event("INPUT", "a/x", b"late"))  # a has finished: ignored
    assert a.events == [("INPUT", "x", b"stop")]
    assert not runtime.handle(event("INPUT", "b/t", b"stop"))
    assert b.drops == 1 and not runtime.running
    runtime.drop_all()
    assert (a.drops, b.drops) == (1, 1)


def test_closed_inputs_finish_an_operator_with_a_stop_event():
    a = FakeOperator("a")
    timer_only = FakeOperator("t")
    runtime, _ = make_runtime((a, {"x": "up/x", "y": "up/y", "tick": "dora/timer/secs/1"},
                               ["out"]),
                              (timer_only, {"tick": "dora/timer/secs/1"}, []))
    runtime.handle(event("INPUT_CLOSED", "a/x", None))
    assert a.drops == 0
    runtime.handle(event("INPUT_CLOSED", "a/y", None))
    assert a.events[-2:] == [("INPUT_CLOSED", "y", None), ("STOP", "ALL_INPUTS_CLOSED", None)]
    assert a.drops == 1
    assert runtime.running  # the timer-only operator runs until STOP
    assert not runtime.handle(event("STOP", "MANUAL", None))
    assert timer_only.events == [("STOP", "MANUAL", None)] and timer_only.drops == 1


def test_operator_to_operator_is_in_process_in_order_and_closes_with_its_source():
    source = FakeOperator("src", {b"bye": ([("out", b"last")], DoraStatus.STOP)})
    sink = FakeOperator("sink")
    runtime, published = make_runtime(
        (source, {"x": "up/x"}, ["out"]),
        (sink, {"from_src": "rt/src/out", "other": "up/y"}, ["out"]))
    runtime.handle(event("INPUT", "src/x", b"1"))
    runtime.handle(event("INPUT", "src/x", b"2"))
    runtime.handle(event("INPUT", "src/x", b"bye"))
    assert sink.events == [("INPUT", "from_src", b"1"), ("INPUT", "from_src", b"2"),
                           ("INPUT", "from_src", b"last"), ("INPUT_CLOSED", "from_src", None)]
    # still published for the rest of the dataflow
    assert published[:3] == [("src/out", b"1"), ("sink/out", b"1"), ("src/out", b"2")]
    assert runtime.running and sink.drops == 0
    runtime.handle(event("INPUT_CLOSED", "sink/other", None))
    assert sink.drops == 1 and not runtime.running


def test_stop_all_finishes_every_operator():
    a = FakeOperator("a", {b"all": ([], DoraStatus.STOP_ALL)})
    b = FakeOperator("b")
    runtime, _ = make_runtime((a, {"x": "up/x"}, []), (b, {"x": "up/x"}, ["out"]))
    assert not runtime.handle(event("INPUT", "a/x", b"all"))
    assert b.events == [("STOP", "MANUAL", None)]
    assert (a.drops, b.drops) == (1, 1)


def test_split_inputs_and_display_path():
    inputs = {input_id: InputConfig(source, None, "backpressure") for input_id, source in {
        "op-a/t": "timer/time", "op-b/c": "rt/op-a/out", "op-b/d": "rt2/x/out",
        "op-b/e": "dora/timer/secs/1"}.items()}
    external, internal = split_inputs("rt", inputs)
    assert set(internal) == {"op-b/c"}
    assert set(external) == {"op-a/t", "op-b/d", "op-b/e"}
    assert display_path("/df/c-operator/operator.so", "/df") == "c-operator/operator.so"
    assert display_path("/elsewhere/op.so", "/df") == "/elsewhere/op.so"
    assert display_path("/elsewhere/op.so", None) == "/elsewhere/op.so"
