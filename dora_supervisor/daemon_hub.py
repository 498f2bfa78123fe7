"""The coordinator's side of its daemons: a zenoh router on `dora up --listen`.

Daemons dial it, introduce themselves on its `join` queryable and then hold a liveliness
token; that token is the machine's presence: it vanishes within the daemon's lease when
the daemon is killed, frozen or cut off. The hub keeps which machines are up, passes each
machine change and each daemon report to the dataflows that asked (`attach`), and sends
commands to daemons. The router also listens on a private Unix socket, which the
coordinator's own dataflow sessions and local nodes dial to reach remote nodes.

zenoh calls back on its own threads: the registry is guarded by a lock, and everything
else is handed to the event loop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Iterable
from typing import Protocol

import structlog
import zenoh

from dora_api import contract
from dora_api.contract import DaemonInfo, MachineKeys
from dora_supervisor import __version__, rundirs
from dora_supervisor.network import NetworkSettings, open_router
from dora_supervisor.samples import Enforcement

__all__ = ["DaemonHub", "MachineListener"]


class MachineListener(Protocol):
    """What a dataflow attached to the hub hears (on the event loop)."""

    def on_machine(self, machine: str, up: bool) -> None: ...

    def on_daemon_report(self, machine: str, report: contract.Report) -> None: ...


class DaemonHub:
    """Use as `async with DaemonHub(settings) as hub:` (the coordinator does)."""

    def __init__(self, settings: NetworkSettings):
        self.settings = settings
        self._log = structlog.get_logger()
        self._lock = threading.Lock()
        self._joined: dict[str, DaemonInfo] = {}  # machine -> the daemon that joined last
        self._up: set[str] = set()  # machines whose daemon's token is present
        self._listeners: dict[str, MachineListener] = {}  # dataflow id -> listener
        self._changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rundir = ""
        self.router_endpoint = ""
        self.session = None

    async def __aenter__(self) -> DaemonHub:
        self._loop = asyncio.get_running_loop()
        self._rundir = rundirs.make("hub")
        self.router_endpoint = contract.unix_endpoint(os.path.join(self._rundir, "router.sock"))
        try:
            self.session = open_router(self.settings, self.router_endpoint)
        except BaseException:
            shutil.rmtree(self._rundir, ignore_errors=True)
            raise
        direct = dict(indirect=False)
        self._queryable = self.session.declare_queryable(
            MachineKeys.join, zenoh.handlers.Callback(self._on_join, **direct))
        self._reports = self.session.declare_subscriber(
            MachineKeys.reports(), zenoh.handlers.Callback(self._on_report, **direct))
        liveliness = self.session.liveliness()
        self._tokens = liveliness.declare_subscriber(
            MachineKeys.daemon(), zenoh.handlers.Callback(self._on_token, **direct),
            history=True)
        self._token = liveliness.declare_token(MachineKeys.coordinator)
        self._log.info("coordinator_listening", endpoints=list(self.settings.listen),
                       lease_s=self.settings.lease_s, tls=self.settings.tls is not None)
        return self

    async def __aexit__(self, *exc_info) -> None:
        try:
            self.session.close()
        finally:
            shutil.rmtree(self._rundir, ignore_errors=True)

    # -- what dataflows use ------------------------------------------------------------

    def up(self) -> set[str]:
        with self._lock:
            return set(self._up)

    def site(self, machine: str) -> DaemonInfo | None:
        """The daemon running `machine` now, None while it is gone."""
        with self._lock:
            return self._joined.get(machine) if machine in self._up else None

    async def wait_for(self, machines: Iterable[str], timeout: float) -> set[str]:
        """Wait until every machine is up or `timeout` passes; the ones still missing."""
        wanted = set(machines)
        deadline = time.monotonic() + timeout
        while not wanted <= self.up():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                break
        return wanted - self.up()

    def attach(self, dataflow_id: str, listener: MachineListener) -> None:
        self._listeners[dataflow_id] = listener

    def detach(self, dataflow_id: str) -> None:
        self._listeners.pop(dataflow_id, None)

    def send(self, machine: str, command: contract.Command) -> None:
        self.session.put(MachineKeys.to(machine), contract.encode_record(command),
                         congestion_control=zenoh.CongestionControl.BLOCK)

    # -- zenoh callbacks (zenoh threads) -------------------------------------------------

    def _on_join(self, query) -> None:
        try:
            info = contract.decode_join(query.payload.to_bytes() if query.payload else b"")
            contract.check_machine_name(info.machine)
        except contract.ContractError as exc:
            self._reply(query, False, f"refused: {exc}")
            return
        if info.protocol != contract.PROTOCOL_VERSION:
            self._reply(query, False, f"refused: the daemon speaks protocol {info.protocol}, "
                        f"this coordinator {contract.PROTOCOL_VERSION} (dora-supervisor "
                        f"{__version__}): run one version on every machine")
            return
        try:
            Enforcement.from_fields(info.enforcement)
        except ValueError as exc:
            self._reply(query, False, f"refused: {exc}")
            return
        with self._lock:
            other = self._joined.get(info.machine)
            taken = other is not None and other.daemon_id != info.daemon_id \
                and info.machine in self._up
            if not taken:
                self._joined[info.machine] = info
        if taken:
            self._reply(query, False, f"refused: machine '{info.machine}' already has a daemon "
                        f"(pid {other.pid} on {other.host})")
            return
        self._reply(query, True, f"joined coordinator pid {os.getpid()}")
        self._call(self._log.info, "daemon_joined", machine=info.machine, pid=info.pid,
                   host=info.host, working_dir=info.working_dir, lease_s=info.lease_s)

    def _reply(self, query, accepted: bool, message: str) -> None:
        query.reply(MachineKeys.join, contract.encode_record(contract.JoinReply(accepted,
                                                                                 message)))

    def _on_token(self, sample) -> None:
        try:
            machine = MachineKeys.machine_of(str(sample.key_expr))
        except contract.ContractError as exc:
            self._call(self._log.warning, "invalid_daemon_key", error=str(exc))
            return
        present = sample.kind == zenoh.SampleKind.PUT
        with self._lock:
            if present and machine not in self._joined:
                return  # a daemon that has not joined this coordinator (yet)
            changed = present != (machine in self._up)
            (self._up.add if present else self._up.discard)(machine)
            info = self._joined.get(machine)
        if changed:
            self._call(self._machine_changed, machine, present,
                       info.lease_s if info else None)

    def _on_report(self, sample) -> None:
        try:
            machine = MachineKeys.machine_of(str(sample.key_expr))
            report = contract.decode_report(sample.payload.to_bytes())
        except contract.ContractError as exc:
            self._call(self._log.warning, "invalid_daemon_report", error=str(exc))
            return
        self._call(self._dispatch, machine, report)

    # -- on the loop ---------------------------------------------------------------------

    def _call(self, function, *args, **kwargs) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(lambda: function(*args, **kwargs))

    def _machine_changed(self, machine: str, up: bool, lease_s: float | None) -> None:
        if up:
            self._log.info("daemon_up", machine=machine)
        else:
            self._log.warning("daemon_lost", machine=machine, lease_s=lease_s)
        self._changed.set()
        for listener in list(self._listeners.values()):
            listener.on_machine(machine, up)

    def _dispatch(self, machine: str, report: contract.Report) -> None:
        listener = self._listeners.get(report.dataflow)
        if listener is not None:
            listener.on_daemon_report(machine, report)
