"""`build:` steps, run before a dataflow starts (as `dora run` does in dora-rs 1.x)."""

from __future__ import annotations

import subprocess
import sys

from dora_supervisor.descriptor import Dataflow
from dora_supervisor.errors import DoraError
from dora_supervisor.launch import node_cwd, process_env

__all__ = ["run_builds"]


def run_builds(df: Dataflow) -> None:
    """Run every local node's build commands in its working directory, in order.

    Raises DoraError naming the node and the command when one fails."""
    for node in df.nodes:
        if node.machine:
            continue
        env = process_env(node)
        for command in node.build:
            print(f"dora: building node '{node.id}': {command}", file=sys.stderr)
            result = subprocess.run(command, shell=True, cwd=node_cwd(df, node), env=env,
                                    stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if result.returncode != 0:
                output = (result.stderr or result.stdout).strip().splitlines()
                last = f": {output[-1]}" if output else ""
                raise DoraError(f"node '{node.id}': build step `{command}` failed with exit "
                                f"code {result.returncode}{last}")
