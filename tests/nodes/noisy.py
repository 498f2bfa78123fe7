"""A node that is hard on its supervisor's output capture (no dora_api: plain output).

--lines N         write N short lines to stdout as fast as the pipe takes them
--long BYTES      write one line of BYTES bytes, then `after`, to --stream (or both)
--invalid-utf8    write lines that are not UTF-8, then `after`
--close-stdout    write `before`, close stdout, say `still here` on stderr, run --then S
--read-stdin      read stdin to its end and say how much it got
--then S          keep running S seconds before exiting with --code
--when PATH       do all that only once PATH exists
"""

import argparse
import os
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--lines", type=int)
parser.add_argument("--long", type=int)
parser.add_argument("--stream", choices=("stdout", "stderr", "both"), default="stdout")
parser.add_argument("--invalid-utf8", action="store_true")
parser.add_argument("--close-stdout", action="store_true")
parser.add_argument("--read-stdin", action="store_true")
parser.add_argument("--then", type=float, default=0.0)
parser.add_argument("--code", type=int, default=0)
parser.add_argument("--when")
args = parser.parse_args()
while args.when and not os.path.exists(args.when):
    time.sleep(0.01)
out = sys.stdout.buffer

if args.lines:
    start = time.monotonic()
    for number in range(args.lines):
        out.write(b"line %d of the flood\n" % number)
    out.flush()
    print(f"FLOODED {args.lines} in {time.monotonic() - start:.2f}s", file=sys.stderr, flush=True)
if args.long:
    block = bytes(range(ord("a"), ord("z") + 1)) * 40960  # ~1 MiB, written in pieces
    for name in ("stdout", "stderr"):
        if args.stream in (name, "both"):
            stream = out if name == "stdout" else sys.stderr.buffer
            left = args.long
            while left:
                left -= stream.write(block[:left])
            stream.write(b"\nafter\n")
            stream.flush()
if args.invalid_utf8:
    out.write(b"bad \xff\xfe bytes\nhalf a char \xc3\ncut \xe2\x82\n\xf0\x9f\x98\x80 ok\nafter\n")
    out.flush()
if args.close_stdout:
    out.write(b"before\n")
    out.flush()
    os.close(1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- takes fd 1: the pipe stays closed
    print("still here", file=sys.stderr, flush=True)
if args.read_stdin:
    print(f"STDIN {len(sys.stdin.buffer.read())} bytes", flush=True)
deadline = time.monotonic() + args.then
while time.monotonic() < deadline:
    time.sleep(0.05)
sys.exit(args.code)
