"""Fuzzing the descriptor path of `dora check`: whatever the file holds, no internal error.

Every case is written to a file and read by `load_descriptor`, the function `dora check`
runs. It must return a dataflow, or raise `DescriptorError` whose problems are each ONE
line `FILE:LINE: ...` with LINE >= 1; any other exception is an internal error and fails
the test (hypothesis then shrinks it to a small reproducer). Descriptors that load, and a
sample of those that do not, also go through `cli.main(["check", FILE])` itself.

Cases are mutations of the real descriptors (examples/, descriptors/ and
tests/descriptors/cases/), written next to symlinks to their neighbours so file checks see
the same folder:

- text: truncation, indentation, tabs, duplicated/deleted lines, inserted YAML tags
  (core, `!!binary`, `!!timestamp`, `!!set`, `!!omap`, `!!python/...`, `!foo`), anchors and
  aliases (self-referencing, undefined, "billion laughs"), unicode (surrogates, control
  characters, BOM, NUL, line separators), huge numbers, deep nesting and invalid UTF-8;
- structure: any key of any section in both spellings (see `keys.py`) set to a value of any
  YAML type (null, bool, int, float incl. inf/nan, string, list, map, nested, binary,
  timestamp, set), emitted in block or flow style.

The normal suite runs about 2,000 cases (derandomized: the same ones on every run, no
example database). For a long run give the total number of cases:

    .venv/bin/python -m pytest -q tests/fuzz --fuzz-cases 100000
    DORA_FUZZ_CASES=100000 .venv/bin/python -m pytest -q tests/fuzz

The totals (cases, loaded, rejected, internal errors, time) are printed at the end.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import io
import math
import os
import re
import time
import zlib
from collections import Counter
from pathlib import Path

import attrs
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dora_supervisor import cli, keys
from dora_supervisor.errors import DescriptorError
from dora_supervisor.load import load_descriptor

ROOT = Path(__file__).resolve().parents[2]
SEED_FILES = sorted([*(ROOT / "examples").glob("*.yml"), ROOT / "descriptors" / "reference.yml",
                     *(ROOT / "tests" / "descriptors" / "cases").glob("*.yml")])
VALID_SEEDS = [p for p in SEED_FILES if not p.name.startswith("invalid-")]
SEED_TEXT = {p: p.read_text() for p in SEED_FILES}
SEED_DATA = {p: yaml.safe_load(SEED_TEXT[p]) for p in VALID_SEEDS}
ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # node, operator and group ids (SPEC)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # emitting cases is the test's own cost

CASES = int(os.environ.get("DORA_FUZZ_CASES", "2000"))
SHARE = {"text": 0.45, "structure": 0.35, "hostile": 0.20}  # of CASES, per test
# about 10 ms a case on a loaded 2-core machine; pytest-timeout's 60 s is too short for long runs
TIMEOUT = max(60, CASES // 20)

settings.register_profile(
    "dora-fuzz", derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much, HealthCheck.large_base_example])


def _cases(test: str) -> int:
    return max(1, round(CASES * SHARE[test]))


def fuzz_settings(test: str) -> settings:
    return settings(settings.get_profile("dora-fuzz"), max_examples=_cases(test))


# -- files on disk ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[Path, Path]:
    """For each seed folder, a scratch folder where a case is written: the repository
    mirrored with symlinks, so `../examples/timer.py` resolves as it does for the seed."""
    seed_dirs = {p.parent for p in SEED_FILES}
    real = seed_dirs | {parent for d in seed_dirs for parent in d.parents}
    root = tmp_path_factory.mktemp("repo")

    def mirror(source: Path, target: Path) -> None:
        target.mkdir(exist_ok=True)
        for entry in source.iterdir():
            if entry in real:
                mirror(entry, target / entry.name)
            else:
                (target / entry.name).symlink_to(entry)

    mirror(ROOT, root)
    return {d: root / d.relative_to(ROOT) for d in seed_dirs}


@pytest.fixture(scope="module")
def tally(request):
    """Counts per outcome; the totals are printed when the module ends."""
    counts: Counter[str] = Counter()
    started = time.monotonic()
    yield counts
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"descriptor fuzz: {counts['cases']} cases, {counts['loaded']} loaded, "
                f"{counts['rejected']} rejected ({counts['cli']} also through `dora check`), "
                f"{counts['cases'] - counts['loaded'] - counts['rejected']} internal errors, "
                f"{time.monotonic() - started:.1f} s")


def write_case(folders: dict[Path, Path], seed: Path, data: bytes) -> Path:
    path = folders[seed.parent] / "fuzzed-case.yml"
    path.write_bytes(data)
    return path


# -- the property ------------------------------------------------------------------------------


def check_case(path: Path, data: bytes, tally: Counter) -> str:
    """`load_descriptor` loads or rejects `path` with one located line per problem."""
    file = str(path)
    # A problem inside a module file is located there and names where it was included.
    located = re.compile(rf"^{re.escape(file)}:[1-9][0-9]*: "
                         rf"|^[^\n]+:[1-9][0-9]*: .* \(included from ([^\n]+:[1-9][0-9]*, )*"
                         rf"{re.escape(file)}:[1-9][0-9]*\)$")  # the chain ends at `file`
    tally["cases"] += 1
    try:
        dataflow, warnings = load_descriptor(file)
    except DescriptorError as exc:
        assert exc.problems, "a DescriptorError without problems"
        lines = [str(p) for p in exc.problems]
        outcome = "rejected"
    else:
        check_model(dataflow)
        lines = [str(p) for p in warnings]
        outcome = "loaded"
    tally[outcome] += 1
    for line in lines:
        assert line.splitlines() == [line], f"a problem over several lines: {line!r}"
        assert located.match(line), f"a problem not located as FILE:LINE: {line!r}"
    if zlib.crc32(data) % (4 if outcome == "loaded" else 8) == 0:
        check_through_cli(file, lines, outcome == "loaded")
        tally["cli"] += 1
    return outcome


def check_model(dataflow) -> None:
    """What loads keeps the model's promises: ids as documented, finite numbers >= 0."""
    flags = [dataflow.supervision, *(g.flags for g in dataflow.groups)]
    for group in dataflow.groups:
        assert ID.fullmatch(group.id), group.id
    numbers = [n for f in flags for n in (f.max_restarts, f.max_seconds)]
    for node in dataflow.nodes:
        assert ID.fullmatch(node.id) and node.id != "dora", node.id
        for op in node.operators:
            assert ID.fullmatch(op.id), op.id
        backoff = node.restart.backoff
        numbers += [node.shutdown, node.health.lease, node.health.watchdog, backoff.initial,
                    backoff.max, backoff.multiplier, backoff.jitter, node.restart.window,
                    node.restart.max_restarts,
                    *(v for v in attrs.astuple(node.limits) if not isinstance(v, str)),
                    *(i.queue_size for i in node.inputs)]
        assert all(isinstance(v, str) for v in (*node.args, *node.env.values())), node
    for number in numbers:
        assert number is None or (math.isfinite(number) and number >= 0), numbers


