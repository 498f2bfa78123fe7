"""Nothing above the executor seam touches a process: a remote executor must be able to
replace the local one without a change above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "dora_supervisor"
# the local executor, what it uses, and the daemon that runs one per dataflow on its machine
BELOW = {"process", "local_executor", "sampler", "cgroups", "cgroup_node", "watchdog_page",
         "daemon", "shm_cleanup", "stop_watch"}
ABOVE = ["coordinator", "dataflow_runtime", "executor", "health", "health_rules", "samples",
         "node_output", "launch", "zenoh_link", "tree", "tree_model", "tree_stop", "tree_restart",
         "tree_view", "policy", "logs", "log_routing", "control_service", "control_server",
         "background", "delivery", "machine_executor", "daemon_hub", "network", "tree_machines"]
# The coordinator picks the default executor: the one place that names it.
MAY_NAME_THE_LOCAL_EXECUTOR = {"coordinator"}


def violations(source: str, may_name: set[str] = frozenset()) -> list[str]:
    """What in `source` reaches below the seam: process, psutil, /proc."""
    found = []
    below = BELOW - may_name
    tree = ast.parse(source)
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "psutil" or (parts[0] == "dora_supervisor"
                                            and len(parts) > 1 and parts[1] in below):
                    found.append(f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            names = {alias.name for alias in node.names}
            if parts[0] == "psutil" or (parts[0] == "dora_supervisor" and (
                    (len(parts) > 1 and parts[1] in below) or names & below)):
                found.append(f"from {node.module} import {', '.join(sorted(names))}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and "/proc" in node.value and id(node) not in docstrings:
            found.append(f"reads {node.value!r}")
    return found


@pytest.mark.parametrize("module", ABOVE)
def test_modules_above_the_seam_never_reach_a_process(module):
    source = (PACKAGE / f"{module}.py").read_text()
    may_name = BELOW & {"local_executor"} if module in MAY_NAME_THE_LOCAL_EXECUTOR else set()
    assert violations(source, may_name) == [], module


def test_every_module_is_placed_above_or_below_the_seam():
    """A new module must say where it stands (CLI-side helpers are neither)."""
    cli_side = {"__init__", "__main__", "cli", "build", "load", "parse", "validate", "keys",
                "units", "yamlsrc", "descriptor", "graph", "errors", "parse_node", "parse_values",
                "schema", "keytable", "module_keys", "modules",
                "control_cli", "control_client", "control_paths", "control_protocol",
                "control_select", "status_render", "log_reader", "lifecycle", "orphans",
                "daemon_cli", "rundirs"}
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert modules - cli_side - BELOW - set(ABOVE) == set()


@pytest.mark.parametrize("source", [
    "from dora_supervisor import process",
    "from dora_supervisor import launch, local_executor",
    "from dora_supervisor.process import kill_group",
    "import dora_supervisor.process",
    "import psutil",
    "from psutil import Process",
    "open(f'/proc/{pid}/stat')",
    "path = '/proc/self/status'",
])
def test_the_check_catches_each_way_of_reaching_below(source):
    assert violations(source) != []


def test_the_check_lets_the_seam_and_docstrings_through():
    assert violations("from dora_supervisor.executor import Executor, Launch") == []
    assert violations('"""Reads nothing from /proc itself."""') == []
