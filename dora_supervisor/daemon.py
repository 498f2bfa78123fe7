"""`dora daemon --machine NAME`: runs the nodes a coordinator deploys to this machine.

Its zenoh session is a router: this machine's nodes dial it on a Unix socket in its
private directory, and it dials the coordinator (and any daemon given to `--connect`), so
node-to-node messages between machines flow router to router. Per dataflow it runs a
`LocalExecutor` (process groups, rlimits, sampling) whose reports it forwards, in order,
to the coordinator, which decides everything.

Its life: join the coordinator (retried with backoff until accepted), declare its
liveliness token, carry out commands; when the coordinator's token vanishes (killed, or
cut off for its lease) kill every node at once, so that none runs unsupervised, and join
again. SIGINT/SIGTERM/SIGHUP: kill every node and leave.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import socket
import sys
import uuid

import structlog
import tenacity
import zenoh

from dora_api import contract
from dora_api.contract import MachineKeys
from dora_supervisor import __version__, cgroups, logs, rundirs
from dora_supervisor.descriptor import Limits
from dora_supervisor.errors import DoraError
from dora_supervisor.executor import Launch, Tallied
from dora_supervisor.local_executor import LocalExecutor
from dora_supervisor.network import NetworkSettings, open_router
from dora_supervisor.node_output import OutputLine, Stream
from dora_supervisor.samples import Enforced, Enforcement, Heartbeat, Sampled, Watch
from dora_supervisor.tree_model import Exited, Started

__all__ = ["serve", "Daemon", "JOIN_TIMEOUT_S", "JOIN_BACKOFF_MAX_S"]

JOIN_TIMEOUT_S = 1.0  # one join attempt waits this long for the coordinator's answer
JOIN_BACKOFF_MAX_S = 2.0  # attempts back off exponentially up to this
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _NotYet(Exception):
    """No coordinator answered the join: try again later."""


class _Forward:
    """The `Reports` of one dataflow's executor: every report becomes a record for the
    coordinator, published on the one key that keeps them in order."""

    def __init__(self, dataflow: str, publish):
        self._dataflow = dataflow
        self._publish = publish

    def on_report(self, event) -> None:
        """Every report crosses: the coordinator judges samples and heartbeats, takes the
        kernel's limit events and accounts for the ledgers exactly as for a local node."""
        df = self._dataflow
        match event:
            case Started():
                self._publish(contract.NodeStarted(df, event.node, event.incarnation,
                                                   event.pid))
            case Exited():
                self._publish(contract.NodeExited(df, event.node, event.incarnation,
                                                  event.code, event.signal))
            case Sampled():
                self._publish(contract.NodeSampled(df, event.node, event.incarnation,
                                                   event.at, str(event.state),
                                                   event.rss_bytes, event.cpu_time_s))
            case Heartbeat():
                self._publish(contract.NodeHeartbeat(df, event.node, event.incarnation,
                                                     event.at, event.taken_at,
                                                     event.waiting_since, event.excused_until))
            case Enforced():
                self._publish(contract.NodeEnforced(df, event.node, event.incarnation,
                                                    event.at, str(event.limit), event.measured,
                                                    event.threshold, str(event.enforced_by)))
            case Tallied():
                self._publish(contract.NodeTallied.of(df, event.node, event.ledger))

    def on_line(self, node: str, stream: Stream, line: OutputLine) -> None:
        self._publish(contract.NodeLine(self._dataflow, node, str(stream), line.shown))

    def on_note(self, node: str, incarnation: int, note: str) -> None:
        self._publish(contract.NodeNote(self._dataflow, node, incarnation, note))

    def on_machine(self, machine: str, up: bool) -> None:
        pass  # a daemon runs its own machine only


