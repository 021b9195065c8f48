"""Issue: the cost of `dlexp train` itself. Prints ratios measured in this one process/run.

1. Wall time of `dlexp --help`, `dlexp list` and a config error (no TensorFlow import).
2. Per-epoch cost of dlexp's training path with every diagnostic on (dead units,
   weight proxy, activation stats, gradient norms, per-epoch backup, flushed CSV)
   vs a plain ``model.fit`` of the same model on the same data (validation_split,
   batch 32), epochs 2..N (epoch 1 carries the tracing).
3. Peak RSS of one `dlexp train +exp=shallow_vs_deep`.

    python benchmarks/bench_train.py [EPOCHS]
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class EpochClock:
    """Wall time per epoch, for both paths alike."""

    def __init__(self):
        import keras

        class _CB(keras.callbacks.Callback):
            def on_epoch_begin(cb, epoch, logs=None):
                cb.t = time.perf_counter()

            def on_epoch_end(cb, epoch, logs=None):
                self.times.append(time.perf_counter() - cb.t)

        self.times: list[float] = []
        self.callback = _CB()


def per_epoch_costs(epochs: int) -> tuple[float, float]:
    import keras
    from hydra import compose, initialize_config_module

    from dlexp.config import experiment
    from dlexp.nn import models
    from dlexp.run import runner
    from dlexp.train import diagnostics
    from dlexp.train import keras_fit as training
    from dlexp.config.compose import register_resolvers

    register_resolvers()
    with initialize_config_module("dlexp.conf", version_base="1.3"):
        cfg = compose("config", ["+exp=shallow_vs_deep", f"trainer.epochs={epochs}", "trainer.progress=none"])
    job = next(j for j in experiment.expand(cfg) if j.spec.variant == "deep")
    ds = next(iter(runner.load_data([job]).values()))

    # plain Keras: the notebook's cell
    keras.backend.clear_session()
    keras.utils.set_random_seed(42)
    plain = models.build(job.spec, ds.input_dim, ds.n_classes)
    plain.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    clock_plain = EpochClock()
    plain.fit(ds.x_train, ds.y_train, epochs=epochs, batch_size=32, validation_split=0.2, verbose=0,
              callbacks=[clock_plain.callback])

    # dlexp: fit_one with diagnostics, per-epoch seeds, backup, sinks writing CSV lines
    from dlexp import artifacts

    tmp = Path(tempfile.mkdtemp())
    metrics = artifacts.CsvLog(tmp / "metrics.csv", artifacts.METRICS_COLUMNS)
    layers = artifacts.CsvLog(tmp / "layer_stats.csv", diagnostics.LAYER_COLUMNS)
    clock_dlexp = EpochClock()
    training.fit_one(job.spec, ds, on_epoch=metrics.append, on_layer_rows=layers.extend,
                     progress=[clock_dlexp.callback], backup_dir=tmp / ".backup")
    shutil.rmtree(tmp, ignore_errors=True)
    return statistics.median(clock_plain.times[1:]), statistics.median(clock_dlexp.times[1:])


def dlexp_exe() -> list[str]:
    """The dlexp next to this interpreter (an unactivated venv), else on PATH, else python -m dlexp."""
    exe = shutil.which("dlexp", path=str(Path(sys.executable).parent)) or shutil.which("dlexp")
    return [exe] if exe else [sys.executable, "-m", "dlexp"]


def command_seconds(*args: str, cwd: str) -> float:
    cmd = dlexp_exe() + list(args)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, capture_output=True)
        best = min(best, time.perf_counter() - t)
    return best


def peak_rss_shallow_vs_deep(cwd: str) -> float:
    t = time.perf_counter()
    subprocess.run(dlexp_exe() + ["train", "+exp=shallow_vs_deep"], cwd=cwd, capture_output=True)
    elapsed = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return rss_mb, elapsed


if __name__ == "__main__":
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    work = tempfile.mkdtemp()
    # The commands first: once this process has trained, TensorFlow's idle threads here take CPU
    # from them (a config error measured 1.10 s after the training, 0.64 s before).
    for args in (("--help",), ("list",), ("train", "trainer.epochs=-1")):
        print(f"dlexp {' '.join(args)}: {command_seconds(*args, cwd=work):.2f} s (target <= 1 s)")
    plain, ours = per_epoch_costs(epochs)
    print(f"per-epoch (median of epochs 2..{epochs}, Exercise 1 deep net): plain model.fit {plain * 1000:.1f} ms, "
          f"dlexp {ours * 1000:.1f} ms, ratio {ours / plain:.2f}x (target <= 1.1x)")
    rss, elapsed = peak_rss_shallow_vs_deep(work)
    print(f"dlexp train +exp=shallow_vs_deep: peak RSS {rss:.0f} MB (target <= 1200 MB), {elapsed:.1f} s wall")
    shutil.rmtree(work, ignore_errors=True)
