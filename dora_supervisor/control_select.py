"""Which dataflow a command means: DATAFLOW is a name or a uuid (prefix), optional when
exactly one runs. Pure: works on the summaries every coordinator returned for `list`."""

from __future__ import annotations

from dora_supervisor.control_protocol import DataflowSummary
from dora_supervisor.errors import DoraError

__all__ = ["choose"]


def choose(summaries: list[DataflowSummary], wanted: str | None) -> DataflowSummary:
    """The dataflow `wanted` names (running ones first, then the latest that finished), or
    a one-line DoraError listing the candidates."""
    running = [s for s in summaries if not s.state.ended]
    if wanted is None:
        if len(running) == 1:
            return running[0]
        if not running:
            return _only_finished(summaries)
        raise DoraError(f"{len(running)} dataflows are running; name one: {_listing(running)}")
    for matches in ([s for s in summaries if s.uuid == wanted],
                    [s for s in summaries if s.name == wanted]):
        if matches:
            live = [s for s in matches if not s.state.ended]
            return live[0] if live else max(matches, key=lambda s: s.started_at)
    prefixed = [s for s in summaries if s.uuid.startswith(wanted)]
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        raise DoraError(f"'{wanted}' matches {len(prefixed)} dataflows: {_listing(prefixed)}; "
                        "give more of the uuid")
    known = f"running: {_listing(running)}" if running else "none is running"
    raise DoraError(f"no dataflow '{wanted}' ({known})")


def _only_finished(summaries: list[DataflowSummary]) -> DataflowSummary:
    if not summaries:
        raise DoraError("no dataflow is running (start one with `dora start FILE`)")
    latest = sorted(summaries, key=lambda s: s.started_at)[-3:]
    raise DoraError(f"no dataflow is running; name a finished one: {_listing(latest)}")


def _listing(summaries: list[DataflowSummary]) -> str:
    return ", ".join(s.label() if not s.state.ended else f"{s.label()} {s.state}"
                     for s in summaries)
