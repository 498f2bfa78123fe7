"""The latency benchmark's results: rounds merged into one figure each, the machine, and the
tables printed (each system against a baseline, with ratios)."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import bench_proto

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["make_result", "merge_rounds", "machine_info", "format_size", "table", "wrap",
           "now_iso"]


def make_result(name: str, description: str, receiver: dict, wall: float,
                 problems: list[str]) -> dict:
    """The common result dict: {"system", "description", "wall_s", "problems",
    "sizes": {"<bytes>": {"latency": {p50_us, p95_us, ...}, "latency_samples_us": [...],
    "throughput": {msg_per_s, mib_per_s, messages, seconds, ...}}}}."""
    sizes = {}
    for entry in receiver["sizes"]:
        samples = entry.get("latency_ns", [])
        if entry.get("latency_received") != entry.get("latency_expected"):
            problems.append(f"{entry['size']} B: {entry.get('latency_received')} of "
                            f"{entry.get('latency_expected')} latency messages arrived")
        throughput = entry.get("throughput", {})
        if throughput.get("messages") != throughput.get("expected"):
            problems.append(f"{entry['size']} B: {throughput.get('messages')} of "
                            f"{throughput.get('expected')} throughput messages arrived")
        sizes[str(entry["size"])] = {
            "latency": bench_proto.summarize(samples),
            "latency_samples_us": [round(v / 1000, 1) for v in samples],
            "throughput": throughput,
        }
    return {"system": name, "description": description, "wall_s": round(wall, 2),
            "problems": problems, "sizes": sizes}


def merge_rounds(rounds: list[dict]) -> dict:
    """One system's rounds as one result. Each statistic is the median of the rounds' values
    (robust to one disturbed round on a shared machine: a burst of load elsewhere can
    starve a 2-core box for seconds); the pooled percentiles are kept as well."""
    first = rounds[0]
    sizes = {}
    for key in first["sizes"]:
        mine = [r["sizes"][key] for r in rounds if key in r["sizes"]]
        per_round = [entry["latency"] for entry in mine]
        samples_us = [v for entry in mine for v in entry.get("latency_samples_us", [])]
        latency = {stat: _median([x[stat] for x in per_round if stat in x])
                   for stat in ("p50_us", "p95_us", "p99_us", "mean_us")}
        latency.update(n=sum(x.get("n", 0) for x in per_round),
                       min_us=min((x["min_us"] for x in per_round if "min_us" in x),
                                  default=None),
                       max_us=max((x["max_us"] for x in per_round if "max_us" in x),
                                  default=None),
                       statistic=f"median of {len(per_round)} round(s)")
        throughputs = [entry["throughput"] for entry in mine]
        sizes[key] = {
            "latency": latency,
            "latency_pooled": bench_proto.summarize([round(v * 1000) for v in samples_us]),
            "latency_per_round": per_round,
            "throughput": {
                "msg_per_s": _median([t.get("msg_per_s") for t in throughputs]),
                "mib_per_s": _median([t.get("mib_per_s") for t in throughputs]),
                "statistic": f"median of {len(throughputs)} round(s)",
                "rounds": throughputs},
            "latency_samples_us": samples_us,
        }
    return {"system": first["system"], "description": first["description"],
            **({"notes": first["notes"]} if "notes" in first else {}),
            "rounds": len(rounds), "wall_s": [r["wall_s"] for r in rounds],
            "loadavg_1m": [r.get("loadavg_1m") for r in rounds],
            "problems": [p for r in rounds for p in r["problems"]], "sizes": sizes}


def _median(values: list) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def machine_info() -> dict:
    info = {
        "nproc": os.cpu_count(),
        "nproc_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "zenoh": _version("eclipse-zenoh"),
        "pyarrow": _version("pyarrow"),
        "dora_supervisor": _version("dora-supervisor"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": None,
        "loadavg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "clock": "time.monotonic_ns (CLOCK_MONOTONIC)",
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def format_size(size: int) -> str:
    for unit, factor in (("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def _us(value) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    if value >= 10000:
        return f"{value / 1000:.1f} ms"
    return f"{value:.0f} us"


def _num(value, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(results: dict[str, dict], sizes: list[int], names: list[str],
          ratios: list[tuple[str, str]]) -> str:
    """One row per size: p50/p95 of each of `names`, each (a, b) of `ratios` as a's p50 over
    b's (lower is better) and a's msg/s over b's (higher is better), then msg/s and MiB/s."""
    names = [n for n in names if n in results]
    ratios = [(a, b) for a, b in ratios if a in results and b in results]
    header = ["size"]
    for name in names:
        header += [f"{name} p50", f"{name} p95"]
    header += [f"{a}/{b} p50" for a, b in ratios]
    header += [f"{name} msg/s" for name in names] + [f"{a}/{b} msg/s" for a, b in ratios]
    header += [f"{name} MiB/s" for name in names]
    rows = []
    for size in sizes:
        cells = {name: results[name]["sizes"].get(str(size), {}) for name in results}
        p50 = {n: cells[n].get("latency", {}).get("p50_us") for n in cells}
        rate = {n: cells[n].get("throughput", {}).get("msg_per_s") for n in cells}
        row = [format_size(size)]
        for name in names:
            row += [_us(p50[name]), _us(cells[name].get("latency", {}).get("p95_us"))]
        row += [_ratio(p50[a], p50[b]) for a, b in ratios]
        row += [_num(rate[name]) for name in names] + [_ratio(rate[a], rate[b])
                                                        for a, b in ratios]
        row += [_num(cells[n].get("throughput", {}).get("mib_per_s"), 1) for n in names]
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = [" | ".join(h.ljust(w) if i == 0 else h.rjust(w)
                        for i, (h, w) in enumerate(zip(header, widths, strict=True)))]
    lines.append("-+-".join("-" * w for w in widths))
    for row in rows:
        lines.append(" | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(lines)


def _ratio(mine, base) -> str:
    return f"{mine / base:.2f}x" if mine and base else "-"


def wrap(text: str, width: int = 92) -> str:
    return "\n".join(textwrap.wrap(text, width, subsequent_indent="    "))


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
