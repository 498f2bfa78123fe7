"""The decision modules stay pure: no clock, processes, signals, files or network."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "dora_supervisor"
PURE = ["errors", "units", "yamlsrc", "descriptor", "keys", "parse", "validate", "graph", "policy",
        "parse_node", "parse_values", "schema", "tree_model", "tree", "tree_stop", "tree_restart",
        "tree_machines",
        "tree_view", "samples", "health", "health_rules", "node_output", "log_routing",
        "keytable", "module_keys", "modules", "control_protocol",
        "control_select", "status_render", "delivery"]
FORBIDDEN = {"asyncio", "os", "signal", "subprocess", "time", "zenoh", "psutil", "socket",
             "threading", "random", "shutil", "pathlib", "io"}


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_nothing_that_does_io(module):
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
            if node.module.startswith("dora_supervisor."):
                assert node.module.split(".")[1] in PURE, f"{module} imports {node.module}"
    assert not imported & FORBIDDEN, f"{module} imports {sorted(imported & FORBIDDEN)}"
