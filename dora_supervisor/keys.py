"""The descriptor's vocabulary, one table: every key of every section, what its value may be
and what it means.

The parser takes the key names (and the dora-rs keys that only warn) from here;
`dora schema` builds `descriptors/schema.json` from the same table (`schema.py`), so the
schema, the parser and `dora check`'s did-you-mean hints cannot drift apart. A key's
`value` is a JSON Schema fragment; `ref(name)` points at a value type of `schema.py`.
A module file's own vocabulary is in `module_keys`.
"""

from __future__ import annotations

from dora_api.contract import LEVELS
from dora_supervisor.descriptor import (
    AUTO_SHUTDOWN,
    CPU_MODES,
    QUEUE_POLICIES,
    RESTART_POLICIES,
    STRATEGIES,
)
from dora_supervisor.keytable import NO_EFFECT, Key, Section, choice, dora_rs, ref

__all__ = [
    "Key", "Section", "ref", "choice", "NO_EFFECT", "TOP", "COMMUNICATION", "ZENOH", "FLAGS",
    "GROUP", "NODE", "CUSTOM", "OPERATOR", "INPUT", "RESTART", "BACKOFF", "LIMITS", "HEALTH",
    "DEPLOY", "SYNONYMS", "RUNNABLE", "MODULE_NODE_KEYS", "MODULE_ONLY_KEYS",
    "TOP_KEYS", "NO_EFFECT_TOP_KEYS", "COMMUNICATION_KEYS", "ZENOH_KEYS", "NODE_KEYS",
    "NO_EFFECT_NODE_KEYS", "CUSTOM_KEYS", "OPERATOR_KEYS", "NO_EFFECT_OPERATOR_KEYS",
    "INPUT_KEYS", "FLAG_KEYS", "GROUP_KEYS", "RESTART_KEYS", "BACKOFF_KEYS", "LIMIT_KEYS",
    "HEALTH_KEYS", "DEPLOY_KEYS",
]

_STRATEGY = choice(STRATEGIES, {
    "one_for_one": "Restart only the child that failed.",
    "one_for_all": "Restart every child of this supervisor (in reverse start order, then start "
                   "order).",
    "rest_for_one": "Restart the failed child and the children started after it.",
})
_AUTO_SHUTDOWN = choice(AUTO_SHUTDOWN, {
    "never": "Never stop automatically.",
    "any_significant": "Stop gracefully when any significant child has finished for good.",
    "all_significant": "Stop gracefully when every significant child has finished for good.",
})
_RESTART_POLICY = choice(RESTART_POLICIES, {
    "permanent": "Always restart (OTP `permanent`).",
    "transient": "Restart only after an abnormal exit: non-zero code, signal, limit or health "
                 "failure (OTP `transient`). The default.",
    "temporary": "Never restart (OTP `temporary`).",
    "always": "dora-rs spelling of `permanent`.",
    "on-failure": "dora-rs spelling of `transient`.",
    "never": "dora-rs spelling of `temporary`.",
})
_QUEUE_POLICY = choice(QUEUE_POLICIES, {
    "drop_oldest": "Drop the oldest queued message to make room (keep the newest N).",
    "backpressure": "Never drop: the sender waits.",
})
_CPU_MODE = choice(CPU_MODES, {
    "kill": "Stop the node when it uses more than its share (reason cpu_limit).",
    "throttle": "Hold the node to its share with a cgroup CPU quota; it keeps running.",
})
_INPUTS = Key("Inputs: input id -> `node/output`, a timer, or the long form `{source, "
              "queue_size, queue_policy, input_timeout}`.", ref("inputs"))
_OUTPUTS = Key("The ids of the outputs this node (or operator) sends.", ref("outputs"))
_ARGS = Key("Command-line arguments: one string (split like a shell) or a list.", ref("args"))
_ENV = Key("Environment variables: values are strings, numbers or booleans (booleans become "
           "`true`/`false`).", ref("env"))
