"""The coordinator: everything process-wide, above the dataflows it runs.

It owns the signal handlers (SIGINT, SIGTERM, SIGHUP once: stop every dataflow gracefully;
again: kill all their processes), the logging set-up and the registry of running
dataflows. `dora run` is a coordinator running one dataflow in the foreground. Later the
control server (start/stop/lookup below are its verbs) and the remote daemons (another
`ExecutorFactory`) plug in here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid

from dora_supervisor import logs
from dora_supervisor.dataflow_runtime import DataflowRuntime
from dora_supervisor.descriptor import Dataflow
from dora_supervisor.errors import DoraError
from dora_supervisor.executor import ExecutorFactory
from dora_supervisor.local_executor import LocalExecutor
from dora_supervisor.log_routing import log_rotation

__all__ = ["Coordinator", "STOP_SIGNALS"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Coordinator:
    """Use as `async with Coordinator(...) as coordinator:`; leaving it waits for the
    dataflows started in the background and removes the signal handlers."""

    def __init__(self, log_format: str, out_dir: str,
                 new_executor: ExecutorFactory = LocalExecutor):
        self.log_format = log_format
        self.out_dir = out_dir
        self._new_executor = new_executor
        self._dataflows: dict[str, DataflowRuntime] = {}
        self._files: logs.RotatingJsonFiles | None = None
        self._interrupts = 0
        self._tasks: asyncio.TaskGroup | None = None
        self._background: set[asyncio.Task] = set()

    async def __aenter__(self) -> Coordinator:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
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

    def stop(self, dataflow_id: str, reason: str = "requested") -> None:
        """Stop one dataflow gracefully; its `run` returns when the tree has finished."""
        self._lookup(dataflow_id).stop(reason)

    def get(self, dataflow_id: str) -> DataflowRuntime | None:
        return self._dataflows.get(dataflow_id)

    def dataflows(self) -> list[DataflowRuntime]:
        """The running dataflows, in start order."""
        return list(self._dataflows.values())

    def _lookup(self, dataflow_id: str) -> DataflowRuntime:
        runtime = self._dataflows.get(dataflow_id)
        if runtime is None:
            raise DoraError(f"no running dataflow '{dataflow_id}'")
        return runtime

    def _register(self, df: Dataflow, descriptor: str,
                  dataflow_id: str | None) -> DataflowRuntime:
        if self._dataflows:
            # The one structlog sink writes to one directory: a second dataflow needs its
            # records routed by their `dataflow` field first (with the control plane).
            raise DoraError("this coordinator runs one dataflow at a time")
        dataflow_id = dataflow_id or str(uuid.uuid4())
        self._files = logs.RotatingJsonFiles(os.path.join(self.out_dir, dataflow_id),
                                             rotation=log_rotation(df))
        logs.configure(self.log_format, self._files)
        runtime = DataflowRuntime(df, dataflow_id, descriptor, self._new_executor)
        self._dataflows[dataflow_id] = runtime
        return runtime

    def _unregister(self, runtime: DataflowRuntime) -> None:
        del self._dataflows[runtime.dataflow_id]
        if self._files is not None:
            self._files.close()
            self._files = None

    # -- signals ---------------------------------------------------------------------

    def _on_signal(self, sig: int) -> None:
        self._interrupts += 1
        name = signal.Signals(sig).name
        for runtime in self.dataflows():
            if self._interrupts == 1:
                runtime.stop(name, signal=name)
            else:  # a second Ctrl-C: no more patience
                runtime.kill(signal=name)
