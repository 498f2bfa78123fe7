"""What a node is started with: argv, working directory, environment and its config, put
together as the `Launch` an executor carries out.

A node deployed to another machine (`site`: the daemon there) is resolved for that
machine: the daemon's working directory stands for the descriptor's directory (relative
`path:`, operator files, `deploy.working_dir` and the descriptor itself), its Python runs
`.py` nodes, and the descriptor's `env:` is expanded there from the daemon's environment.
"""

from __future__ import annotations

import os
import posixpath
import sys

import attrs

from dora_api import contract
from dora_supervisor.descriptor import Dataflow, NodeSpec
from dora_supervisor.executor import Launch
from dora_supervisor.graph import upstream_nodes
from dora_supervisor.samples import Watch
from dora_supervisor.validate import resolve_command

__all__ = ["node_argv", "node_cwd", "node_config", "node_env", "process_env", "consumers_of",
           "link_slots", "node_launch", "site_endpoints", "LINK_LEASE_S"]

# zenoh's own link lease for local nodes (and the coordinator's session). A frozen local
# process is seen in its kernel state (sampled by the executor, judged by `health`) within
# `health.lease`, and a process that dies closes its Unix sockets at once; the link lease
# only has to catch links that break otherwise (a frozen coordinator: its nodes leave
# after this long), and every link sends keepalives 4 times a lease: with 200 idle nodes
# that was 1.2 % of a core for the coordinator at 10 s, about 0.3 % at 30 s.
LINK_LEASE_S = 120.0


def consumers_of(df: Dataflow, producer: str) -> dict[str, list[str]]:
    """For each output of `producer`, the other nodes that consume it."""
    result: dict[str, list[str]] = {}
    for node in df.nodes:
        for spec in node.inputs:
            if not spec.is_timer and spec.source_node == producer and node.id != producer:
                consumers = result.setdefault(spec.source_output, [])
                if node.id not in consumers:
                    consumers.append(node.id)
    return result


def node_argv(df: Dataflow, node: NodeSpec, python: str = sys.executable) -> list[str]:
    if node.operators:
        return [python, "-u", "-m", "dora_api.runtime"]
    return resolve_command(node, df.base_dir, python)


def node_cwd(df: Dataflow, node: NodeSpec) -> str:
    return os.path.normpath(os.path.join(df.base_dir, node.working_dir or ""))


def process_env(node: NodeSpec) -> dict[str, str]:
    """Our environment plus the node's `env:`, with `$VAR` taken from ours (dora-rs)."""
    env = dict(os.environ)
    env.update({key: os.path.expandvars(value) for key, value in node.env.items()})
    return env


def node_config(df: Dataflow, node: NodeSpec, *, dataflow_id: str, descriptor: str,
                incarnation: int, restart_count: int, wait_for: tuple[str, ...],
                endpoints: contract.Endpoints,
                lease_s: float | None = None) -> contract.NodeConfig:
    """What the node process reads back with `dora_api.contract.config_from_environ`."""
    return contract.NodeConfig(
        dataflow_id=dataflow_id,
        node_id=node.id,
        prefix=df.prefix,
        inputs={i.id: contract.InputConfig(i.source, i.queue_size, i.queue_policy)
                for i in node.inputs},
        outputs=node.outputs,
        consumers=consumers_of(df, node.id),
        endpoints=endpoints,
        wait_for=wait_for,
        incarnation=incarnation,
        restart_count=restart_count,
        lease_s=lease_s or max(node.health.lease, LINK_LEASE_S),
        descriptor=descriptor,
        base_dir=df.base_dir,
        operators=[contract.OperatorConfig(
            op.id, op.kind, os.path.normpath(os.path.join(df.base_dir, op.path)),
            [i.id for i in op.inputs], op.outputs) for op in node.operators],
        min_log_level=node.logs.min_level, send_logs_as=node.logs.send_as)


def node_env(df: Dataflow, node: NodeSpec, *, dataflow_id: str, descriptor: str,
             incarnation: int, restart_count: int, wait_for: tuple[str, ...],
             endpoints: contract.Endpoints, site: contract.DaemonInfo | None = None
             ) -> dict[str, str]:
    """The node's environment: `process_env` plus its encoded `NodeConfig`; for a node on
    another machine only dora's variables (the daemon adds its own environment)."""
    config = node_config(df, node, dataflow_id=dataflow_id, descriptor=descriptor,
                         incarnation=incarnation, restart_count=restart_count,
                         wait_for=wait_for, endpoints=endpoints,
                         lease_s=site.lease_s if site else None)
    env = process_env(node) if site is None else {}
    env[contract.CONFIG_ENV] = contract.encode_config(config)
    env["PYTHONUNBUFFERED"] = "1"
    env[contract.NODE_ID_ENV] = node.id
    env[contract.DATAFLOW_ID_ENV] = dataflow_id
    return env


def link_slots(df: Dataflow, node: NodeSpec) -> tuple[str, list[str]]:
    """The node's socket slot (stable across restarts, so consumers can redial it) and
    the slots of the producers it consumes from on its own machine (the others are
    reached through the machines' routers)."""
    slots = {n.id: f"n{i}" for i, n in enumerate(df.nodes)}
    machines = {n.id: n.machine for n in df.nodes}
    return slots[node.id], [slots[u] for u in sorted(upstream_nodes(node))
                            if u in slots and machines[u] == node.machine]


def site_endpoints(site: contract.DaemonInfo, dataflow_id: str, slot: str,
                   upstream_slots: list[str]) -> contract.Endpoints:
    """A node on a daemon's machine: it listens in the daemon's directory and dials the
    daemon's router and the producers it consumes from on that machine."""
    return contract.Endpoints(
        listen=[contract.unix_endpoint(site.node_socket(dataflow_id, slot))],
        connect=[contract.unix_endpoint(site.router_socket)] + [
            contract.unix_endpoint(site.node_socket(dataflow_id, s)) for s in upstream_slots])


def node_launch(df: Dataflow, node: NodeSpec, *, dataflow_id: str, descriptor: str,
                incarnation: int, restart_count: int, wait_for: tuple[str, ...],
                endpoints: contract.Endpoints, watch: Watch | None = None,
                site: contract.DaemonInfo | None = None) -> Launch:
    """One incarnation of `node`, ready for an executor (on `site`'s machine if given),
    measured as `watch` says."""
    python, target_env = sys.executable, {}
    if site is not None:
        descriptor = posixpath.join(site.working_dir, posixpath.relpath(descriptor,
                                                                        df.base_dir))
        df = attrs.evolve(df, base_dir=site.working_dir)
        python, target_env = site.python, dict(node.env)
    env = node_env(df, node, dataflow_id=dataflow_id, descriptor=descriptor,
                   incarnation=incarnation, restart_count=restart_count, wait_for=wait_for,
                   endpoints=endpoints, site=site)
    return Launch(node.id, incarnation, restart_count, node_argv(df, node, python), env,
                  node_cwd(df, node), node.limits, watch=watch, target_env=target_env)
