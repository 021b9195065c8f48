"""Time N seeds of the Exercise-4 network: N ``training.fit_one`` calls vs one ``stack.fit_stack``.

moons_circles data, 128-64-32 ReLU MLP, batchnorm after the activation,
dropout 0.3, Adam, 50 epochs, batch 32, early stopping on val_loss with
patience 10. Both paths run in this process, on the same data. Prints seconds
and the ratio; asserts nothing (timings depend on the machine).

    /work/venv/bin/python benchmarks/bench_stack.py [--seeds 25] [--epochs 50] [--jit on|off] [--skip-solo]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dlexp.config import schema as config
from dlexp.data import datasets as data
from dlexp.train.stack import fit as stack
from dlexp import training  # noqa: E402


def exercise4_spec(epochs: int) -> config.RunSpec:
    return config.to_spec({
        "name": "bench_stack",
        "dataset": {"name": "moons_circles"},
        "model": {"kind": "mlp", "hidden": [128, 64, 32], "dropout": 0.3},
        "activation": {"name": "relu"},
        "normalization": {"kind": "batchnorm", "placement": "post_activation"},
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "trainer": {"epochs": epochs, "batch_size": 32, "diagnostics": False, "progress": "none",
                    "early_stopping": {"enabled": True, "monitor": "val_loss", "patience": 10}},
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=25)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--diagnostics", action="store_true", help="also collect per-layer diagnostics")
    parser.add_argument("--jit", choices=("on", "off"), default="off", help="fit_stack's XLA setting (on: the whole step)")
    parser.add_argument("--skip-solo", action="store_true", help="time only the stack")
    args = parser.parse_args()

    base = exercise4_spec(args.epochs)
    if args.diagnostics:
        from dataclasses import replace
        base = replace(base, trainer=replace(base.trainer, diagnostics=True))
    specs = [base.with_seed(seed) for seed in range(args.seeds)]
    t = base.trainer
    ds = data.load(base.dataset, t.test_size, t.split_seed, t.stratify)
    print(f"{args.seeds} seeds, {args.epochs} epochs, {len(ds.x_train)} train rows, diagnostics={t.diagnostics}, jit={args.jit}")

    start = time.perf_counter()
    stacked = stack.fit_stack(specs, ds, jit=args.jit == "on")
    stack_s = time.perf_counter() - start
    print(f"fit_stack : {stack_s:8.1f} s   epochs run {_epochs(stacked)}   test acc {_acc(stacked)}")
    if args.skip_solo:
        return
    start = time.perf_counter()
    solo = [training.fit_one(s, ds) for s in specs]
    solo_s = time.perf_counter() - start
    print(f"fit_one xN: {solo_s:8.1f} s   epochs run {_epochs(solo)}   test acc {_acc(solo)}")
    print(f"speed-up  : {solo_s / stack_s:8.1f} x")


def _epochs(results) -> str:
    runs = [r.epochs_run for r in results]
    return f"{min(runs)}-{max(runs)} (sum {sum(runs)})"


def _acc(results) -> str:
    accs = [r.test_accuracy for r in results]
    return f"{statistics.mean(accs):.3f} ± {statistics.stdev(accs) if len(accs) > 1 else 0.0:.3f}"


if __name__ == "__main__":
    main()
