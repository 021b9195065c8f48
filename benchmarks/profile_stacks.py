"""Where a reproduction's training time goes, stack by stack: a profile, not a benchmark.

Composes the exercises' presets as ``dlexp reproduce`` does, groups the runs into stacks
(``runner.plan``), and trains each stack alone with ``stack.fit_stack`` as a reproduction's lane
would: one thread per op and ``shared_cores=True``. Per stack it prints the process CPU seconds of the whole fit and
of its parts: building the engine, the first epoch call (tracing, TF's instantiation, any XLA
compile, one epoch), the later epochs, the layer diagnostics. Run it alone on the machine: CPU
seconds drift with the host's load like wall time does. Asserts nothing.

    python benchmarks/profile_stacks.py [--seeds 1] [--exercises NAME ...] [--jit]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the dlexp command sets it

from dlexp.notebook import reproduce
from dlexp.run import runner
from dlexp.nn import tf_runtime  # noqa: E402
from dlexp.notebook.exercises import load  # noqa: E402

# The benchmark's eight (bench_reproduce.py): the notebook's exercises 1-8.
EIGHT = ("shallow_vs_deep", "vanishing_gradients", "modern_activations", "activation_comparison",
         "representations", "dead_relu", "gradient_clipping", "batch_norm")


class _Clock:
    """CPU seconds of the engine's parts, for the engine fit_stack makes next."""

    def __init__(self) -> None:
        self.parts: dict[str, list[float]] = {}

    def timed(self, name: str, fn):
        def call(*args, **kwargs):
            start = time.process_time()
            out = fn(*args, **kwargs)
            part = name
            if name == "epoch":
                out[0].numpy()  # the call returns before TF has run it
                if args[-1] == 0:  # 0 batches: engine.test_metrics measuring the test set
                    part = "test"
            self.parts.setdefault(part, []).append(time.process_time() - start)
            return out
        return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--exercises", nargs="*", default=list(EIGHT))
    parser.add_argument("--jit", action="store_true", help="XLA-compile each stack's step")
    args = parser.parse_args()

    tf_runtime.one_thread_per_op()  # as runner.execute_tasks sets it for its lanes
    from dlexp.train.stack import fit as stack
    from dlexp.train.stack import engine as stack_engine

    options = reproduce.parse_args(["--seeds", str(args.seeds), "--out", os.path.join(tempfile.mkdtemp(prefix="dlexp-profile-"), "out"), "--progress", "none", "--no-variations"])
    plans, datasets = reproduce.prepare([load(n) for n in args.exercises], reproduce.seeds_for(args.seeds), options)
    groups = [g for g in runner.plan([j for *_, jobs in plans for j in jobs]) if not runner.uses_keras_fit(g)]
    clock = _Clock()

    class TimedEngine(stack_engine.StackEngine):
        def __init__(self, specs, data, n_fit, jit=False) -> None:
            start = time.process_time()
            super().__init__(specs, data, n_fit, jit)
            clock.parts["init"] = [time.process_time() - start]
            self.train_epoch = clock.timed("epoch", self.train_epoch)
            self.layer_rows = clock.timed("diagnostics", self.layer_rows)
            self.xla = "step" if jit else "none"
            engines.append(self)

    engines: list = []
    stack.StackEngine = TimedEngine  # what fit_stack builds its engine with
    print(f"{'stack':34s} {'M':>3s} {'xla':6s} {'cpu':>6s} {'init':>5s} {'1st call':>8s} "
          f"{'epochs':>7s} {'per ep':>7s} {'diag':>5s}")
    total = 0.0
    for group in groups:
        specs = [group[i].spec for i in sorted(set(runner.identical_runs(group)))]
        data = datasets[runner.data_key(specs[0])]
        clock.parts = {}
        start = time.process_time()
        stack.fit_stack(specs, data, jit=args.jit, shared_cores=True)
        cpu = time.process_time() - start
        total += cpu
        epochs = clock.parts.get("epoch", [])
        first, rest = (epochs[0], epochs[1:]) if epochs else (0.0, [])
        hidden = specs[0].model.hidden
        shape = f"{len(hidden)}x{hidden[0]}" if len(set(hidden)) == 1 else "-".join(map(str, hidden))
        name = f"{specs[0].name}: {shape}"
        print(f"{name[:34]:34s} {len(specs):3d} {engines[-1].xla:6s} {cpu:6.2f} "
              f"{sum(clock.parts.get('init', [0])):5.2f} {first:8.2f} {sum(rest):7.2f} "
              f"{(sum(rest) / len(rest) * 1000 if rest else 0):5.1f}ms {sum(clock.parts.get('diagnostics', [])):5.2f}")
    print(f"{'all stacks':34s} {'':3s} {'':6s} {total:6.2f}  (process CPU seconds)")


if __name__ == "__main__":
    main()