def check_through_cli(file: str, lines: list[str], loaded: bool) -> None:
    """`dora check FILE` prints exactly those lines, and `ok` when the descriptor loads."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["check", file])
    assert "internal error" not in err.getvalue(), err.getvalue()
    assert err.getvalue().splitlines() == lines
    if loaded:
        assert code == 0
        assert out.getvalue().startswith(f"{file}: ok (")
    else:
        assert code == 1
        assert out.getvalue() == ""


# -- text mutations ----------------------------------------------------------------------------

TAGS = ["!!int", "!!float", "!!bool", "!!null", "!!str", "!!binary", "!!timestamp", "!!set",
        "!!omap", "!!pairs", "!!seq", "!!map", "!!merge", "!!value", "!!yaml",
        "!!python/object:os.system", "!!python/object/apply:os.system", "!!python/name:os.system",
        "!!python/tuple", "!!python/bytes", "!!python/complex", "!!python/module:os", "!foo",
        "!", "!<tag:example.com,2000:x>", "!<!>", "!!", "!foo!bar"]
SPECIAL_CHARS = ["\x00", "\ufeff", "\ud800", "\udfff", "\udcff", "\x85", "\u2028", "\u2029",
                 "\x1b", "\x7f", "\x0b", "\x0c", "\r", "\t", "\n", "\uffff", "\ufffe", "\x1c",
                 "\U0001f600", "\u00e9", "\u0301", "\u200b", "\u00a0", "\x9f", "\\"]
SYNTAX_CHARS = list(":-[]{}&*!|>'\"#%@`,? \n\t")
NUMBERS = ["1e400", "-1e400", ".inf", "-.inf", ".nan", "0b_", "._", "0x_", "0o_", "1_000",
           "-0", "0.", "1:", "2001-13-45", "2001-02-30", "2001-12-14t21:59:43.10-05:00",
           "2001-12-14 99:99:99", "18446744073709551616", "-9223372036854775809", "0x",
           "190:20:30", "+.5", "1e", "~", "=", "<<", "0o777", "0777", "0b102", "y", "No"]
VALUE_LINE = re.compile(r"^(\s*(?:- )?[^\s:#][^:#\n]*:)([ \t]+)(\S.*)$", re.MULTILINE)


@st.composite
def huge_number(draw) -> str:
    digits = draw(st.integers(1, 6000))
    form = draw(st.sampled_from(["dec", "neg", "hex", "oct", "bin", "sexa", "float", "exp"]))
    return {"dec": "9" * digits, "neg": "-" + "9" * digits, "hex": "0x" + "f" * digits,
            "oct": "0" + "7" * digits, "bin": "0b" + "1" * digits,
            "sexa": "1" + ":59" * digits, "float": "1." + "9" * digits + "e" + "9" * min(digits, 9),
            "exp": f"1e{'9' * min(digits, 30)}"}[form]


@st.composite
def flow_value(draw, depth: int = 0) -> str:
    """A YAML flow value built to hurt: tags, anchors, aliases, odd scalars, nesting."""
    kinds = ["plain", "number", "quoted", "tagged", "anchored", "alias"]
    if depth < 3:
        kinds += ["seq", "map", "complex-key"]
    kind = draw(st.sampled_from(kinds))
    if kind == "plain":
        return draw(st.sampled_from(["x.py", "a/b", "1s", "permanent", "null", "true", "3",
                                     "dora/timer/millis/10", "", "a b", "brutal_kill"]))
    if kind == "number":
        return draw(st.sampled_from(NUMBERS) | huge_number())
    if kind == "quoted":
        escapes = ["\\x00", "\\ud800", "\\udfff", "\\U0010ffff", "\\N", "\\_", "\\L", "\\P",
                   "\\e", "\\n", "\\t", "\\uffff", "\\x85", "a", "/", ":", "\\u2028"]
        return '"' + "".join(draw(st.lists(st.sampled_from(escapes), max_size=4))) + '"'
    if kind == "tagged":
        return f"{draw(st.sampled_from(TAGS))} {draw(flow_value(depth + 1))}"
    if kind == "anchored":
        return f"&{draw(st.sampled_from('ab'))} {draw(flow_value(depth + 1))}"
    if kind == "alias":
        return f"*{draw(st.sampled_from('abc'))}"
    items = draw(st.lists(flow_value(depth + 1), max_size=3))
    if kind == "seq":
        return "[" + ", ".join(items) + "]"
    if kind == "map":
        return "{" + ", ".join(f"k{i}: {v}" for i, v in enumerate(items)) + "}"
    return "{" + ", ".join(f"? {v} : {i}" for i, v in enumerate(items)) + "}"


def laughs(depth: int, width: int, indent: str = "") -> str:
    """A "billion laughs" block: `width ** depth` values from a few lines."""
    lines = [f"{indent}lol0: &lol0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, depth + 1):
        lines.append(f"{indent}lol{level}: &lol{level} "
                     f"[{', '.join([f'*lol{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def _pick_line(draw, lines: list[str]) -> int:
    return draw(st.integers(0, max(len(lines) - 1, 0)))


def _value_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(3), m.end(3)) for m in VALUE_LINE.finditer(text)]


def _replace_value(draw, text: str, value: str) -> str:
    spans = _value_spans(text)
    if not spans:
        return text + value
    start, end = draw(st.sampled_from(spans))
    return text[:start] + value + text[end:]


def _insert(draw, text: str, piece: str) -> str:
    at = draw(st.integers(0, len(text)))
    return text[:at] + piece + text[at:]


def m_truncate(draw, text: str) -> str:
    return text[:draw(st.integers(0, len(text)))]


def m_indent(draw, text: str) -> str:
    lines = text.split("\n")
    i = _pick_line(draw, lines)
    delta = draw(st.sampled_from([-4, -2, -1, 1, 2, 4]))
    body = lines[i].lstrip(" ")
    lines[i] = " " * max(0, len(lines[i]) - len(body) + delta) + body
    return "\n".join(lines)


def m_tabs(draw, text: str) -> str:
    lines = text.split("\n")
    i = _pick_line(draw, lines)
    body = lines[i].lstrip(" ")
    lines[i] = "\t" * draw(st.integers(1, 2)) + body if draw(st.booleans()) else \
        lines[i].replace(": ", ":\t", 1)
    return "\n".join(lines)


def m_duplicate_line(draw, text: str) -> str:
    lines = text.split("\n")
    i = _pick_line(draw, lines)
    j = draw(st.integers(0, len(lines)))
    return "\n".join(lines[:j] + [lines[i]] + lines[j:])


def m_delete_line(draw, text: str) -> str:
    lines = text.split("\n")
    del lines[_pick_line(draw, lines)]
    return "\n".join(lines)


def m_tag_value(draw, text: str) -> str:
    spans = _value_spans(text)
    if not spans:
        return draw(st.sampled_from(TAGS)) + " " + text
    start, _ = draw(st.sampled_from(spans))
    return text[:start] + draw(st.sampled_from(TAGS)) + " " + text[start:]


def m_tag_anywhere(draw, text: str) -> str:
    return _insert(draw, text, draw(st.sampled_from(TAGS)) + " ")


def m_hostile_value(draw, text: str) -> str:
    return _replace_value(draw, text, draw(flow_value()))


def m_anchor_alias(draw, text: str) -> str:
    spans = _value_spans(text)
    if len(spans) < 2:
        return text + "a: &a [*a]\n"
    first, second = sorted(draw(st.lists(st.sampled_from(spans), min_size=2, max_size=2,
                                         unique=True)))
    if draw(st.booleans()):  # anchor a value, alias it later (or earlier: undefined)
        first, second = (first, second) if draw(st.booleans()) else (second, first)
        text_a = text[:first[0]] + "&x " + text[first[0]:]
        shift = 3 if second[0] > first[0] else 0
        return text_a[:second[0] + shift] + "*x" + text_a[second[1] + shift:]
    recursive = draw(st.sampled_from(["&s [*s]", "&s {k: *s}", "&s [a, [b, *s]]",
                                      "&s {? *s : v}", "&s [&t [*s, *t]]", "*s"]))
    return text[:first[0]] + recursive + text[first[1]:]


def m_block_anchor(draw, text: str) -> str:
    """`key:` opening a block gets an anchor; a later value becomes its alias."""
    openers = [m.end(1) for m in re.finditer(r"^(\s*(?:- )?[^\s:#][^:#\n]*:)\s*$", text,
                                             re.MULTILINE)]
    if not openers:
        return text
    at = draw(st.sampled_from(openers))
    text = text[:at] + " &blk" + text[at:]
    return _replace_value(draw, text, "*blk")


def m_laughs(draw, text: str) -> str:
    block = laughs(draw(st.integers(1, 9)), draw(st.integers(2, 10)))
    where = draw(st.sampled_from(["top", "end", "use"]))
    if where == "top":
        return block + text
    if where == "end":
        return text.rstrip("\n") + "\n" + block
    depth = block.count("\n") - 1
    return block + _replace_value(draw, text, f"*lol{depth}")


def m_deep_nesting(draw, text: str) -> str:
    depth = draw(st.integers(1, 3000))
    closed = draw(st.booleans())
    opener = draw(st.sampled_from(["[", "{a: ", "- "]))
    if opener == "- ":
        nested = "".join(f"\n{'  ' * i}- " for i in range(min(depth, 300))) + "x"
    else:
        closer = {"[": "]", "{a: ": "}"}[opener]
        nested = opener * depth + "x" + (closer * depth if closed else "")
    return _replace_value(draw, text, nested)


def m_unicode(draw, text: str) -> str:
    char = draw(st.sampled_from(SPECIAL_CHARS) | st.characters(exclude_categories=()))
    if draw(st.integers(0, 5)) == 0:
        return char + text  # BOM, NUL, ... first
    return _insert(draw, text, char * draw(st.integers(1, 3)))


def m_syntax(draw, text: str) -> str:
    if text and draw(st.booleans()):
        at = draw(st.integers(0, len(text) - 1))
        return text[:at] + text[at + 1:]
    return _insert(draw, text, draw(st.sampled_from(SYNTAX_CHARS)))


def m_number(draw, text: str) -> str:
    return _replace_value(draw, text, draw(st.sampled_from(NUMBERS) | huge_number()))


def m_digits(draw, text: str) -> str:
    """A run of digits (`256` of `256MiB`, `100` of a timer) becomes another number."""
    runs = [m.span() for m in re.finditer(r"[0-9]+(?:\.[0-9]+)?", text)]
    if not runs:
        return text
    start, end = draw(st.sampled_from(runs))
    return text[:start] + draw(st.sampled_from(NUMBER_TEXT) | huge_number()) + text[end:]


def m_value_text(draw, text: str) -> str:
    return _replace_value(draw, text, draw(st.text(max_size=12)))


def m_documents(draw, text: str) -> str:
    marker = draw(st.sampled_from(["---\n", "...\n", "--- |\n", "%YAML 1.1\n---\n",
                                   "%TAG !e! tag:example.com,2000:\n---\n", "%YAML 2.0\n---\n"]))
    return _insert(draw, text, marker) if draw(st.booleans()) else marker + text


TEXT_MUTATIONS = [m_truncate, m_indent, m_tabs, m_duplicate_line, m_delete_line, m_tag_value,
                  m_tag_anywhere, m_hostile_value, m_anchor_alias, m_block_anchor, m_laughs,
                  m_deep_nesting, m_unicode, m_syntax, m_number, m_digits, m_value_text,
                  m_documents]
RAW_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\xef\xbb\xbf",
             b"\xc0\xaf", b"\r"]


@st.composite
def mutated_text(draw, mutations=TEXT_MUTATIONS) -> tuple[Path, bytes]:
    seed = draw(st.sampled_from(SEED_FILES))
    text = SEED_TEXT[seed]
    for mutation in draw(st.lists(st.sampled_from(mutations), min_size=1, max_size=4)):
        text = mutation(draw, text)
    data = text.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(RAW_BYTES)) + data[at:]
    return seed, data


# -- structural mutations ----------------------------------------------------------------------

SECTION_KEYS = {  # the kinds of mapping a descriptor has, and the keys each takes
    "top": keys.TOP_KEYS, "communication": {"zenoh"}, "zenoh": {"prefix"},
    "supervision": keys.FLAG_KEYS, "group": keys.GROUP_KEYS, "node": keys.NODE_KEYS,
    "custom": keys.CUSTOM_KEYS, "restart": keys.RESTART_KEYS, "backoff": keys.BACKOFF_KEYS,
    "limits": keys.LIMIT_KEYS, "health": keys.HEALTH_KEYS, "deploy": keys.DEPLOY_KEYS,
    "operator": keys.OPERATOR_KEYS, "input": keys.INPUT_KEYS, "env": {"A", "__dora_env"},
}
NODE_SECTIONS = ["custom", "restart", "limits", "health", "deploy", "env"]


def _harvest(value, into: set, by_key: dict) -> set:
    """Every key and string of `value` into `into`; each key's values into `by_key`."""
    if isinstance(value, dict):
        for key, item in value.items():
            into.add(str(key))
            by_key.setdefault(str(key), []).append(item)
            _harvest(item, into, by_key)
    elif isinstance(value, list):
        for item in value:
            _harvest(item, into, by_key)
    elif isinstance(value, str):
        into.add(value)
    return into