_NAME = Key("A display name (metadata only).", {"type": "string"})
_DESCRIPTION = Key("A description (metadata only).", {"type": "string"})
_BUILD = Key("Build step(s) run in the node's working directory before the dataflow starts "
             "(`dora build`, `dora run`): one command per line, or a list of commands.",
             {"type": ["string", "array"], "items": {"type": "string"}})
# dora-rs keys of nodes and operators about typed, framed or logged outputs
_OUTPUT_EXTRAS = {
    "output_types": dora_rs("dora-rs output type URNs."),
    "output_framing": dora_rs("dora-rs output framing (raw | arrow-ipc)."),
    "input_types": dora_rs("dora-rs input type URNs."),
    "output_metadata": dora_rs("dora-rs required metadata keys per output."),
    "pattern": dora_rs("dora-rs service/action pattern."),
    "send_stdout_as": dora_rs("dora-rs: send stdout lines on this output."),
}
# dora-rs logging keys of an operator (an operator's records are its node's here)
_OPERATOR_LOG_KEYS = {
    "send_logs_as": dora_rs("dora-rs: send the operator's log records on this output."),
    "min_log_level": dora_rs("dora-rs minimum log level of the operator."),
    "max_log_size": dora_rs("dora-rs log rotation size."),
    "max_rotated_files": dora_rs("dora-rs number of rotated log files."),
}
_LOG_LEVEL = choice(LEVELS, {
    "stdout": "Keep everything, plain output lines too (the default).",
    "trace": "Drop plain output lines.",
    "debug": "Drop plain output lines and trace records.",
    "info": "Drop plain output lines, trace and debug records.",
    "warn": "Keep warnings and errors.",
    "error": "Keep errors only.",
})
# logs as data (dora-rs 1.x): what becomes of a node's log records
_NODE_LOG_KEYS = {
    "send_logs_as": Key(
        "Also send each of the node's log records (Python `logging`, `node.log_*`) on this "
        "output: one Arrow string array per record holding the record as JSON (`level`, "
        "`message`, `node_id`, `timestamp`, `target`). It must be one of the node's "
        "`outputs`. Plain output lines (print) are not sent.", {"type": "string",
                                                                  "minLength": 1}),
    "min_log_level": Key(
        "Drop the node's log records below this level at the source, before they reach "
        "the log file, the console, `dora/logs` and `send_logs_as`. Plain output lines count "
        "as level `stdout`, the lowest, so any other level drops printed lines as well "
        "(stderr lines are always kept). Default: stdout.", _LOG_LEVEL, default="stdout"),
    "max_log_size": Key("Rotate the node's log file (`out/<uuid>/<node>.jsonl`) before it "
                        "grows past this size. Default: 16MiB.", ref("size")),
    "max_rotated_files": Key("How many rotated log files of the node to keep. Default: 5.",
                             {"type": "integer", "minimum": 1}),
}

_FLAG_DOCS = {
    "strategy": "How the supervisor restarts its children when one fails (OTP restart "
                "strategy). Default: one_for_one.",
    "max_restarts": "Restart intensity: at most this many restarts within `max_seconds`; one "
                    "more and the supervisor stops its children and fails itself (escalating "
                    "to its parent). Default: 3.",
    "max_seconds": "The period of the restart intensity; also how long a node must stay up for "
                   "its backoff to reset. Default: 5s.",
}
FLAGS = Section("Supervisor flags (OTP): restart strategy and intensity, automatic shutdown.", {
    "strategy": Key(_FLAG_DOCS["strategy"], _STRATEGY, default="one_for_one"),
    "max_restarts": Key(_FLAG_DOCS["max_restarts"], {"type": "integer", "minimum": 0},
                        default=3),
    "max_seconds": Key(_FLAG_DOCS["max_seconds"], ref("positiveDuration")),
    "auto_shutdown": Key("When the supervisor stops by itself because its significant children "
                         "finished. Default: all_significant for the dataflow's root, never for "
                         "groups.", _AUTO_SHUTDOWN),
})
GROUP = Section(
    "A nested supervisor over some nodes and groups. It starts where its first member stands "
    "in the descriptor.", {
        "id": Key("The group's id: unique among nodes and groups.", ref("id"), nullable=False),
        "members": Key("Nodes and groups supervised by this group, in start order. Each node or "
                       "group belongs to at most one group.", {"anyOf": [
                           {"type": "string", "minLength": 1},
                           {"type": "array", "items": {"type": "string", "minLength": 1},
                            "minItems": 1, "uniqueItems": True}]}, nullable=False),
        **FLAGS.keys,
        "auto_shutdown": Key("When this group stops by itself because its significant children "
                             "finished. Default: never.", _AUTO_SHUTDOWN),
    }, required=("id", "members"), nullable=False)
