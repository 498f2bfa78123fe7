"""Helpers of the multi-machine tests: daemons as real processes, and a TCP proxy of our
own to cut a daemon off the network without touching the machine's configuration."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import psutil

from tests.conftest import DORA, dora, wait_until

LEASE = "1s"
LEASE_S = 1.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_port`. `cut()` is a network cut as zenoh sees
    it: open connections fall silent (nothing forwarded, nothing closed) and new ones are
    refused; `heal()` drops the silent connections and forwards again."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self._silent = False
        self._done = threading.Event()
        self._open_listener()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tcp-proxy")
        self._thread.start()

    def _open_listener(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.setblocking(False)
        self._listener = listener

    def cut(self) -> None:
        with self._lock:
            self._silent = True
            self._listener.close()
            self._listener = None

    def heal(self) -> None:
        with self._lock:
            for pair in self._pairs:
                for side in pair:
                    side.close()
            self._pairs, self._silent = [], False
            self._open_listener()

    def close(self) -> None:
        self._done.set()
        self._thread.join(2)
        with self._lock:
            for pair in self._pairs:
                for side in pair:
                    side.close()
            if self._listener is not None:
                self._listener.close()

    def _run(self) -> None:
        while not self._done.is_set():
            with selectors.DefaultSelector() as selector:
                with self._lock:
                    if self._listener is not None:
                        selector.register(self._listener, selectors.EVENT_READ, None)
                    if not self._silent:
                        for a, b in self._pairs:
                            selector.register(a, selectors.EVENT_READ, b)
                            selector.register(b, selectors.EVENT_READ, a)
                if not selector.get_map():
                    time.sleep(0.02)
                    continue
                ready = selector.select(0.05)
            for key, _ in ready:
                self._serve(key.fileobj, key.data)

    def _serve(self, sock: socket.socket, peer: socket.socket | None) -> None:
        with self._lock:
            if self._silent or sock.fileno() < 0:
                return
            if peer is None:  # the listener
                try:
                    client, _ = sock.accept()
                    upstream = socket.create_connection(self.target, timeout=2)
                except OSError:
                    return
                self._pairs.append((client, upstream))
                return
            try:
                data = sock.recv(1 << 16)
                if data:
                    peer.sendall(data)
            except OSError:
                data = b""
            if not data:
                for pair in [p for p in self._pairs if sock in p]:
                    self._pairs.remove(pair)
                    for side in pair:
                        side.close()


class Daemon:
    """`dora daemon --machine NAME` in the background, its JSON records in a file."""

    def __init__(self, machine: str, connect: list[str], cwd: Path, *extra: str,
                 env: dict[str, str] | None = None):
        self.machine = machine
        self.log = cwd / f"daemon-{machine}-{time.monotonic_ns()}.log"
        self._handle = open(self.log, "w")
        argv = [*DORA, "daemon", "--machine", machine, "--lease", LEASE, "--log-format", "json"]
        for endpoint in connect:
            argv += ["--connect", endpoint]
        self.proc = subprocess.Popen([*argv, *extra], cwd=cwd, stdout=self._handle,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, **(env or {})})

    def records(self) -> list[dict]:
        found = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    pass
        return found

    def events(self, name: str) -> list[dict]:
        return [r for r in self.records() if r.get("event") == name]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self) -> int:
        """SIGTERM, as a service manager would; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        finally:
            self._handle.close()

    def children(self) -> list[int]:
        try:
            return [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def up_listening(endpoint: str, *extra: str) -> None:
    started = dora("up", "--listen", endpoint, "--lease", LEASE, *extra)
    assert started.returncode == 0, started.stderr
    assert f"listening on {endpoint}" in started.stdout, started.stdout


def records(dataflow: str, node: str) -> list[dict]:
    """The node's records as `dora logs --json` gives them."""
    result = dora("logs", dataflow, node, "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def workers(dataflow: str) -> dict[str, dict]:
    result = dora("status", dataflow, "--json")
    assert result.returncode == 0, result.stderr
    found, pending = {}, [json.loads(result.stdout)["dataflows"][0]["tree"]]
    while pending:
        item = pending.pop()
        if item["kind"] == "worker":
            found[item["id"]] = item
        pending += item.get("children", [])
    return found


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def got_lines(dataflow: str, node: str, after: float = 0.0) -> int:
    """How many `GOT` lines the node printed after wall time `after`."""
    from datetime import datetime

    return sum(1 for r in records(dataflow, node)
               if r.get("event") == "node_output" and r.get("line", "").startswith("GOT")
               and datetime.fromisoformat(r["timestamp"]).timestamp() > after)


def first_event_after(dataflow: str, node: str, event: str, after: float) -> float | None:
    """Wall time of the node's first `event` record after `after`."""
    from datetime import datetime

    for record in records(dataflow, node):
        if record.get("event") == event:
            at = datetime.fromisoformat(record["timestamp"]).timestamp()
            if at > after:
                return at
    return None


def wait_running(dataflow: str, nodes: list[str], timeout: float = 30) -> dict[str, dict]:
    def check():
        found = workers(dataflow)
        ok = all(found[n]["state"] == "running" and found[n]["alive"] for n in nodes)
        return found if ok else None

    return wait_until(check, timeout, f"{nodes} running and alive")


def stop_all(daemons: list[Daemon]) -> None:
    for daemon in daemons:
        daemon.stop()
    for daemon in daemons:
        assert daemon.proc.returncode == 0, daemon.log.read_text()[-2000:]


__all__ = ["TcpProxy", "Daemon", "free_port", "up_listening", "records", "workers", "alive",
           "got_lines", "first_event_after", "wait_running", "stop_all", "LEASE", "LEASE_S"]