SEED_VALUES: dict[str, list] = {}  # what the valid seeds give each key
SEED_WORDS = sorted(set().union(*(_harvest(SEED_DATA[p], set(), SEED_VALUES)
                                  for p in VALID_SEEDS)))
WORDS = ["1s", "250ms", "5m", "2h", "1.5", "0", "-1", "256MiB", "1GB", "80%", "brutal_kill",
         "permanent", "transient", "temporary", "always", "on-failure", "never", "one_for_all",
         "rest_for_one", "any_significant", "drop_oldest", "backpressure", "dora/timer/hz/30",
         "dora/timer/millis/0", "dora/logs", "node/out", "a/b/c", "../x.py", "/bin/sh",
         "python", "python x.py", "'unterminated", "a\nb", "a\x00b", "${HOME}", "*", "dora",
         "", " ", "id\n", "\ufeff", "\u2028"]
ALL_KEYS = sorted(keys.TOP_KEYS | keys.NODE_KEYS | keys.CUSTOM_KEYS | keys.OPERATOR_KEYS |
                  keys.INPUT_KEYS | keys.GROUP_KEYS | keys.RESTART_KEYS | keys.BACKOFF_KEYS |
                  keys.LIMIT_KEYS | keys.HEALTH_KEYS | keys.DEPLOY_KEYS | {"__dora_env"})