INPUT = Section("The long input form.", {
    "source": Key("Where the input comes from, as in the short form.", ref("source"),
                  nullable=False),
    "queue_size": Key("Keep at most this many undelivered messages. Default: unbounded (never "
                      "drop). Given alone, it implies `queue_policy: drop_oldest`.",
                      {"type": "integer", "minimum": 1}),
    "queue_policy": Key("What a full queue does. Default: drop_oldest when `queue_size` is "
                        "given, backpressure otherwise.", _QUEUE_POLICY),
    "input_timeout": Key("dora-rs per-input circuit breaker. Accepted; has no effect here "
                         "(`dora check` prints a warning).", ref("duration")),
}, required=("source",), nullable=False)
OPERATOR = Section(
    "An operator: runs inside the node's runtime process. Give exactly one of `python` or "
    "`shared-library`.", {
        "id": Key("The operator's id; its outputs are addressed as `node/operator/output`. "
                  "Required in `operators:`; in `operator:` it defaults to the node's id.",
                  ref("id"), nullable=False),
        "name": _NAME,
        "description": _DESCRIPTION,
        "python": Key("A Python module with `class Operator` (on_event or on_input); relative to "
                      "the descriptor's folder.", {"anyOf": [
                          {"type": "string", "minLength": 1},
                          {"type": "object", "properties": {
                              "source": {"type": "string", "minLength": 1,
                                         "description": "The Python module."},
                              "conda_env": {"type": ["string", "null"],
                                            "description": "dora-rs conda environment (not "
                                                           "used)."}},
                           "required": ["source"]}]}, nullable=False),
        "shared-library": Key("A shared library exporting the dora C operator ABI; relative to "
                              "the descriptor's folder.", {"type": "string", "minLength": 1},
                              nullable=False),
        "inputs": _INPUTS,
        "outputs": _OUTPUTS,
        "build": dora_rs("dora-rs build command(s)."),
        **_OUTPUT_EXTRAS,
        **_OPERATOR_LOG_KEYS,
    }, nullable=False, exactly_one=("python", "shared-library"))
CUSTOM = Section("The original form of a node: what to run and its inputs and outputs.", {
    "run": Key("The command to run (split like a shell). A leading `python`/`python3` uses the "
               "coordinator's interpreter.", {"type": "string", "minLength": 1}),
    "source": Key("A script or executable to run, like the 1.x `path`.",
                  {"type": "string", "minLength": 1}, nullable=False),
    "args": _ARGS,
    "env": _ENV,
    "envs": Key("Same as `env`.", ref("env")),
    "working-directory": Key("The node's working directory, relative to the descriptor's "
                             "folder. Default: the descriptor's folder.",
                             {"type": "string", "minLength": 1}),
    "inputs": _INPUTS,
    "outputs": _OUTPUTS,
    "build": Key("Same as the node's `build`.", _BUILD.value),
})
BACKOFF = Section("Exponential backoff between restarts of this node; reset after it stayed up "
                  "longer than the supervisor's `max_seconds`.", {
                      "initial": Key("The first delay. Default: 0.1s.", ref("duration")),
                      "max": Key("The largest delay. Default: 10s (or `initial` if larger).",
                                 ref("duration")),
                      "multiplier": Key("Each delay is the previous one times this. Default: 2.",
                                        {"type": "number", "minimum": 1}),
                      "jitter": Key("Random spread as a fraction of the delay. Default: 0.1.",
                                    {"type": "number", "minimum": 0, "maximum": 1}),
                  })
