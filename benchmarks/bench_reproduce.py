"""Issue: speed of `dlexp reproduce` against the notebook's way, measured side by side in one run.

Runs, each in a fresh process on this machine:
  A. benchmarks/notebook_baseline.py          (plain Keras, one model.fit per network, 1 seed)
  B. dlexp reproduce <the eight exercises> --seeds 1
  C. dlexp reproduce <the eight exercises> --seeds 5
and prints wall seconds, peak RSS and the ratios the issue sets as targets:
  B / A <= 0.15,  C / A <= 0.5,  peak RSS of C <= 1.5 GB.

dlexp does more work than the baseline: Exercise 2's six real 10/20-layer nets, the
depth/width sweeps of Exercise 1 (Your Turn; incl. a 500-wide net, the largest
arithmetic of the lot), two more clipping variants, per-layer diagnostics every epoch
for Exercises 2, 6 and 7, a decision grid per run, linear probes + t-SNE for
Exercise 5, the claims and the report; the run counts are printed next to the times.

    python benchmarks/bench_reproduce.py [--skip-5]
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EIGHT = ["shallow_vs_deep", "vanishing_gradients", "modern_activations", "activation_comparison",
         "representations", "dead_relu", "gradient_clipping", "batch_norm"]
HERE = Path(__file__).resolve().parent


def dlexp_exe() -> list[str]:
    exe = shutil.which("dlexp", path=str(Path(sys.executable).parent)) or shutil.which("dlexp")
    return [exe] if exe else [sys.executable, "-m", "dlexp"]


def measure(cmd: list[str], cwd: str) -> tuple[float, float, int]:
    """Wall seconds and peak RSS (MB) of one child process (measured through a fresh wrapper)."""
    wrapper = ("import resource, subprocess, sys, time, json;"
               "t = time.perf_counter(); rc = subprocess.run(sys.argv[1:]).returncode;"
               "print(json.dumps([time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, rc]))")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    seconds, rss, rc = json.loads(out.stdout.strip().splitlines()[-1])
    if rc != 0:
        print(out.stderr[-2000:], file=sys.stderr)
    return seconds, rss, rc


def count_runs(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("summary.json") if json.loads(_.read_text()).get("kind") == "run")


def main() -> None:
    work = tempfile.mkdtemp(prefix="dlexp-bench-")
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    base_s, base_rss, _ = measure([sys.executable, str(HERE / "notebook_baseline.py")], work)
    print(f"A  plain Keras, notebook's way (18 fits):      {base_s:7.1f} s  peak RSS {base_rss:6.0f} MB")
    rows = [("A", base_s, base_rss)]
    for seeds in ([1] if "--skip-5" in sys.argv else [1, 5]):
        out = Path(work) / f"rep{seeds}"
        s, rss, rc = measure(dlexp_exe() + ["reproduce", *EIGHT, "--seeds", str(seeds), "--out", str(out),
                                            "--progress", "none"], work)
        label = "B" if seeds == 1 else "C"
        print(f"{label}  dlexp reproduce, {seeds} seed(s) ({count_runs(out)} runs, report): "
              f"{s:7.1f} s  peak RSS {rss:6.0f} MB  (exit {rc})")
        rows.append((label, s, rss))
    t = dict((r[0], r[1]) for r in rows)
    print(f"ratio B/A = {t['B'] / t['A']:.2f} (target <= 0.15)")
    if "C" in t:
        print(f"ratio C/A = {t['C'] / t['A']:.2f} (target <= 0.5)")
        print(f"peak RSS C = {rows[-1][2]:.0f} MB (target <= 1536 MB)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
