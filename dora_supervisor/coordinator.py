"""The coordinator: everything process-wide, above the dataflows it runs.

It owns the signal handlers (SIGINT, SIGTERM, SIGHUP once: stop every dataflow gracefully;
again: kill all their processes), the logging set-up (records routed to files by their
dataflow) and the registry of dataflows: the running ones, and the last few that finished
(so `dora list`, `status` and `logs` still show how they ended). `dora run` is a
coordinator running one dataflow in the foreground; `dora up` runs one in the background
with many. The control server (`control_service`) calls the verbs below. With `network`
settings (`dora up --listen`) it also runs the `DaemonHub`: a dataflow with nodes deployed
to other machines gets a `MachineExecutor` around the local one.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import uuid
from typing import TextIO

from dora_supervisor import logs
from dora_supervisor.daemon_hub import DaemonHub
from dora_supervisor.dataflow_runtime import DataflowRuntime
from dora_supervisor.descriptor import Dataflow
from dora_supervisor.errors import DoraError
from dora_supervisor.executor import ExecutorFactory
from dora_supervisor.local_executor import LocalExecutor
from dora_supervisor.log_routing import log_rotation
from dora_supervisor.machine_executor import MachineExecutor
from dora_supervisor.network import NetworkSettings

__all__ = ["Coordinator", "STOP_SIGNALS", "FINISHED_KEPT"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FINISHED_KEPT = 32  # finished dataflows remembered for `dora list/status/logs`


class Coordinator:
    """Use as `async with Coordinator(...) as coordinator:`; leaving it waits for the
    dataflows started in the background and removes the signal handlers."""

    def __init__(self, log_format: str, out_dir: str,
                 new_executor: ExecutorFactory = LocalExecutor, *,
                 log_stream: TextIO | None = None, node_lines: bool = True,
                 network: NetworkSettings | None = None):
        self.log_format = log_format
        self.network = network
        self.hub: DaemonHub | None = None  # with `network`, once entered
        self.out_dir = out_dir
        self._new_executor = new_executor
        self._dataflows: dict[str, DataflowRuntime] = {}
        self._finished: collections.deque[DataflowRuntime] = collections.deque(
            maxlen=FINISHED_KEPT)
        self._files = logs.DataflowFiles(out_dir)
        self._log_stream = log_stream
        self._node_lines = node_lines
        self._interrupts = 0
        self.interrupted = asyncio.Event()  # a stop signal arrived
        self._tasks: asyncio.TaskGroup | None = None
        self._background: set[asyncio.Task] = set()

    async def __aenter__(self) -> Coordinator:
        logs.configure(self.log_format, self._files, self._log_stream, self._node_lines)
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
        if self.network is not None:
            hub = DaemonHub(self.network)
            await hub.__aenter__()
            self.hub = hub
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        return self

    async def __aexit__(self, *exc_info) -> None:
        """Our own exception, if any, propagates as it is (not in an ExceptionGroup); the
        dataflows still running in the background are cancelled first (their executors
        kill their processes on the way out)."""
        if exc_info[0] is not None:
            for task in self._background:
                task.cancel()
        try:
            await self._tasks.__aexit__(None, None, None)
        finally:
            if self.hub is not None:
                await self.hub.__aexit__(None, None, None)
            loop = asyncio.get_running_loop()
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)

    # -- the registry ------------------------------------------------------------------

    async def run_dataflow(self, df: Dataflow, descriptor: str,
                           dataflow_id: str | None = None) -> DataflowRuntime:
        """Run `df` in the caller's task until it ends (`dora run`); its runtime after."""
        runtime = self._register(df, descriptor, dataflow_id)
        try:
            await runtime.run()
        finally:
            self._unregister(runtime)
        return runtime

    def start(self, df: Dataflow, descriptor: str,
              dataflow_id: str | None = None) -> DataflowRuntime:
        """Run `df` in the background (a task of this coordinator); its runtime at once."""
        runtime = self._register(df, descriptor, dataflow_id)

        async def run() -> None:
            try:
                await runtime.run()
            finally:
                self._unregister(runtime)

        task = self._tasks.create_task(run(), name=f"dataflow {runtime.dataflow_id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return runtime

    async def wait_all(self) -> None:
        """Until every dataflow started in the background has ended."""
        if self._background:
            await asyncio.wait(list(self._background))

    async def check_machines(self, df: Dataflow, wait_s: float = 0.0) -> None:
        """Every machine `df` deploys to has a daemon (waiting up to `wait_s` for them), or
        a DoraError naming the missing ones."""
        needed = _machines_of(df)
        if not needed:
            return
        self._require_hub(needed)
        missing = sorted(await self.hub.wait_for(needed, wait_s))
        if missing:
            waited = f" after waiting {wait_s:g} s" if wait_s else ""
            raise DoraError(f"no daemon for {_machines(missing)}{waited}: start `dora daemon "
                            f"--machine {missing[0]} --connect ENDPOINT` there, or pass "
                            "--wait-for-machines DURATION")

    def stop(self, dataflow_id: str, reason: str = "requested") -> None:
        """Stop one dataflow gracefully; its `run` returns when the tree has finished."""
        self._lookup(dataflow_id).stop(reason)

    def get(self, dataflow_id: str) -> DataflowRuntime | None:
        return self._dataflows.get(dataflow_id)

    def dataflows(self) -> list[DataflowRuntime]:
        """The running dataflows, in start order."""
        return list(self._dataflows.values())

    def finished(self) -> list[DataflowRuntime]:
        """The last `FINISHED_KEPT` dataflows that ended, oldest first."""
        return list(self._finished)

    def log_dir(self, dataflow_id: str) -> str:
        """Where the dataflow's records are written (absolute)."""
        return self._files.directory(dataflow_id)

    def _lookup(self, dataflow_id: str) -> DataflowRuntime:
        runtime = self._dataflows.get(dataflow_id)
        if runtime is None:
            raise DoraError(f"no running dataflow '{dataflow_id}'")
        return runtime

    def _register(self, df: Dataflow, descriptor: str,
                  dataflow_id: str | None) -> DataflowRuntime:
        same_name = [r for r in self._dataflows.values() if df.name and r.df.name == df.name]
        if same_name:
            raise DoraError(f"a dataflow named '{df.name}' is already running "
                            f"({same_name[0].dataflow_id}); choose another --name")
        dataflow_id = dataflow_id or str(uuid.uuid4())
        if dataflow_id in self._dataflows:
            raise DoraError(f"dataflow '{dataflow_id}' is already running")
        self._require_hub(_machines_of(df))
        self._files.open(dataflow_id, rotation=log_rotation(df))
        runtime = DataflowRuntime(df, dataflow_id, descriptor,
                                  self._executor_for(df, dataflow_id), self.hub)
        self._dataflows[dataflow_id] = runtime
        return runtime

    def _require_hub(self, machines: list[str]) -> None:
        if machines and self.hub is None:
            raise DoraError(f"the dataflow deploys nodes to {_machines(machines)}, but this "
                            "coordinator does not listen for daemons: start it with `dora up "
                            "--listen tcp/HOST:PORT` (`dora run` runs nodes on this machine "
                            "only)")

    def _executor_for(self, df: Dataflow, dataflow_id: str) -> ExecutorFactory:
        if not any(n.machine for n in df.nodes):
            return self._new_executor
        machine_of = {n.id: n.machine for n in df.nodes}

        def new_executor(log, reports, interval) -> MachineExecutor:
            return MachineExecutor(log, reports, interval,
                                   local=self._new_executor(log, reports, interval),
                                   daemons=self.hub, dataflow_id=dataflow_id,
                                   machine_of=machine_of)

        return new_executor

    def _unregister(self, runtime: DataflowRuntime) -> None:
        del self._dataflows[runtime.dataflow_id]
        self._files.close(runtime.dataflow_id)
        self._finished.append(runtime)

    # -- signals ---------------------------------------------------------------------

    def _on_signal(self, sig: int) -> None:
        self._interrupts += 1
        self.interrupted.set()
        name = signal.Signals(sig).name
        for runtime in self.dataflows():
            if self._interrupts == 1:
                runtime.stop(name, signal=name)
            else:  # a second Ctrl-C: no more patience
                runtime.kill(signal=name)


def _machines_of(df: Dataflow) -> list[str]:
    """The machines `df` deploys nodes to (other than the coordinator's)."""
    return sorted({n.machine for n in df.nodes if n.machine})


def _machines(names: list[str]) -> str:
    quoted = ", ".join(f"'{name}'" for name in names)
    return f"machine {quoted}" if len(names) == 1 else f"machines {quoted}"
