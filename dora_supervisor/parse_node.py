"""One entry of `nodes:` -> a `NodeSpec`: its command, inputs, operators, restart policy,
limits and health, with the dora-rs 1.x synonyms of each key.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import attrs

from dora_api.contract import (
    LEVELS,
    LOCAL_MACHINE,
    TIMER_PREFIX,
    ContractError,
    check_machine_name,
    parse_log_source,
)
from dora_supervisor.descriptor import (
    AUTO_SHUTDOWN,
    BRUTAL_KILL,
    CPU_MODES,
    QUEUE_POLICIES,
    RESTART_POLICIES,
    STRATEGIES,
    Backoff,
    CpuMode,
    Health,
    InputSpec,
    Limits,
    LogSettings,
    ModuleRef,
    NodeSpec,
    OperatorSpec,
    RestartSpec,
    SupervisionFlags,
    parse_timer,
)
from dora_supervisor.keys import (
    BACKOFF_KEYS,
    CUSTOM_KEYS,
    DEPLOY_KEYS,
    FLAG_KEYS,
    HEALTH_KEYS,
    INPUT_KEYS,
    LIMIT_KEYS,
    MODULE_NODE_KEYS,
    MODULE_ONLY_KEYS,
    NO_EFFECT_NODE_KEYS,
    NO_EFFECT_OPERATOR_KEYS,
    NODE_KEYS,
    OPERATOR_KEYS,
    RESTART_KEYS,
)
from dora_supervisor.parse_values import ID_PATTERN, ValueParser, kind_of, positive_duration
from dora_supervisor.units import parse_duration, parse_percent, parse_size
from dora_supervisor.yamlsrc import Path, format_path

__all__ = ["NodeParser"]

ID_PARAM = re.compile(r"^[A-Za-z0-9_]+$")


class NodeParser(ValueParser):
    """The node sections of a descriptor (and the supervisor flags, which groups and module
    nodes share); `parse` adds the top level and groups."""

    def flags(self, raw: dict, path: Path, defaults: SupervisionFlags) -> SupervisionFlags:
        return SupervisionFlags(
            strategy=self.choice(raw.get("strategy"), path + ("strategy",), STRATEGIES,
                                 defaults.strategy),
            max_restarts=self.integer(raw.get("max_restarts"), path + ("max_restarts",),
                                      defaults.max_restarts),
            max_seconds=self.convert(raw.get("max_seconds"), path + ("max_seconds",),
                                     positive_duration, defaults.max_seconds),
            auto_shutdown=self.choice(raw.get("auto_shutdown"), path + ("auto_shutdown",),
                                      AUTO_SHUTDOWN, defaults.auto_shutdown),
        )

    def params(self, value: Any, path: Path) -> dict[str, str]:
        """A module node's `params`: [A-Za-z0-9_] keys, distinct as `PARAM_<KEY>`."""
        result: dict[str, tuple[str, str]] = {}  # PARAM_<KEY> -> (key, value)
        for key, item in self.env(value, path).items():
            name = f"PARAM_{key.upper()}"
            if not ID_PARAM.match(key):
                self.problem(path + (key,), "a param name has only letters, digits and '_'")
            elif name in result:
                self.problem(path + (key,), f"params '{result[name][0]}' and '{key}' are both "
                                            f"the variable {name}")
            else:
                result[name] = (key, item)
        return {key: item for key, item in result.values()}

    def module_ref(self, raw: dict, path: Path, node_id: str) -> ModuleRef:
        """A node with `module:`: only the module's wiring and flags belong on it."""
        for key in raw:
            if key not in MODULE_NODE_KEYS:
                self.problem(path + (key,), f"node '{node_id}' has both '{key}' and 'module'; "
                                            "a module node's nodes are in its module file")
        deploy = self.mapping(raw.get("deploy"), path + ("deploy",), DEPLOY_KEYS)
        machine = self.machine(deploy, path)
        return ModuleRef(
            id=node_id, file=self.text(raw["module"], path + ("module",)) or "",
            inputs=self.inputs(raw.get("inputs"), path + ("inputs",)),
            outputs=self.string_list(raw.get("outputs"), path + ("outputs",)),
            params=self.params(raw.get("params"), path + ("params",)),
            flags={key: raw[key] for key in FLAG_KEYS if key in raw},
            machine=machine, line=self.lines.of(path),
            where=path, origin=self.origin)
    def machine(self, deploy: dict, path: Path) -> str | None:
        """`deploy.machine`: a daemon's machine name, None for the coordinator's own
        (absent, or `local`)."""
        machine = deploy.get("machine")
        if machine is None or machine == "" or str(machine) == LOCAL_MACHINE:
            return None
        if isinstance(machine, bool) or not isinstance(machine, str | int):
            self.problem(path + ("deploy", "machine"), "expected a machine name")
            return None
        try:
            return check_machine_name(str(machine))
        except ContractError as exc:
            self.problem(path + ("deploy", "machine"), str(exc))
            return None

    def inputs(self, value: Any, path: Path) -> tuple[InputSpec, ...]:
        if value is None:
            return ()
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping of input ids to sources, got {kind_of(value)}")
            return ()
        result = []
        for input_id, mapping in value.items():
            where = path + (input_id,)
            if isinstance(mapping, str):
                spec = InputSpec(input_id, mapping.strip(), where=where)
            elif isinstance(mapping, dict):
                raw = self.mapping(mapping, where, INPUT_KEYS)
                source = raw.get("source")
                if not isinstance(source, str):
                    self.problem(where + ("source",), "missing 'source' (e.g. node/output)")
                    continue
                size = self.integer(raw.get("queue_size"), where + ("queue_size",), None, 1)
                default_policy = "drop_oldest" if size else "backpressure"
                spec = InputSpec(
                    input_id, source.strip(), size,
                    self.choice(raw.get("queue_policy"), where + ("queue_policy",),
                                QUEUE_POLICIES, default_policy),
                    self.convert(raw.get("input_timeout"), where + ("input_timeout",),
                                 parse_duration), where=where)
                if spec.input_timeout is not None:
                    self.problem(where + ("input_timeout",),
                                 "'input_timeout' is accepted but has no effect here",
                                 warning=True)
            else:
                self.problem(where, f"expected 'node/output' or a mapping, got {kind_of(mapping)}")
                continue
            if spec.is_timer:
                if spec.source.startswith(TIMER_PREFIX):
                    self.convert(spec.source, where, parse_timer)
                elif self.convert(spec.source, where, parse_log_source, False) is None:
                    self.problem(where, f"unknown built-in input '{spec.source}' (expected "
                                        "dora/timer/... or dora/logs...)")
            elif spec.source.count("/") < 1 or "" in spec.source.split("/"):
                self.problem(where, f"malformed source '{spec.source}' (expected node/output)")
            result.append(spec)
        return tuple(result)

    def either(self, nested: dict, path: Path, raw_node: dict, flat: str) -> tuple[Any, Path]:
        """Value and key path of `path` (e.g. restart.policy) or its node-level synonym."""
        flat_path = path[:2] + (flat,)  # a node's path is ("nodes", i)
        if path[-1] in nested and flat in raw_node:
            self.problem(flat_path, f"'{flat}' and '{format_path(path[2:])}' mean the same; "
                                    "give only one")
        return (nested[path[-1]], path) if path[-1] in nested else (raw_node.get(flat), flat_path)

    def restart(self, raw_node: dict, path: Path) -> RestartSpec:
        rpath = path + ("restart",)
        raw = self.mapping(raw_node.get("restart"), rpath, RESTART_KEYS)
        policy, ppath = self.either(raw, rpath + ("policy",), raw_node, "restart_policy")
        policy = RESTART_POLICIES[self.choice(policy, ppath, tuple(RESTART_POLICIES), "transient")]
        bpath = rpath + ("backoff",)
        braw = self.mapping(raw.get("backoff"), bpath, BACKOFF_KEYS)
        defaults = Backoff()
        initial, ipath = self.either(braw, bpath + ("initial",), raw_node, "restart_delay")
        cap, cap_path = self.either(braw, bpath + ("max",), raw_node, "max_restart_delay")
        initial = self.convert(initial, ipath, parse_duration, defaults.initial)
        # dora-rs has no cap unless `max_restart_delay` is given: a long `restart_delay` alone
        # must not fall foul of the default cap.
        cap = self.convert(cap, cap_path, parse_duration, max(defaults.max, initial))
        backoff = Backoff(
            initial=initial, max=cap,
            multiplier=self.number(braw.get("multiplier"), bpath + ("multiplier",),
                                   defaults.multiplier),
            jitter=self.number(braw.get("jitter"), bpath + ("jitter",), defaults.jitter),
        )
        if backoff.multiplier < 1:
            self.problem(bpath + ("multiplier",), "the multiplier must be >= 1")
        if backoff.jitter > 1:
            self.problem(bpath + ("jitter",), "the jitter is a fraction between 0 and 1")
        if backoff.max < backoff.initial:
            self.problem(cap_path, "the maximum delay is smaller than the initial one")
        max_restarts, mpath = self.either(raw, rpath + ("max_restarts",), raw_node, "max_restarts")
        window, window_path = self.either(raw, rpath + ("window",), raw_node, "restart_window")
        max_restarts = self.integer(max_restarts, mpath, None)
        return RestartSpec(
            policy=policy, backoff=backoff,
            max_restarts=max_restarts or None,  # dora-rs: 0 means unlimited
            window=self.convert(window, window_path, parse_duration))

    def operators(self, raw_node: dict, path: Path) -> tuple[OperatorSpec, ...]:
        entries: list[tuple[Path, Any]] = []
        if "operators" in raw_node:
            value = raw_node["operators"]
            if not isinstance(value, list) or not value:
                self.problem(path + ("operators",), "expected a non-empty list of operators")
            else:
                entries += [(path + ("operators", i), op) for i, op in enumerate(value)]
        if "operator" in raw_node:
            entries.append((path + ("operator",), raw_node["operator"]))
        result = []
        for where, op in entries:
            if not isinstance(op, dict):
                self.problem(where, f"expected an operator mapping, got {kind_of(op)}")
                continue
            raw = self.mapping(op, where, OPERATOR_KEYS, NO_EFFECT_OPERATOR_KEYS)
            op_id = raw.get("id", raw_node.get("id") if where[-1] == "operator" else None)
            if not isinstance(op_id, str) or not ID_PATTERN.fullmatch(op_id):
                self.problem(where + ("id",), f"missing or invalid operator id {op_id!r}")
                continue
            sources = [k for k in ("python", "shared-library", "wasm") if k in raw]
            if len(sources) != 1:
                self.problem(where + tuple(sources[1:2]), f"operator '{op_id}' has " + (
                    f"both '{sources[0]}' and '{sources[1]}'; give only one" if sources
                    else "nothing to run (give 'python' or 'shared-library')"))
                continue
            kind = sources[0]
            src = raw[kind]
            if isinstance(src, dict) and kind == "python":
                src = src.get("source")
            if kind == "wasm":
                self.problem(where + ("wasm",), "wasm operators are not supported")
                continue
            if not isinstance(src, str) or not src:
                self.problem(where + (kind,), "expected a file path")
                continue
            result.append(OperatorSpec(op_id, kind, src,
                                       self.inputs(raw.get("inputs"), where + ("inputs",)),
                                       self.string_list(raw.get("outputs"),
                                                        where + ("outputs",))))
        return tuple(result)

    def node(self, value: Any, path: Path,
             global_env: dict[str, str]) -> NodeSpec | ModuleRef | None:
        raw = self.mapping(value, path, NODE_KEYS, NO_EFFECT_NODE_KEYS)
        if not raw:
            if isinstance(value, dict) or value is None:
                self.problem(path, "a node needs at least an 'id'")
            return None
        node_id = raw.get("id")
        if not isinstance(node_id, str) or not ID_PATTERN.fullmatch(node_id) or node_id == "dora":
            self.problem(path + ("id",), f"missing or invalid node id {node_id!r} (letters, "
                                         "digits, '_', '.', '-'; not 'dora')")
            return None
        if "module" in raw:
            return self.module_ref(raw, path, node_id)
        for key in MODULE_ONLY_KEYS & raw.keys():
            self.problem(path + (key,), f"'{key}' applies only to a module node (one with "
                                        "'module')")
        custom = self.mapping(raw.get("custom"), path + ("custom",), CUSTOM_KEYS)
        where = path + ("custom",) if "custom" in raw else path
        spec_path = self.text(raw.get("path"), path + ("path",))
        run = self.text(custom.get("run"), where + ("run",))
        if custom.get("source") is not None:
            spec_path = self.text(custom["source"], where + ("source",))
        operators = self.operators(raw, path)
        kinds = [k for k, v in (("'path'", raw.get("path")),
                                ("'custom.source'", custom.get("source")),
                                ("'custom.run'", custom.get("run")),
                                ("'operators'", raw.get("operators")),
                                ("'operator'", raw.get("operator"))) if v]
        if not kinds:
            self.problem(path, f"node '{node_id}' has nothing to run (give 'path', "
                               "'custom.run', 'operators', 'operator' or 'module')")
        elif len(kinds) > 1:
            self.problem(path, f"node '{node_id}' has both {kinds[0]} and {kinds[1]}; "
                               "give only one")
        args, args_path = self.either(custom, where + ("args",), raw, "args")
        if isinstance(args, str):
            try:
                args = shlex.split(args)
            except ValueError as exc:
                self.problem(args_path, f"cannot split arguments: {exc}")
                args = []
        if args is not None and not (isinstance(args, list) and all(
                isinstance(a, str | int | float) for a in args)):
            self.problem(args_path, "expected a string or a list of strings")
            args = []
        args = tuple(str(a) for a in args or ())
        env = dict(global_env)
        env.update(self.env(raw.get("env"), path + ("env",)))
        env.update(self.env(custom.get("env", custom.get("envs")), where + ("env",)))
        inputs = self.inputs(*self.either(custom, where + ("inputs",), raw, "inputs"))
        outputs = self.string_list(*self.either(custom, where + ("outputs",), raw, "outputs"))
        if operators:
            inputs = tuple(inputs) + tuple(
                attrs.evolve(i, id=f"{op.id}/{i.id}") for op in operators for i in op.inputs)
            outputs = tuple(outputs) + tuple(f"{op.id}/{o}" for op in operators
                                             for o in op.outputs)
        shutdown, shutdown_path = self.either(raw, path + ("shutdown",), raw, "finish_grace_secs")
        if shutdown == "brutal_kill":
            shutdown = BRUTAL_KILL
        else:
            shutdown = self.convert(shutdown, shutdown_path, parse_duration, 5.0)
        significant = raw.get("significant")
        if significant is not None and not isinstance(significant, bool):
            self.problem(path + ("significant",), "expected true or false")
            significant = None
        lraw = self.mapping(raw.get("limits"), path + ("limits",), LIMIT_KEYS)
        lpath = path + ("limits",)
        limits = Limits(
            memory=self.convert(lraw.get("memory"), lpath + ("memory",), parse_size),
            cpu=self.convert(lraw.get("cpu"), lpath + ("cpu",), parse_percent),
            cpu_time=self.convert(lraw.get("cpu_time"), lpath + ("cpu_time",), parse_duration),
            open_files=self.integer(lraw.get("open_files"), lpath + ("open_files",), None, 1),
            cpu_mode=self.choice(lraw.get("cpu_mode"), lpath + ("cpu_mode",), CPU_MODES,
                                 CpuMode.KILL))
        hraw = self.mapping(raw.get("health"), path + ("health",), HEALTH_KEYS)
        lease, lease_path = self.either(hraw, path + ("health", "lease"), raw,
                                        "health_check_timeout")
        health = Health(
            lease=self.convert(lease, lease_path, positive_duration, 2.0),
            watchdog=self.convert(hraw.get("watchdog"), path + ("health", "watchdog"),
                                  positive_duration))
        deploy = self.mapping(raw.get("deploy"), path + ("deploy",), DEPLOY_KEYS)
        machine = self.machine(deploy, path)
        working_dir = self.text(custom.get("working-directory"), where + ("working-directory",))
        if deploy.get("working_dir") is not None:
            working_dir = self.text(deploy["working_dir"], path + ("deploy", "working_dir"))
        return NodeSpec(
            id=node_id, line=self.lines.of(path), path=spec_path, args=args or (),
            run=run, env=env, working_dir=working_dir, inputs=inputs, outputs=outputs,
            operators=operators, restart=self.restart(raw, path), shutdown=shutdown,
            significant=significant, limits=limits, health=health,
            machine=machine, where=path,
            logs=self.log_settings(raw, path, outputs), origin=self.origin,
            build=self.build(custom.get("build", raw.get("build")),
                             path + (("custom", "build") if "build" in custom else ("build",))))

    def log_settings(self, raw: dict, path: Path, outputs: tuple[str, ...]) -> LogSettings:
        send_as = self.text(raw.get("send_logs_as"), path + ("send_logs_as",))
        if send_as is not None and send_as not in outputs:
            self.problem(path + ("send_logs_as",), f"'{send_as}' is not one of the node's "
                                                   "outputs (add it to 'outputs')")
        return LogSettings(
            min_level=self.choice(raw.get("min_log_level"), path + ("min_log_level",), LEVELS,
                                  "stdout"),
            send_as=send_as,
            max_size=self.convert(raw.get("max_log_size"), path + ("max_log_size",),
                                  parse_size),
            max_files=self.integer(raw.get("max_rotated_files"), path + ("max_rotated_files",),
                                   None, 1))

    def build(self, value: Any, path: Path) -> tuple[str, ...]:
        """`build:` as dora-rs takes it: one command per line (or a list of commands)."""
        if value is None:
            return ()
        lines = value.splitlines() if isinstance(value, str) else value
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
            self.problem(path, "expected a command, several lines of commands, or a list")
            return ()
        return tuple(line.strip() for line in lines if line.strip())