RESTART = Section("The node's restart (child) spec.", {
    "policy": Key("When the node is restarted. permanent (alias always): after any exit; "
                  "transient (alias on-failure): only after an abnormal exit; temporary (alias "
                  "never): never. Default: transient.", _RESTART_POLICY),
    "backoff": Key(BACKOFF.doc, BACKOFF),
    "max_restarts": Key("A per-node cap on restarts (within `window`); 0 or absent: only the "
                        "supervisor's intensity applies.", {"type": "integer", "minimum": 0}),
    "window": Key("The period of `max_restarts`.", ref("duration")),
})
LIMITS = Section("Resource limits of the node's process.", {
    "memory": Key("Resident memory of the node's whole process group; exceeded -> the group "
                  "is killed within 0.5s (reason memory_limit). Default: none.", ref("size")),
    "cpu": Key("Share of one core used by the node's process group, averaged over 2s (not "
               "judged in its first 2s); exceeded -> killed (reason cpu_limit), or held to it "
               "with `cpu_mode: throttle`. Default: none.", ref("percent")),
    "cpu_mode": Key("What `cpu` does: kill (stop the node, reason cpu_limit) or throttle (a "
                    "cgroup CPU quota, like systemd's CPUQuota=; where the machine offers no "
                    "cgroups the node is killed instead). Default: kill.", _CPU_MODE,
                    default="kill"),
    "cpu_time": Key("Total CPU time (RLIMIT_CPU). Default: none.", ref("duration")),
    "open_files": Key("Open file descriptors (RLIMIT_NOFILE). Default: inherited.",
                      {"type": "integer", "minimum": 1}),
})
HEALTH = Section("Health checking.", {
    "lease": Key("A frozen or cut-off node is declared dead after this long without its "
                 "liveliness token. Default: 2s.", ref("positiveDuration")),
    "watchdog": Key("No event taken for this long while events wait for the node (a queued "
                    "input or a timer tick) -> hung: killed and restarted (reason watchdog). "
                    "Nodes using dora_api only; one that blocks on purpose calls "
                    "`node.keepalive(seconds)`. Default: off.", ref("positiveDuration")),
})
DEPLOY = Section("Where the node runs.", {
    "machine": Key("Which `dora daemon --machine NAME` runs the node. Default: local.",
                   {"type": ["string", "integer"]}),
    "working_dir": Key("The working directory on that machine.",
                       {"type": "string", "minLength": 1}),
    "labels": Key("dora-rs daemon labels (accepted, not used)."),
    "distribute": Key("dora-rs artifact distribution (accepted, not used)."),
})
# A module (dora-rs 1.x) is included by a node with `module:`; here it is a group supervisor.
_MODULE_NODE_KEYS = {
    "module": Key("A module file (dora-rs 1.x) whose `nodes:` take this node's place: they "
                  "become `<id>.<inner id>` and form one group supervisor `<id>`; other nodes "
                  "read the module's declared outputs as `<id>/<output>`, and `inputs:` wires "
                  "the module's declared inputs. Relative to this descriptor's folder.",
                  {"type": "string", "minLength": 1}, nullable=False),
    "params": Key("Values for the module's nodes: `${_param.KEY}` (or `$PARAM_KEY`) in their "
                  "`args` is replaced, and each gets the environment variable `PARAM_<KEY>`.",
                  {"type": ["object", "null"], "propertyNames": {"pattern": "^[A-Za-z0-9_]+$"},
                   "additionalProperties": {"type": ["string", "number", "boolean"]}}),
    "strategy": Key("On a module node: the module group's restart strategy (overrides the "
                    "module header's). " + _FLAG_DOCS["strategy"], _STRATEGY),
    "max_seconds": Key("On a module node: the period of the module group's restart "
                       "intensity. Default: 5s.", ref("positiveDuration")),
    "auto_shutdown": Key("On a module node: when the module group stops by itself because "
                         "its significant children finished. Default: never.", _AUTO_SHUTDOWN),
}
NODE = Section(
    "A node: one supervised OS process. Give exactly one of `path`, `custom` (with `run` or "
    "`source`), `operators` or `operator`.", {
        "id": Key("The node's id: unique; letters, digits, `_`, `.`, `-`; not `dora`. Inputs "
                  "name it as `id/output`.", ref("id"), nullable=False),
        "name": _NAME,
        "description": _DESCRIPTION,
        "path": Key("What to run (dora-rs 1.x form): a `.py` file runs with the coordinator's "
                    "Python; anything else is an executable (a bare name is looked up on PATH). "
                    "Relative to the descriptor's folder.", {"type": "string", "minLength": 1}),
        "args": _ARGS,
        "env": _ENV,
        "inputs": _INPUTS,
        "outputs": _OUTPUTS,
        "operators": Key("Several operators in one runtime process.", {
            "type": "array", "minItems": 1,
            "items": {"allOf": [ref("operator"), {"required": ["id"]}]}}, nullable=False),
        "operator": Key("A single operator in a runtime process (its id defaults to the "
                        "node's).", ref("operator"), nullable=False),
        "custom": Key(CUSTOM.doc, ref("custom")),
        "restart": Key(RESTART.doc, ref("restart")),
        "shutdown": Key("How long to wait after the stop request before SIGKILL, or "
                        "`brutal_kill` to SIGKILL at once. Default: 5s.", ref("shutdown")),
        "significant": Key("Whether this node finishing for good counts for `auto_shutdown`. "
                           "Default: true for a non-permanent source (no non-timer inputs). A "
                           "permanent node cannot be significant.", {"type": "boolean"}),
        "limits": Key(LIMITS.doc, ref("limits")),
        "health": Key(HEALTH.doc, ref("health")),
        "deploy": Key(DEPLOY.doc, ref("deploy")),
        "restart_policy": Key("dora-rs spelling of `restart.policy`: never -> temporary, "
                              "on-failure -> transient, always -> permanent. Default: "
                              "transient.", _RESTART_POLICY),
        "max_restarts": Key("dora-rs spelling of `restart.max_restarts` (0: unlimited). On a "
                            "module node: the module's restart intensity (as a group's).",
                            {"type": "integer", "minimum": 0}),
        "restart_delay": Key("dora-rs spelling of `restart.backoff.initial` (seconds).",
                             ref("duration")),
        "max_restart_delay": Key("dora-rs spelling of `restart.backoff.max` (seconds).",
                                 ref("duration")),
        "restart_window": Key("dora-rs spelling of `restart.window` (seconds).", ref("duration")),
        "health_check_timeout": Key("dora-rs spelling of `health.lease` (seconds).",
                                    ref("positiveDuration")),
        "finish_grace_secs": Key("dora-rs spelling of `shutdown` (seconds).", ref("shutdown")),
        "build": _BUILD,
        "path_sha256": dora_rs("dora-rs checksum of a downloaded `path`."),
        "ros2": dora_rs("dora-rs ROS 2 bridge configuration."),
        **_OUTPUT_EXTRAS,
        **_NODE_LOG_KEYS,
        "git": dora_rs("dora-rs git source."),
        "hub": dora_rs("dora-rs hub source."),
        "branch": dora_rs("dora-rs git branch."),
        "tag": dora_rs("dora-rs git tag."),
        "rev": dora_rs("dora-rs git revision."),
        "shared_memory_pool_size": dora_rs("dora-rs shared-memory pool size."),
        **_MODULE_NODE_KEYS,
        "cpu_affinity": dora_rs("dora-rs CPU cores to pin the node to."),
        "startup_timeout": dora_rs("dora-rs 1.1 startup timeout."),
    }, required=("id",), nullable=False)
