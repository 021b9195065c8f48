"""Issue: speed of `dlexp reproduce` against the notebook's way, measured side by side in one run.

Runs, each in a fresh process on this machine:
  A. benchmarks/notebook_baseline.py          (plain Keras, one model.fit per network, 1 seed)
  B. dlexp reproduce <the eight exercises> --seeds 1
  C. dlexp reproduce <the eight exercises> --seeds 5
and prints wall seconds, peak RSS and the ratios, with the project's guard rails:
  B / A <= 0.20,  C / A <= 0.5,  peak RSS of C <= 1.5 GB.
A runs with TensorFlow's own default for its oneDNN kernels (off on AMD CPUs such as this
machine's); dlexp turns them on. --baseline-onednn adds A' (the baseline with
TF_ENABLE_ONEDNN_OPTS=1) in the last round, so the ratios can be read against both.

dlexp does more work than the baseline: Exercise 2's six real 10/20-layer nets, the
depth/width sweeps of Exercise 1 (Your Turn; incl. a 500-wide net, the largest
arithmetic of the lot), two more clipping variants, per-layer diagnostics every epoch
for Exercises 2, 6 and 7, linear probes + t-SNE for
Exercise 5, the claims and the report; the run counts are printed next to the times.

    python benchmarks/bench_reproduce.py [--skip-5] [--repeat N] [--baseline-onednn]

This machine's speed drifts 15-40% over hours (the steal column shows other guests), so
compare only ratios measured in one run; --repeat N runs N rounds of A, B, C (each ratio against
its own round's A) and reports the median B/A and C/A, and the largest peak RSS of C.
CPU seconds are user + system of the child and its threads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

EIGHT = ["shallow_vs_deep", "vanishing_gradients", "modern_activations", "activation_comparison",
         "representations", "dead_relu", "gradient_clipping", "batch_norm"]
HERE = Path(__file__).resolve().parent


def dlexp_exe() -> list[str]:
    exe = shutil.which("dlexp", path=str(Path(sys.executable).parent)) or shutil.which("dlexp")
    return [exe] if exe else [sys.executable, "-m", "dlexp"]


def steal_seconds() -> float:
    """CPU time the hypervisor gave to other guests, summed over cores (Linux; 0 elsewhere).

    This machine's speed drifts 15-40% over hours; steal shows when neighbours were busy.
    """
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def measure(cmd: list[str], cwd: str, onednn: Optional[str] = None) -> dict:
    """Wall and CPU seconds, peak RSS (MB) and exit code of one child process (through a fresh
    wrapper, so RUSAGE_CHILDREN is the child's alone), and the machine's steal meanwhile."""
    wrapper = ("import resource, subprocess, sys, time, json;"
               "t = time.perf_counter(); rc = subprocess.run(sys.argv[1:]).returncode;"
               "ru = resource.getrusage(resource.RUSAGE_CHILDREN);"
               "print(json.dumps([time.perf_counter() - t, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, rc]))")
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if onednn is not None:  # else TF's own default (for dlexp: dlexp's)
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    steal = steal_seconds()
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], cwd=cwd, capture_output=True, text=True,
                         env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"})
    wall, cpu, rss, rc = json.loads(out.stdout.strip().splitlines()[-1])
    if rc != 0:  # a failed run's time is no measurement: stop before any ratio is printed
        print(out.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"benchmark: {' '.join(cmd[:3])} ... exited {rc}; no ratios")
    return {"wall": wall, "cpu": cpu, "rss": rss, "rc": rc, "steal": steal_seconds() - steal}


def cpu_model() -> str:
    """The CPU's model name and whether it has AVX-512 (Linux; the speed of the batched matmuls
    and of XLA's dots against oneDNN's differs between AVX2 and AVX-512 hosts of this VM type)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    return f"{name}, {'AVX-512' if ' avx512f' in info else 'no AVX-512'}"


def count_runs(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("summary.json") if json.loads(_.read_text()).get("kind") == "run")


def show(label: str, what: str, m: dict) -> None:
    print(f"{label}  {what:48s} {m['wall']:7.1f} s  cpu {m['cpu']:6.1f} s  peak RSS {m['rss']:6.0f} MB"
          f"  steal {m['steal']:5.1f} s" + (f"  (exit {m['rc']})" if m["rc"] else ""), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-5", action="store_true", help="skip C (the 5-seed reproduction)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of A, B, C: ratios per round (against the round's A) and their median")
    parser.add_argument("--baseline-onednn", action="store_true",
                        help="also time the baseline with TF's oneDNN kernels on (A'), in the last round")
    opts = parser.parse_args()
    work = tempfile.mkdtemp(prefix="dlexp-bench-")
    print(f"machine: {platform.node()} {cpu_model()}, {os.cpu_count()} cores, python {platform.python_version()}")
    b_ratios, c_ratios, c_rss, c_wall, b_last = [], [], [], None, None
    for r in range(opts.repeat):
        a = measure([sys.executable, str(HERE / "notebook_baseline.py")], work)
        show("A", "plain Keras, notebook's way (18 fits)", a)
        c_wall = None
        for seeds in ([1] if opts.skip_5 else [1, 5]):
            out = Path(work) / f"rep{seeds}-{r}"
            m = measure(dlexp_exe() + ["reproduce", *EIGHT, "--seeds", str(seeds), "--out", str(out),
                                       "--progress", "none"], work)
            show("B" if seeds == 1 else "C", f"dlexp reproduce, {seeds} seed(s) ({count_runs(out)} runs, report)", m)
            if seeds == 1:
                b_ratios.append(m["wall"] / a["wall"])
                b_last = m["wall"]
            else:
                c_ratios.append(m["wall"] / a["wall"])
                c_rss.append(m["rss"])
                c_wall = m["wall"]
            shutil.rmtree(out, ignore_errors=True)
        if opts.baseline_onednn and r == opts.repeat - 1:
            a_onednn = measure([sys.executable, str(HERE / "notebook_baseline.py")], work, onednn="1")
            show("A'", "plain Keras as A, TF_ENABLE_ONEDNN_OPTS=1", a_onednn)
            print(f"against A': B/A' = {b_last / a_onednn['wall']:.2f}"
                  + (f", C/A' = {c_wall / a_onednn['wall']:.2f}" if c_wall is not None else ""))
        print(f"round {r + 1}: B/A = {b_ratios[-1]:.2f}" + (f", C/A = {c_ratios[-1]:.2f}" if c_wall is not None else ""))
    print(f"ratio B/A = {statistics.median(b_ratios):.2f} (guard rail <= 0.20)" + rounds(b_ratios))
    if c_ratios:
        print(f"ratio C/A = {statistics.median(c_ratios):.2f} (guard rail <= 0.50)" + rounds(c_ratios))
        print(f"peak RSS C = {max(c_rss):.0f} MB (guard rail <= 1536 MB)" + rounds(c_rss, "the largest", ".0f"))
    shutil.rmtree(work, ignore_errors=True)


def rounds(values: list[float], what: str = "median", fmt: str = ".2f") -> str:
    """"; median of 3 rounds: 0.57, 0.46, 0.50" (nothing for one round)."""
    return f"; {what} of {len(values)} rounds: {', '.join(format(x, fmt) for x in values)}" if len(values) > 1 else ""


if __name__ == "__main__":
    main()
