"""Profile the per-message data path: a sender and a receiver node under the real `dora run`,
sampled by py-spy (install it yourself: `pip install py-spy`; it is not a dependency).

    .venv/bin/python benchmarks/profile_path.py --size 8 --count 60000
    .venv/bin/python benchmarks/profile_path.py --size 4MiB --count 600 --native

Writes the raw (collapsed) stacks to --out and prints, per node process and thread, the
frames with the most samples in the steady state (start-up, imports and close dropped):
self time first, then inclusive time, as a share of that thread's samples.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from latency import parse_size  # noqa: E402

NODE = HERE / "nodes" / "profile_node.py"
_START_UP = ("_find_and_load", "Node._start", "Node.__init__", "atexit", "Node.close")


def descriptor(size: int, count: int) -> str:
    env = f'{{PROF_SIZE: "{size}", PROF_COUNT: "{count}"}}'
    return (f"nodes:\n"
            f"  - id: sender\n    path: {NODE}\n    args: send\n    outputs: [data]\n"
            f"    env: {env}\n"
            f"  - id: receiver\n    path: {NODE}\n    args: recv\n"
            f"    inputs: {{data: sender/data}}\n    env: {env}\n")


def summarize(raw: str, top: int = 10) -> str:
    """Per node and thread: the top self and inclusive frames of the steady state."""
    groups: dict[str, list] = collections.defaultdict(
        lambda: [collections.Counter(), collections.Counter(), 0])
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        process = [f for f in frames if f.startswith("process ")]
        if not process or "profile_node.py" not in process[-1] or not count.isdigit():
            continue
        role = "sender" if " send" in process[-1] else "receiver"
        thread = re.sub(r" ?\(\d+\)", "", next((f for f in frames if f.startswith("thread ")),
                                                "thread ?"))
        calls = [re.sub(r":\d+\)", ")", f) for f in frames
                 if not f.startswith(("thread ", "process "))]
        if any(mark in f for f in calls for mark in _START_UP):
            continue
        group = groups[f"{role} {thread}"]
        group[2] += int(count)
        if calls:
            group[0][calls[-1]] += int(count)
        for frame in set(calls):
            group[1][frame] += int(count)
    lines = []
    for name, (own, inclusive, total) in sorted(groups.items()):
        if total < 5:
            continue
        lines.append(f"== {name}: {total} samples")
        for label, counter in (("self", own), ("incl", inclusive)):
            lines.append(f"  {label}: " + "; ".join(
                f"{100 * n / total:.0f}% {frame}" for frame, n in counter.most_common(top)))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=8)
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--native", action="store_true", help="native frames too (slower)")
    parser.add_argument("--rate", type=int, default=400, help="samples per second")
    parser.add_argument("--out", type=Path, default=Path("/tmp/dora-profile.txt"))
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        parser.error("py-spy not found: pip install py-spy")
    with tempfile.TemporaryDirectory(prefix="dora-profile-") as tmp:
        (Path(tmp) / "profile.yml").write_text(descriptor(args.size, args.count))
        argv = [py_spy, "record", "--subprocesses", "--threads", "-r", str(args.rate),
                "-f", "raw", "-o", str(args.out), *(["--native"] if args.native else []),
                "--", sys.executable, "-m", "dora_supervisor", "run", "profile.yml"]
        done = subprocess.run(argv, cwd=tmp, capture_output=True, text=True, timeout=600)
    print("\n".join(line for line in (done.stdout + done.stderr).splitlines()
                    if " x " in line or "rror" in line))
    print(summarize(args.out.read_text()))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