ZENOH = Section("Zenoh settings.", {
    "prefix": Key("A key-expression prefix for all of the dataflow's topics. Default: none.",
                  {"type": "string", "pattern": "^[^*$?#]*$"}),
})
COMMUNICATION = Section("Original form: communication settings.", {"zenoh": Key(ZENOH.doc, ZENOH)})
TOP = Section(
    "A dataflow: nodes, their inputs and outputs, and how they are supervised. Both the "
    "original form (`custom:`, `communication:`) and the dora-rs 1.x form (`path`, `args`, "
    "fault-tolerance keys) are accepted.", {
        "name": Key("The dataflow's name (`dora list` shows it). Default: none.",
                    {"type": "string"}),
        "communication": Key(COMMUNICATION.doc, COMMUNICATION),
        "supervision": Key("The dataflow's root supervisor (OTP supervisor flags). Defaults: "
                           "one_for_one, max_restarts 3, max_seconds 5s, auto_shutdown "
                           "all_significant.", ref("flags")),
        "groups": Key("Nested supervisors, any depth (a group may list groups). Default: none.",
                      {"type": "array", "items": ref("group")}),
        "env": Key("Environment variables for every node; a node's own `env` wins.", ref("env")),
        "nodes": Key("The nodes, in start order.",
                     {"type": "array", "minItems": 1, "items": ref("node")}, nullable=False),
        "deploy": dora_rs("dora-rs root-level default deployment."),
        "debug": dora_rs("dora-rs debug settings."),
        "health_check_interval": dora_rs("dora-rs daemon sweep interval."),
        "strict_types": dora_rs("dora-rs: type warnings become errors."),
        "exit_when_nodes_finish": dora_rs("dora-rs: finish when data inputs have closed."),
        "type_rules": dora_rs("dora-rs type-compatibility rules."),
    }, required=("nodes",), nullable=False)

