"""Per-epoch time of one stack of Exercise 4's network at 1, 25 and 100 members (and optionally
the same seeds as one Keras ``fit_one`` each).

moons_circles data, 128-64-32 ReLU MLP, batchnorm after the activation, dropout 0.3, Adam,
batch 32, early stopping off (every member trains every epoch). Each stack trains in this
process on the same data; the per-epoch time is the median of the members' ``epoch_seconds``
from epoch 2 on (epoch 1 traces), which includes the per-epoch Python (rows, bookkeeping).
``--shared-cores`` sets one thread per op as the reproduction's two lanes do (then the stack
uses one core); by default TF's pools use every core. Asserts nothing.

    python benchmarks/bench_stack.py [--members 1 25 100] [--epochs 20] [--shared-cores] [--keras]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as the dlexp command sets it

from dlexp.config import schema as config  # noqa: E402
from dlexp.data import datasets as data  # noqa: E402


def exercise4_spec(epochs: int) -> config.RunSpec:
    return config.to_spec({
        "name": "bench_stack",
        "dataset": {"name": "moons_circles"},
        "model": {"kind": "mlp", "hidden": [128, 64, 32], "dropout": 0.3},
        "activation": {"name": "relu"},
        "normalization": {"kind": "batchnorm", "placement": "post_activation"},
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "trainer": {"epochs": epochs, "batch_size": 32, "diagnostics": False, "progress": "none",
                    "early_stopping": {"enabled": False}},
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1, 25, 100])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=1, help="rounds over the member counts (medians reported)")
    parser.add_argument("--shared-cores", action="store_true", help="one thread per op, as two lanes train")
    parser.add_argument("--keras", action="store_true", help="also time the seeds as one fit_one each")
    args = parser.parse_args()
    if args.shared_cores:
        from dlexp.nn import tf_runtime

        tf_runtime.one_thread_per_op()
    from dlexp.train.stack import fit as stack

    base = exercise4_spec(args.epochs)
    t = base.trainer
    ds = data.load(base.dataset, t.test_size, t.split_seed, t.stratify)
    print(f"Exercise 4's net, {len(ds.x_train)} train rows, batch {t.batch_size}, {args.epochs} epochs, "
          f"{'one thread per op' if args.shared_cores else 'all cores'}")
    per_epoch: dict[int, list[float]] = {}
    for _ in range(args.repeat):
        for members in args.members:
            specs = [base.with_seed(seed) for seed in range(members)]
            start = time.perf_counter()
            results = stack.fit_stack(specs, ds)
            wall = time.perf_counter() - start
            ms = 1000 * statistics.median(r["epoch_seconds"] for r in results[0].history[1:])
            per_epoch.setdefault(members, []).append(ms)
            print(f"stack of {members:4d}: {ms:7.1f} ms per epoch ({ms / members:6.2f} ms per member-epoch), "
                  f"fit {wall:6.1f} s, test acc {_acc(results)}", flush=True)
    if args.repeat > 1:
        for members, values in per_epoch.items():
            print(f"median stack of {members:4d}: {statistics.median(values):7.1f} ms per epoch")
    if args.keras:
        from dlexp.train.keras_fit import fit_one

        members = min(args.members)
        specs = [base.with_seed(seed) for seed in range(members)]
        start = time.perf_counter()
        solo = [fit_one(s, ds) for s in specs]
        print(f"fit_one x{members}: {time.perf_counter() - start:6.1f} s, test acc {_acc(solo)}")


def _acc(results) -> str:
    accs = [r.test_accuracy for r in results]
    return f"{statistics.mean(accs):.3f} ± {statistics.stdev(accs) if len(accs) > 1 else 0.0:.3f}"


if __name__ == "__main__":
    main()