NUMBER_TEXT = ["0", "1", "1.5", ".5", "1.", "9" * 400, "1e3", "-1", "nan", "inf", "1" + "0" * 30,
               "0x10", "1_000", "", " 2 "]
UNITS = ["", "s", "ms", "us", "\u00b5s", "ns", "m", "h", "d", "B", "KiB", "MiB", "GB", "TiB",
         "kb", "%", " %", "x"]
unit_numbers = st.builds(str.__add__, st.sampled_from(NUMBER_TEXT), st.sampled_from(UNITS))
timers = st.builds("dora/timer/{}/{}".format,
                   st.sampled_from(["secs", "millis", "micros", "nanos", "hz", "minutes", ""]),
                   st.sampled_from(NUMBER_TEXT))
scalars = st.one_of(
    unit_numbers, timers,
    st.none(), st.booleans(),
    st.integers(-(10**30), 10**30),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=16), st.text(st.characters(exclude_categories=()), max_size=6),
    st.sampled_from(WORDS), st.sampled_from(SEED_WORDS),
    st.binary(max_size=8), st.dates(), st.datetimes(),
    st.datetimes(timezones=st.just(datetime.UTC)),
)
keys_strategy = st.sampled_from(ALL_KEYS) | st.text(max_size=8)


def _collections(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.lists(children, max_size=4),
                     st.dictionaries(keys_strategy, children, max_size=4),
                     st.frozensets(st.sampled_from(WORDS), max_size=3).map(set))


