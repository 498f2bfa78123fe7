"""Only `dora_api.contract` builds or takes apart key expressions and control messages.

An AST scan of every other module of `dora_api` and `dora_supervisor` for the shapes the
contract replaced: keys split from the right, key literals, `{"t": ...}` message dicts,
notes split on a space, the log mark, the env variable names, hand-made markers. The
scanner is itself tested on the code it replaced, so it cannot pass by finding nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "dora_api" / "contract"
SCANNED = sorted(path for package in ("dora_api", "dora_supervisor")
                 for path in (ROOT / package).rglob("*.py") if CONTRACT not in path.parents)

_CONTROL_SEGMENT = re.compile(r"(?:^|/)(?:alive|finished|ack|to|coordinator)/"
                              r"|/(?:alive|finished|ack|to|coordinator)$")
_CONTRACT_LITERALS = ("dora-ctl", "dora_log", "DORA_NODE_CONFIG", "DORA_CONTROL_FD",
                      "DORA_PARENT_PID", "DORA_WATCHDOG_FD", "DORA_LEDGER")
_NAMESPACE_HEADS = ("dora/", "dora-ctl/")


def violations(source: str) -> list[str]:
    """What in `source` formats or parses a key, a control message or a note itself."""
    found = []

    def say(node: ast.AST, what: str) -> None:
        found.append(f"line {node.lineno}: {what}")

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            first = node.args[0] if node.args else None
            separator = first.value if isinstance(first, ast.Constant) else None
            if node.func.attr in ("rsplit", "rpartition") and separator == "/":
                say(node, f"a key taken apart with {node.func.attr}('/')")
            elif node.func.attr in ("partition", "split") and separator == " ":
                say(node, f"a note taken apart with {node.func.attr}(' ')")
            elif node.func.attr == "get" and separator == "t":
                say(node, "a control message read as a dict")
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and node.slice.value == "t":
            say(node, "a control message read as a dict")
        elif isinstance(node, ast.Dict) and any(
                isinstance(key, ast.Constant) and key.value == "t" for key in node.keys):
            say(node, "a control message built as a dict")
        elif isinstance(node, ast.Attribute) and node.attr == "KIND_FLUSH":
            say(node, "an end-of-stream marker made by hand")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if any(literal in node.value for literal in _CONTRACT_LITERALS):
                say(node, f"a contract literal in {node.value!r}")
            elif _CONTROL_SEGMENT.search(node.value):
                say(node, f"a control key segment in {node.value!r}")
        elif isinstance(node, ast.JoinedStr):
            for part, after in zip(node.values, node.values[1:], strict=False):
                if (isinstance(part, ast.Constant) and isinstance(after, ast.FormattedValue)
                        and str(part.value).endswith(_NAMESPACE_HEADS)):
                    say(node, f"a key built from {part.value!r}")
    return found


@pytest.mark.parametrize("path", SCANNED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_outside_the_contract_speaks_the_wire_itself(path):
    assert violations(path.read_text()) == []


def test_the_scan_covers_both_packages_but_not_the_contract():
    names = {str(path.relative_to(ROOT)) for path in SCANNED}
    assert {"dora_api/node.py", "dora_api/runtime.py", "dora_supervisor/dataflow_runtime.py",
            "dora_supervisor/zenoh_link.py", "dora_supervisor/process.py"} <= names
    assert not any(name.startswith("dora_api/contract/") for name in names)


@pytest.mark.parametrize("code", [
    '_, node, incarnation = str(sample.key_expr).rsplit("/", 2)',
    'node = key.rpartition("/")[0]',
    'self.link.tell("all", {"t": "restarted", "node": action.node})',
    'kind = message.get("t")',
    'if message["t"] == "stop": pass',
    'kind, _, _ = note.partition(" ")',
    'kind, number = line.split(" ")',
    'self.data = f"{base}dora/{dataflow_id}"',
    'key = f"{prefix}/dora-ctl/{uuid}/to/{node}"',
    'key = f"{self.ctl}/alive/{node}/{incarnation}"',
    'key = ns.ctl + "/finished/" + node',
    'watch = "lab/dora-ctl/u/alive/*/*"',
    'token = base + "/coordinator"',
    'LOG_MARK = \'{"dora_log":\'',
    'raw = os.environ.get("DORA_NODE_CONFIG")',
    'os.environ["DORA_CONTROL_FD"] = str(fd)',
    'marker = bytes((wire.KIND_FLUSH,)) + str(incarnation).encode()',
])
def test_the_scan_finds_what_the_contract_replaced(code):
    assert violations(code), code


@pytest.mark.parametrize("code", [
    'op_id, label = spec.id.split("/", 1)',
    'node, output = source.partition("/")',
    'print("start the background coordinator")',
    'problem(f"unknown built-in input {s!r} (only timers: dora/timer/...)")',
    'note = contract.decode_note(line)',
    'self.link.send_stop(action.node)',
    'event = {"type": "STOP", "id": "MANUAL"}',
    'path = f"{rundir}/{slot}.sock"',
])
def test_the_scan_leaves_ordinary_code_alone(code):
    assert violations(code) == []