class Daemon:
    def __init__(self, machine: str, settings: NetworkSettings, working_dir: str):
        self.machine = machine
        self.settings = settings
        self.rundir = rundirs.make("daemon")
        offer = cgroups.probe()  # what each dataflow's LocalExecutor here will find
        enforcement = Enforcement() if offer is None else offer.enforcement
        self.info = contract.DaemonInfo(
            machine, str(uuid.uuid4()), os.getpid(), socket.gethostname(), __version__,
            contract.PROTOCOL_VERSION, working_dir, sys.executable, self.rundir,
            settings.lease_s, enforcement.as_fields())
        self._log = structlog.get_logger().bind(machine=machine)
        self._executors: dict[str, LocalExecutor] = {}
        self._commands: asyncio.Queue = asyncio.Queue()
        self._stop = asyncio.Event()
        self._seen = asyncio.Event()  # the coordinator's token is present
        self._gone = asyncio.Event()  # ... and has vanished since
        self._joined = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session = None
        self._publisher = None

    async def run(self) -> int:
        self._loop = asyncio.get_running_loop()
        for sig in _STOP_SIGNALS:
            self._loop.add_signal_handler(sig, self._stop.set)
        try:
            self._open()
            worker = asyncio.ensure_future(self._carry_out_commands())
            try:
                while not self._stop.is_set():
                    if not await self._join():
                        break
                    await self._serve_until_lost()
            finally:
                worker.cancel()
                await self._close_all()
        finally:
            if self._session is not None:
                self._session.close()
            shutil.rmtree(self.rundir, ignore_errors=True)
            for sig in _STOP_SIGNALS:
                self._loop.remove_signal_handler(sig)
        self._log.info("daemon_stopped")
        return 0

    def _open(self) -> None:
        self._session = open_router(self.settings,
                                    contract.unix_endpoint(self.info.router_socket))
        direct = dict(indirect=False)
        self._session.liveliness().declare_subscriber(
            MachineKeys.coordinator, zenoh.handlers.Callback(self._on_coordinator, **direct),
            history=True)
        self._session.declare_subscriber(
            MachineKeys.to(self.machine), zenoh.handlers.Callback(self._on_command, **direct))
        self._publisher = self._session.declare_publisher(
            MachineKeys.reports(self.machine), congestion_control=zenoh.CongestionControl.BLOCK,
            reliability=zenoh.Reliability.RELIABLE)
        self._log.info("daemon_started", pid=os.getpid(), connect=list(self.settings.connect),
                       listen=list(self.settings.listen), working_dir=self.info.working_dir,
                       lease_s=self.settings.lease_s, tls=self.settings.tls is not None,
                       enforced_by=self.info.enforcement)

    # -- joining -------------------------------------------------------------------------

    async def _join(self) -> bool:
        """Introduce ourselves until the coordinator accepts (True) or we are stopped."""
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(_NotYet),
            wait=tenacity.wait_exponential(multiplier=0.05, max=JOIN_BACKOFF_MAX_S)
            + tenacity.wait_random(0, 0.05),
            stop=lambda _: self._stop.is_set(),
            before_sleep=self._waiting,
            retry_error_callback=lambda _: None)
        async def attempt() -> contract.JoinReply:
            return await asyncio.to_thread(self._ask_join)

        reply = await retrying(attempt)
        if reply is None:
            return False
        if not reply.accepted:
            raise DoraError(f"the coordinator {reply.message}")
        self._log.info("daemon_joined", answer=reply.message)
        return True

    def _waiting(self, state: tenacity.RetryCallState) -> None:
        if state.attempt_number == 1:
            self._log.info("waiting_for_coordinator", connect=list(self.settings.connect))

    def _ask_join(self) -> contract.JoinReply:
        """One join attempt (in a worker thread: the query blocks)."""
        replies = self._session.get(MachineKeys.join, payload=contract.encode_record(self.info),
                                    timeout=JOIN_TIMEOUT_S)
        for reply in replies:
            if reply.ok is not None:
                try:
                    return contract.decode_join_reply(reply.ok.payload.to_bytes())
                except contract.ContractError as exc:
                    raise DoraError(f"the coordinator answered the join with {exc}") from None
        raise _NotYet()

    async def _serve_until_lost(self) -> None:
        """Hold our token while the coordinator's is there; then kill every node."""
        token = self._session.liveliness().declare_token(MachineKeys.daemon(self.machine))
        self._joined = True
        try:
            if await self._first(self._seen, timeout=2 * JOIN_TIMEOUT_S + self.settings.lease_s):
                await self._first(self._gone)
        finally:
            self._joined = False
            if not self._stop.is_set():
                self._log.warning("coordinator_lost", dataflows=sorted(self._executors),
                                  lease_s=self.settings.lease_s)
            await self._close_all()
            token.undeclare()

    async def _first(self, event: asyncio.Event, timeout: float | None = None) -> bool:
        """Wait for `event` (True), or the stop signal or `timeout` (False)."""
        waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._stop.wait())]
        done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        return event.is_set() and not self._stop.is_set()

    # -- commands ------------------------------------------------------------------------

    async def _carry_out_commands(self) -> None:
        while True:
            command = await self._commands.get()
            if not self._joined:
                self._log.warning("command_ignored", kind=command.kind,
                                  why="not joined to a coordinator")
                continue
            match command:
                case contract.SpawnNode():
                    await self._spawn(command)
                case contract.KillNode(dataflow=dataflow, node=node, incarnation=incarnation):
                    if dataflow in self._executors:
                        self._executors[dataflow].kill(node, incarnation)
                case contract.KillAll(dataflow=dataflow):
                    if dataflow in self._executors:
                        self._executors[dataflow].kill_all()
                case contract.CloseDataflow(dataflow=dataflow):
                    await self._close(dataflow)
                    self._publish(contract.DataflowClosed(dataflow))

    async def _spawn(self, command: contract.SpawnNode) -> None:
        executor = self._executors.get(command.dataflow)
        if executor is None:
            os.makedirs(os.path.join(self.rundir, command.dataflow), mode=0o700, exist_ok=True)
            executor = LocalExecutor(self._log.bind(dataflow=command.dataflow),
                                     _Forward(command.dataflow, self._publish),
                                     command.sample_interval_s)
            await executor.__aenter__()
            self._executors[command.dataflow] = executor
        env = dict(os.environ)
        env.update({key: os.path.expandvars(value) for key, value in command.target_env.items()})
        env.update(command.env)
        self._unlink_stale_sockets(command.env)
        if not os.path.isdir(command.cwd):
            self._publish(contract.NodeLine(
                command.dataflow, command.node, str(Stream.STDERR),
                f"dora daemon on '{self.machine}': working directory {command.cwd} does not "
                "exist (relative paths resolve against the daemon's --working-dir)"))
        watch = None if command.watch is None else Watch(**command.watch)
        await executor.spawn(Launch(command.node, command.incarnation, command.restart_count,
                                    command.argv, env, command.cwd, Limits(**command.limits),
                                    watch))

    def _unlink_stale_sockets(self, env: dict[str, str]) -> None:
        """The socket of the node's previous incarnation, if it left it behind."""
        try:
            config = contract.config_from_environ(env)
        except contract.ContractError:
            return
        for endpoint in config.endpoints.listen if config else ():
            path = contract.unix_socket_of(endpoint)
            if path and path.startswith(self.rundir + os.sep):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass

    async def _close(self, dataflow: str) -> None:
        executor = self._executors.pop(dataflow, None)
        if executor is not None:
            await executor.__aexit__(None, None, None)
        shutil.rmtree(os.path.join(self.rundir, dataflow), ignore_errors=True)

    async def _close_all(self) -> None:
        for dataflow in list(self._executors):
            await self._close(dataflow)

    def _publish(self, record) -> None:
        try:
            self._publisher.put(contract.encode_record(record))
        except zenoh.ZError:
            pass  # the session is closing: nobody is listening anymore

    # -- zenoh callbacks (zenoh threads) -------------------------------------------------

    def _on_coordinator(self, sample) -> None:
        present = sample.kind == zenoh.SampleKind.PUT
        self._loop.call_soon_threadsafe(self._coordinator_changed, present)

    def _coordinator_changed(self, present: bool) -> None:
        if present:
            self._gone.clear()
            self._seen.set()
        else:
            self._seen.clear()
            self._gone.set()

    def _on_command(self, sample) -> None:
        try:
            command = contract.decode_command(sample.payload.to_bytes())
        except contract.ContractError as exc:
            self._loop.call_soon_threadsafe(functools.partial(
                self._log.warning, "invalid_command", error=str(exc)))
            return
        self._loop.call_soon_threadsafe(self._commands.put_nowait, command)


def serve(machine: str, settings: NetworkSettings, working_dir: str, log_format: str) -> int:
    """Run the daemon until a stop signal; 0 then, or a DoraError (refused, cannot open)."""
    logs.configure(log_format, None, sys.stderr, node_lines=False)
    return asyncio.run(Daemon(machine, settings, working_dir).run())
