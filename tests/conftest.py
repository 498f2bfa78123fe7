"""Shared test helpers: run the real `dora` CLI, wait for conditions, leave nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
NODES = ROOT / "tests" / "nodes"
DORA = [sys.executable, "-m", "dora_supervisor"]


def pytest_addoption(parser):
    parser.addoption("--fuzz-cases", type=int, default=None, metavar="N",
                     help="cases of the descriptor fuzz test (default 2000; also "
                          "$DORA_FUZZ_CASES)")


def pytest_configure(config):
    cases = config.getoption("--fuzz-cases")
    if cases is not None:  # tests/fuzz reads it when it is imported, after this
        os.environ["DORA_FUZZ_CASES"] = str(cases)


def _polls(predicate, timeout: float, what: str):
    """Yield until `predicate` returns something truthy, then stop with that value; fail
    with `what` and the last value seen (how far the run got) at the deadline. The caller
    waits between polls in its own way (`time.sleep` or `await asyncio.sleep`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                 f"last value: {_shown(value)}")
        yield


def _result(polls, step):
    try:
        while True:
            next(polls)
            step()
    except StopIteration as done:
        return done.value


@contextlib.contextmanager
def spawned(argv: list[str], **popen):
    """A process for the body of a `with`: killed and reaped however the body ends."""
    process = subprocess.Popen(argv, **popen)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.02):
    """Poll `predicate` until it returns something truthy; fail with `what` at the deadline."""
    return _result(_polls(predicate, timeout, what), lambda: time.sleep(interval))


def _shown(value, limit: int = 2000) -> str:
    """`repr(value)`, cut at `limit` characters so a long record list stays readable."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more chars)"


async def wait_until_async(predicate, timeout: float, what: str, interval: float = 0.02):
    """`wait_until` for code running on an event loop (in-process coordinator tests)."""
    polls = _polls(predicate, timeout, what)
    try:
        while True:
            next(polls)
            await asyncio.sleep(interval)
    except StopIteration as done:
        return done.value


class DoraRun:
    """A `dora run --log-format json` in the background, its records parsed as they come."""

    def __init__(self, descriptor: Path, cwd: Path, extra: list[str] = ()):
        self.out = cwd / f"dora-run-{time.monotonic_ns()}.log"
        self._handle = open(self.out, "w")
        self.proc = subprocess.Popen(
            [*DORA, "run", str(descriptor), "--log-format", "json", "--out-dir",
             str(cwd / "out"), *extra],
            cwd=cwd, stdout=self._handle, stderr=subprocess.STDOUT, start_new_session=True)

    def records(self) -> list[dict]:
        result = []
        for line in self.out.read_text().splitlines():
            if line.startswith("{"):
                try:
                    result.append(json.loads(line))
                except ValueError:
                    pass
        return result

    def text(self) -> str:
        return self.out.read_text()

    def lines(self, node: str) -> list[str]:
        return [r["line"] for r in self.records()
                if r.get("event") == "node_output" and r.get("node") == node]

    def events(self, name: str, node: str | None = None) -> list[dict]:
        return [r for r in self.records() if r.get("event") == name
                and (node is None or r.get("node") == node)]

    def wait_for(self, predicate, timeout: float, what: str):
        return wait_until(lambda: predicate(self), timeout, what)

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._handle.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self._handle.close()


@pytest.fixture
def dataflow(tmp_path):
    """Write a descriptor (dedented YAML; `{nodes}` is the test node folder) to a file."""

    def write(text: str, name: str = "dataflow.yml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).replace("{nodes}", str(NODES)))
        return path

    return write


@pytest.fixture
def dora_run(tmp_path):
    """Start `dora run` on a descriptor; every run is killed at the end of the test."""
    runs: list[DoraRun] = []

    def start(descriptor: Path, *extra: str) -> DoraRun:
        run = DoraRun(descriptor, tmp_path, list(extra))
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.kill()


def dora(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the real CLI to completion."""
    return subprocess.run([*DORA, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def _node_processes(mark: str) -> set[int]:
    """Processes started under this test (they inherit its DORA_TEST_MARK)."""
    found = set()
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("DORA_TEST_MARK") == mark:
                found.add(proc.pid)
        except (psutil.Error, OSError):
            pass
    return found


@pytest.fixture(autouse=True)
def control_dirs(monkeypatch) -> Path:
    """Each test has its own runtime and state directories (`XDG_RUNTIME_DIR`,
    `XDG_STATE_HOME`), so no test reaches a developer's coordinator or logs; the short
    base keeps socket paths under the 107-byte limit of a Unix socket address."""
    base = Path(tempfile.mkdtemp(prefix="dora-t-"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(base / "run"))
    monkeypatch.setenv("XDG_STATE_HOME", str(base / "state"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_process_left_behind(request, monkeypatch, control_dirs):
    """Every test that starts processes must leave none running."""
    mark = f"{os.getpid()}-{time.monotonic_ns()}"
    monkeypatch.setenv("DORA_TEST_MARK", mark)
    yield
    try:
        wait_until(lambda: not _node_processes(mark), 5, "processes to exit")
    except AssertionError:
        left = _node_processes(mark)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        raise AssertionError(f"processes left behind: {sorted(left)}") from None


def build_c_operator() -> None:
    """examples/c-operator/operator.so, as the README's run command builds it."""
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("make and cc are needed to build examples/c-operator")
    result = subprocess.run(["make", "-C", str(ROOT / "examples" / "c-operator")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def compile_c(source: str, out_dir: Path, name: str = "operator") -> Path:
    """Compile C operator source with the system compiler into `out_dir/<name>.so`."""
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}) on PATH: C operators cannot be built")
    src = out_dir / f"{name}.c"
    src.write_text(textwrap.dedent(source))
    target = out_dir / f"{name}.so"
    result = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Werror",
                             f"-I{ROOT / 'dora_api' / 'include'}", "-o", str(target), str(src)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return target