# A node-level key and the nested key it is a dora-rs synonym of: give only one of the two.
SYNONYMS = {
    "finish_grace_secs": ("shutdown",),
    "restart_policy": ("restart", "policy"),
    "max_restarts": ("restart", "max_restarts"),
    "restart_window": ("restart", "window"),
    "restart_delay": ("restart", "backoff", "initial"),
    "max_restart_delay": ("restart", "backoff", "max"),
    "health_check_timeout": ("health", "lease"),
    "args": ("custom", "args"),
    "inputs": ("custom", "inputs"),
    "outputs": ("custom", "outputs"),
}
# What a node runs: exactly one of these key paths; True when the value is a non-empty string.
RUNNABLE = {("path",): True, ("custom", "source"): True, ("custom", "run"): True,
            ("operators",): False, ("operator",): False, ("module",): True}
# What a module node may carry besides `id`: all else belongs to the module's own nodes.
MODULE_NODE_KEYS = frozenset({"id", "name", "description", "inputs", "outputs", "deploy",
                              "max_restarts", *_MODULE_NODE_KEYS})
# Keys that only a module node may carry.
MODULE_ONLY_KEYS = frozenset(_MODULE_NODE_KEYS) - {"module"}
TOP_KEYS = TOP.names
NO_EFFECT_TOP_KEYS = TOP.no_effect
COMMUNICATION_KEYS = COMMUNICATION.names
ZENOH_KEYS = ZENOH.names
NODE_KEYS = NODE.names
NO_EFFECT_NODE_KEYS = NODE.no_effect
CUSTOM_KEYS = CUSTOM.names
# `wasm` is known so that the parser can say wasm operators are unsupported; the schema
# does not offer it.
OPERATOR_KEYS = OPERATOR.names | {"wasm"}
NO_EFFECT_OPERATOR_KEYS = OPERATOR.no_effect | {"wasm"}
INPUT_KEYS = INPUT.names
FLAG_KEYS = FLAGS.names
GROUP_KEYS = GROUP.names
RESTART_KEYS = RESTART.names
BACKOFF_KEYS = BACKOFF.names
LIMIT_KEYS = LIMITS.names
HEALTH_KEYS = HEALTH.names
DEPLOY_KEYS = DEPLOY.names
