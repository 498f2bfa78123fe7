"""The descriptor's vocabulary: which keys each section accepts.

One place for the parser, the JSON schema's tests and `dora check`'s did-you-mean hints.
"""

from __future__ import annotations

__all__ = ["NO_EFFECT_NODE_KEYS", "NODE_KEYS", "TOP_KEYS", "NO_EFFECT_TOP_KEYS", "CUSTOM_KEYS", "OPERATOR_KEYS", "INPUT_KEYS", "FLAG_KEYS", "GROUP_KEYS", "RESTART_KEYS", "BACKOFF_KEYS", "LIMIT_KEYS", "HEALTH_KEYS", "DEPLOY_KEYS"]

# Keys of dora-rs 1.x that parse but have no effect here: `dora check` warns about them.
NO_EFFECT_NODE_KEYS = {
    "path_sha256", "ros2", "output_types", "output_framing", "input_types", "output_metadata",
    "pattern", "send_stdout_as", "send_logs_as", "min_log_level", "max_log_size",
    "max_rotated_files", "git", "hub", "branch", "tag", "rev",
    "shared_memory_pool_size", "module", "params", "cpu_affinity", "startup_timeout",
}
NODE_KEYS = {
    "id", "name", "description", "path", "args", "env", "inputs", "outputs", "operators",
    "operator", "custom", "restart", "shutdown", "significant", "limits", "health", "deploy",
    "restart_policy", "max_restarts", "restart_delay", "max_restart_delay", "restart_window",
    "health_check_timeout", "finish_grace_secs", "build",
} | NO_EFFECT_NODE_KEYS
TOP_KEYS = {"name", "communication", "supervision", "groups", "nodes", "env", "deploy", "debug",
             "health_check_interval", "strict_types", "exit_when_nodes_finish", "type_rules"}
NO_EFFECT_TOP_KEYS = {"debug", "health_check_interval", "strict_types", "type_rules",
                       "exit_when_nodes_finish", "deploy"}
CUSTOM_KEYS = {"run", "source", "args", "env", "envs", "working-directory", "inputs",
                "outputs", "build"}
OPERATOR_KEYS = {"id", "name", "description", "python", "shared-library", "wasm", "inputs",
                  "outputs", "build", "output_types", "input_types", "output_framing",
                  "output_metadata", "pattern", "send_stdout_as", "send_logs_as",
                  "min_log_level", "max_log_size", "max_rotated_files"}
INPUT_KEYS = {"source", "queue_size", "queue_policy", "input_timeout"}
FLAG_KEYS = {"strategy", "max_restarts", "max_seconds", "auto_shutdown"}
GROUP_KEYS = FLAG_KEYS | {"id", "members"}
RESTART_KEYS = {"policy", "backoff", "max_restarts", "window"}
BACKOFF_KEYS = {"initial", "max", "multiplier", "jitter"}
LIMIT_KEYS = {"memory", "cpu", "cpu_time", "open_files"}
HEALTH_KEYS = {"lease", "watchdog"}
DEPLOY_KEYS = {"machine", "working_dir", "labels", "distribute"}
