"""Run every benchmark and print their figures, then a summary of the goals.

.venv/bin/python -m bench.run_all          # the figures in the README
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHES = (
    ("inbound funnel and latency under a broadcast", ["bench.bench_funnel"]),
    ("broadcasts", ["bench.bench_broadcast"]),
    ("pacing against a strict Telegram", ["bench.bench_pacing"]),
    ("/stats at scale", ["bench.bench_stats"]),
    ("memory and scheduler at scale", ["bench.bench_scale"]),
    ("double opt-in and webhooks", ["bench.bench_outbox"]),
    ("the team inbox", ["bench.bench_inbox"]),
    ("several processes on PostgreSQL", ["bench.bench_cluster"]),
)


def main() -> int:
    summary: list[str] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for title, module in BENCHES:
        print(f"== {title}", flush=True)
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", *module, *sys.argv[1:]], cwd=ROOT, env=env, text=True,
            capture_output=True,
        )  # fmt: skip
        print(done.stdout, end="")
        if done.returncode:
            print(done.stderr[-2000:], file=sys.stderr)
            summary.append(f"{title}: FAILED (exit {done.returncode})")
            continue
        summary += [line.strip() for line in done.stdout.splitlines() if "goal" in line]
        print(f"   ({time.perf_counter() - began:.0f} s)\n", flush=True)
    print("== summary")
    for line in summary:
        print(f"- {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