yaml_values = st.recursive(scalars, _collections, max_leaves=12)


def _sections(data: dict) -> dict[str, list[dict]]:
    """Every mapping of the descriptor by kind; the sections a node may have are created."""
    found: dict[str, list[dict]] = {"top": [data]}

    def add(kind: str, section) -> None:
        if isinstance(section, dict):
            found.setdefault(kind, []).append(section)

    comm = data.setdefault("communication", {})
    add("communication", comm)
    if isinstance(comm, dict):
        add("zenoh", comm.setdefault("zenoh", {}))
    add("supervision", data.setdefault("supervision", {}))
    add("env", data.setdefault("env", {}))
    for group in data.get("groups") or []:
        add("group", group)
    for node in data.get("nodes") or []:
        if not isinstance(node, dict):
            continue
        add("node", node)
        for kind in NODE_SECTIONS:
            add(kind, node.setdefault(kind, {}))
        if isinstance(node["restart"], dict):
            add("backoff", node["restart"].setdefault("backoff", {}))
        add("operator", node.get("operator"))
        for op in node.get("operators") or []:
            add("operator", op)
        for owner in [node, node["custom"], node.get("operator"), *(node.get("operators") or [])]:
            for spec in _inputs(owner):
                add("input", spec)
    return found


def _inputs(owner) -> list[dict]:
    """The inputs of a node or operator, in the long form (`source:`)."""
    inputs = owner.get("inputs") if isinstance(owner, dict) else None
    if not isinstance(inputs, dict):
        return []
    for name, spec in list(inputs.items()):
        if isinstance(spec, str):
            inputs[name] = {"source": spec}
    return [spec for spec in inputs.values() if isinstance(spec, dict)]


