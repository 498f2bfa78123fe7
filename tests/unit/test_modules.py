"""House rules for every module of dora_supervisor/ and dora_api/: small, and a module
uses only what another one exports in its `__all__`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("dora_supervisor", "dora_api")
MODULES = sorted(path for package in PACKAGES for path in (ROOT / package).glob("*.py"))
MAX_LINES = 400


def _name(path: Path) -> str:
    """`dora_api/node.py` -> `dora_api.node`; a package's `__init__.py` -> the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _path(module: str) -> Path | None:
    """The file of a project module, or None for anything that is not one."""
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if module.split(".")[0] in PACKAGES and candidate.is_file():
            return candidate
    return None


def _exports(module: str) -> set[str] | None:
    """The names in `module.__all__` (a literal list or tuple), None when it has none."""
    for node in ast.parse(_path(module).read_text()).body:
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return set(ast.literal_eval(node.value))
    return None


def _used_names(path: Path) -> list[tuple[int, str, str]]:
    """(line, module, name) for each name `path` takes from another project module:
    `from pkg.mod import name`, and `mod.name` after `from pkg import mod` or
    `import pkg.mod as mod`."""
    tree = ast.parse(path.read_text())
    aliases: dict[str, str] = {}  # local name -> project module it stands for
    used = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if _path(node.module) is None:
                continue
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if _path(submodule) is not None:
                    aliases[alias.asname or alias.name] = submodule
                else:
                    used.append((node.lineno, node.module, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and _path(alias.name) is not None:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases):
            used.append((node.lineno, aliases[node.value.id], node.attr))
    return used


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_stays_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{_name(path)} has {lines} lines (at most {MAX_LINES})"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_declares_its_exports(path):
    assert _exports(_name(path)) is not None, f"{_name(path)} has no literal __all__"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_names_taken_from_another_module_are_in_its_all(path):
    missing = [f"{_name(path)}:{line} uses {module}.{name}"
               for line, module, name in _used_names(path)
               if name not in (_exports(module) or set())]
    assert not missing, "not in __all__: " + "; ".join(missing)


def test_the_export_check_sees_both_import_forms():
    """The check above must find uses; here, the ones that exist today."""
    uses = {(module, name) for path in MODULES for _, module, name in _used_names(path)}
    assert ("dora_supervisor.process", "spawn") in uses  # `process.spawn` after `import`
    assert ("dora_supervisor.descriptor", "Dataflow") in uses  # `from ... import Dataflow`
    assert ("dora_api.contract", "CONFIG_ENV") in uses
