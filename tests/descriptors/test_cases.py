"""Data-driven descriptor tests: every file in `cases/` goes through the real CLI.

`invalid-<what>.yml` must fail `dora check` (and `dora run`) with exactly the lines of its
sibling `invalid-<what>.expected`, each located as `file:line:`; `valid-*.yml` must pass.
The JSON schema in `descriptors/schema.json` is checked against the same files.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import build_c_operator

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent / "cases"
SCHEMA = ROOT / "descriptors" / "schema.json"
REFERENCE = ROOT / "descriptors" / "reference.yml"
INVALID = sorted(CASES.glob("invalid-*.yml"))
VALID = sorted(CASES.glob("valid-*.yml"))
EXAMPLES = sorted((ROOT / "examples").glob("*.yml"))
# a broken case's own file, or a module file it includes (`modules/...`)
LOCATED = re.compile(r"^(invalid-|modules/)[^:]+\.yml:\d+: ")

# Broken cases whose problem is visible in the document alone, so the schema (what an
# editor sees) rejects them too; the others need cross-references or the file system.
SCHEMA_REJECTS = [
    "invalid-unknown-key-typo.yml", "invalid-unknown-top-level-key.yml",
    "invalid-bad-duration.yml", "invalid-bad-size.yml", "invalid-bad-percentage.yml",
    "invalid-unknown-restart-policy.yml", "invalid-unknown-strategy.yml",
    "invalid-bad-queue-policy.yml", "invalid-malformed-timer.yml",
    "invalid-malformed-source.yml", "invalid-empty-nodes.yml", "invalid-nothing-to-run.yml",
    "invalid-operator-python-and-shared-library.yml", "invalid-path-and-operators.yml",
    "invalid-synonym-keys-both-given.yml", "invalid-log-settings.yml",
]


def dora(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dora_supervisor", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=50)


def ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def load(path: Path):
    import yaml

    return yaml.safe_load(path.read_text())


# -- the case folder itself ----------------------------------------------------------------


def test_case_folder_covers_at_least_eighteen_broken_descriptors():
    assert len(INVALID) >= 18
    assert len(VALID) >= 5


@pytest.mark.parametrize("case", INVALID, ids=ids(INVALID))
def test_every_broken_case_has_an_expected_stderr_file(case: Path):
    expected = case.with_suffix(".expected")
    assert expected.is_file(), f"{expected.name} is missing"
    assert expected.read_text().strip(), f"{expected.name} is empty"


# -- broken descriptors ----------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", INVALID, ids=ids(INVALID))
def test_check_rejects_broken_descriptor_with_located_messages(case: Path):
    result = dora("check", case.name, cwd=CASES)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr == case.with_suffix(".expected").read_text()
    for line in result.stderr.splitlines():
        assert LOCATED.match(line), f"not located as file:line: {line!r}"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", INVALID, ids=ids(INVALID))
def test_run_refuses_broken_descriptor_with_the_same_messages(case: Path, tmp_path: Path):
    result = dora("run", case.name, "--out-dir", str(tmp_path / "out"), cwd=CASES)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode != 0
    assert result.stderr.splitlines() == case.with_suffix(".expected").read_text().splitlines()
    assert not (tmp_path / "out").exists(), "nothing may start for a broken descriptor"


# -- valid descriptors ---------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", VALID, ids=ids(VALID))
def test_check_accepts_valid_descriptor(case: Path):
    result = dora("check", case.name, cwd=CASES)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{case.name}: ok (")
    for line in result.stderr.splitlines():  # only warnings are allowed
        assert re.match(rf"^{re.escape(case.name)}:\d+: warning: ", line), line


@pytest.mark.timeout(60)
def test_dora_rs_keys_without_effect_give_warnings_not_errors():
    result = dora("check", "valid-no-effect-keys.yml", cwd=CASES)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings
    for key in ("cpu_affinity", "output_types", "send_stdout_as", "health_check_interval"):
        assert any(f"'{key}' is accepted but has no effect here" in w for w in warnings), key


@pytest.mark.timeout(60)
def test_fault_tolerance_and_original_form_cases_check_without_warnings():
    for name in ("valid-dora-rs-fault-tolerance.yml", "valid-original-form.yml",
                 "valid-long-input-form.yml", "valid-nested-groups.yml"):
        result = dora("check", name, cwd=CASES)
        assert result.returncode == 0, result.stderr
        assert result.stderr == "", result.stderr


@pytest.mark.timeout(60)
def test_reference_descriptor_checks_ok_without_warnings():
    result = dora("check", "descriptors/reference.yml", cwd=ROOT)
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("descriptors/reference.yml: ok (")
    assert result.stderr == ""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("example", EXAMPLES, ids=ids(EXAMPLES))
def test_examples_check_ok(example: Path):
    if "c-operator/" in example.read_text():
        build_c_operator()
    result = dora("check", str(example.relative_to(ROOT)), cwd=ROOT)
    assert result.returncode == 0, result.stderr


# -- the JSON schema -------------------------------------------------------------------------


def schema() -> dict:
    return json.loads(SCHEMA.read_text())


def test_committed_schema_is_what_dora_schema_prints():
    """The file is generated (`dora schema > descriptors/schema.json`), never edited."""
    result = dora("schema", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == SCHEMA.read_text(), "regenerate: dora schema > " \
        "descriptors/schema.json"


def test_every_schema_reference_names_a_definition():
    data = schema()
    targets = set(re.findall(r'"\$ref": "#/\$defs/([^"]+)"', SCHEMA.read_text()))
    assert targets and targets <= set(data["$defs"])


def test_schema_is_json_of_draft_2020_12():
    data = schema()
    assert data["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert data["additionalProperties"] is False
    assert data["required"] == ["nodes"]


def test_schema_knows_exactly_the_keys_the_parser_knows():
    from dora_supervisor import keys

    data = schema()
    defs = data["$defs"]
    assert set(data["properties"]) == keys.TOP_KEYS
    assert set(defs["node"]["properties"]) == keys.NODE_KEYS
    assert set(defs["custom"]["properties"]) == keys.CUSTOM_KEYS
    assert set(defs["operator"]["properties"]) == keys.OPERATOR_KEYS - {"wasm"}
    assert set(defs["input"]["anyOf"][1]["properties"]) == keys.INPUT_KEYS
    assert set(defs["flags"]["properties"]) == keys.FLAG_KEYS
    assert set(defs["group"]["properties"]) == keys.GROUP_KEYS
    assert set(defs["restart"]["properties"]) == keys.RESTART_KEYS
    assert set(defs["restart"]["properties"]["backoff"]["properties"]) == keys.BACKOFF_KEYS
    assert set(defs["limits"]["properties"]) == keys.LIMIT_KEYS
    assert set(defs["health"]["properties"]) == keys.HEALTH_KEYS
    for name in ("node", "custom", "operator", "flags", "group", "restart", "limits",
                 "health", "deploy"):
        assert defs[name]["additionalProperties"] is False, name


def _enum(prop: dict) -> list:
    """The enum of a property, looking through the `anyOf [..., null]` wrapper."""
    if "enum" in prop:
        return prop["enum"]
    return next(branch["enum"] for branch in prop["anyOf"] if "enum" in branch)


def test_schema_enums_match_the_model():
    from dora_supervisor.descriptor import (
        AUTO_SHUTDOWN,
        QUEUE_POLICIES,
        RESTART_POLICIES,
        STRATEGIES,
    )

    defs = schema()["$defs"]
    assert _enum(defs["flags"]["properties"]["strategy"]) == list(STRATEGIES)
    assert _enum(defs["flags"]["properties"]["auto_shutdown"]) == list(AUTO_SHUTDOWN)
    assert _enum(defs["node"]["properties"]["restart_policy"]) == list(RESTART_POLICIES)
    assert _enum(defs["restart"]["properties"]["policy"]) == list(RESTART_POLICIES)
    long_form = defs["input"]["anyOf"][1]["properties"]
    assert _enum(long_form["queue_policy"]) == list(QUEUE_POLICIES)


def test_every_schema_key_has_a_description():
    missing = []

    def walk(node, path):
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                if "description" not in prop and "$ref" not in prop:
                    missing.append(f"{path}.{name}")
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")

    walk({k: v for k, v in schema().items() if k != "$defs"}, "")
    for name, definition in schema()["$defs"].items():
        if name == "node":
            walk({"properties": definition["properties"]}, name)
        else:
            walk(definition, name)
    assert not missing


def _validator():
    jsonschema = pytest.importorskip("jsonschema")
    data = schema()
    jsonschema.Draft202012Validator.check_schema(data)
    return jsonschema.Draft202012Validator(data)


def test_schema_is_a_valid_json_schema():
    _validator()


@pytest.mark.parametrize("path", VALID + EXAMPLES + [REFERENCE],
                         ids=ids(VALID) + [f"examples-{p.stem}" for p in EXAMPLES] +
                         ["reference"])
def test_schema_accepts_valid_descriptors(path: Path):
    validator = _validator()
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(load(path))]
    assert not errors


@pytest.mark.parametrize("name", SCHEMA_REJECTS)
def test_schema_rejects_document_level_mistakes(name: str):
    validator = _validator()
    assert not validator.is_valid(load(CASES / name))


@pytest.mark.parametrize("source, ok", [
    ("node/output", True), ("node/op/output", True), ("dora/timer/millis/100", True),
    ("dora/timer/secs/1", True), ("dora/timer/micros/5", True), ("dora/timer/nanos/7", True),
    ("dora/timer/hz/2.5", True), ("dora/timer/hz/30", True),
    ("dora/timer/hz/0", False), ("dora/timer/millis/0", False),
    ("dora/timer/millis/abc", False), ("dora/timer/minutes/1", False), ("dora/logs", True),
    ("dora/logs/warn", True), ("dora/logs/info/cam.left", True), ("dora/logs/loud", False),
    ("dora/logs/", False), ("dora/logs/info/a/b", False), ("dora/logsx", False),
    ("node", False), ("node/", False), ("/output", False),
])
def test_schema_input_sources(source: str, ok: bool):
    validator = _validator()
    document = {"nodes": [{"id": "n", "path": "n.py", "inputs": {"x": source}}]}
    assert validator.is_valid(document) is ok