def _drop_empty(value):
    """Sections created empty by `_sections` and left untouched go away again."""
    if isinstance(value, dict):
        return {k: _drop_empty(v) for k, v in value.items() if v != {}}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


@st.composite
def mutated_structure(draw) -> tuple[Path, bytes]:
    seed = draw(st.sampled_from(VALID_SEEDS))
    data = copy.deepcopy(SEED_DATA[seed])
    sections = _sections(data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(sorted(sections)))  # each kind as likely as another
        section, table = draw(st.sampled_from(sections[kind])), SECTION_KEYS[kind]
        action = draw(st.sampled_from(["set", "set", "set", "delete", "unknown"]))
        if action == "delete" and section:
            del section[draw(st.sampled_from(sorted(section, key=str)))]
        elif action == "unknown":
            section[draw(st.text(max_size=10))] = draw(yaml_values)
        else:  # a value of any type, or one a seed gives this key (more cases load)
            key = draw(st.sampled_from(sorted(table)))
            seen = SEED_VALUES.get(key)
            values = st.one_of(st.sampled_from(seen or [None]), unit_numbers | timers, yaml_values)
            section[key] = draw(values)
    style = {"sort_keys": False, "allow_unicode": draw(st.booleans()),
             "default_flow_style": draw(st.sampled_from([False, None]))}
    try:
        text = yaml.dump(_drop_empty(data), Dumper=DUMPER, **style)
    except UnicodeEncodeError:  # libyaml cannot emit a lone surrogate; PyYAML escapes it
        text = yaml.dump(_drop_empty(data), Dumper=yaml.SafeDumper, **style)
    return seed, text.encode("utf-8", "surrogatepass")


# -- the tests ---------------------------------------------------------------------------------


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings("text")
@given(case=mutated_text())
def test_text_mutations_load_or_give_located_one_line_problems(case, folders, tally):
    seed, data = case
    check_case(write_case(folders, seed, data), data, tally)


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings("structure")
@given(case=mutated_structure())
def test_any_key_with_any_yaml_value_loads_or_gives_located_one_line_problems(
        case, folders, tally):
    seed, data = case
    check_case(write_case(folders, seed, data), data, tally)


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings("hostile")
@given(case=mutated_text([m_tag_value, m_hostile_value, m_anchor_alias, m_block_anchor,
                          m_laughs, m_number, m_digits, m_deep_nesting, m_unicode]))
def test_tags_aliases_and_numbers_load_or_give_located_one_line_problems(case, folders, tally):
    seed, data = case
    check_case(write_case(folders, seed, data), data, tally)


def test_every_seed_is_a_case_of_its_own(folders, tally):
    """The seeds themselves: the valid ones load, the broken ones are rejected."""
    for seed in SEED_FILES:
        data = seed.read_bytes()
        outcome = check_case(write_case(folders, seed, data), data, tally)
        assert outcome == ("loaded" if seed in VALID_SEEDS else "rejected"), seed.name
