"""Named numbers measured from a run folder, for claims and tables: metric name -> function.

Each function takes a ``RunRecord`` (what the folder holds) and returns a float
(NaN when the run cannot provide it). Claims in src/dlexp/notebook/exercises/*.yaml refer
to these names; a test checks they all exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from dlexp import artifacts
from dlexp.train.diagnostics import loss_variance


@dataclass
class RunRecord:
    folder: Path
    summary: dict

    @classmethod
    def load(cls, folder: Path) -> "RunRecord":
        return cls(Path(folder), artifacts.read_summary(Path(folder) / artifacts.SUMMARY))

    def _csv(self, name: str) -> pd.DataFrame:
        path = self.folder / name
        try:
            return pd.read_csv(path)
        except (FileNotFoundError, pd.errors.EmptyDataError):
            return pd.DataFrame()

    @cached_property
    def history(self) -> pd.DataFrame:
        return self._csv(artifacts.METRICS)

    @cached_property
    def layer_stats(self) -> pd.DataFrame:
        return self._csv(artifacts.LAYER_STATS)

    @cached_property
    def probes(self) -> pd.DataFrame:
        return self._csv("probes.csv")

    @cached_property
    def config(self) -> dict:
        """The run's resolved config.yaml ({} when missing)."""
        path = self.folder / artifacts.CONFIG
        return (artifacts.read_yaml(path) or {}) if path.exists() else {}

    @property
    def epoch_budget(self) -> int:
        """The epochs the run was allowed (trainer.epochs), else the epochs it ran."""
        return int((self.config.get("trainer") or {}).get("epochs") or len(self.history))


def _num(v) -> float:
    return float(v) if v is not None else math.nan


def _final_layers(r: RunRecord, epoch: str = "last") -> pd.DataFrame:
    ls = r.layer_stats
    if ls.empty:
        return ls
    pick = ls["epoch"].max() if epoch == "last" else 0
    return ls[ls["epoch"] == pick]


def _unit_weighted(df: pd.DataFrame, column: str) -> float:
    """Fraction over all hidden units (layers weighted by their width)."""
    if df.empty:
        return math.nan
    return float((df[column] * df["units"]).sum() / df["units"].sum())


def _grad_ratio_init(r: RunRecord) -> float:
    init = _final_layers(r, epoch="first").sort_values("layer")
    if len(init) < 2:
        return math.nan
    first, last = float(init["grad_norm"].iloc[0]), float(init["grad_norm"].iloc[-1])
    return first / last if last > 0 else math.nan


def _probe(r: RunRecord, which: str) -> float:
    p = r.probes
    if p.empty:
        return math.nan
    p = p.sort_values("depth")
    acc = p["probe_accuracy"].to_numpy()
    if which == "gain":
        return float(acc[-1] - acc[0])
    if which == "last_minus_first":
        return float(acc[-1] - acc[1]) if len(acc) > 2 else math.nan
    return float(acc[-1])


# Speed of learning is the first epoch at which validation accuracy reaches a fixed target. A run that
# never does (early stopping fired first, or the budget ran out) is censored: it counts as budget + 1,
# slower than any run that got there, never as fast.
SPEED_TARGET = 0.9


def reaches(r: RunRecord, target: float = SPEED_TARGET) -> bool:
    h = r.history
    return bool(not h.empty and (h["val_accuracy"].to_numpy() >= target).any())


def epochs_to_target(r: RunRecord, target: float = SPEED_TARGET) -> float:
    h = r.history
    if h.empty:
        return math.nan
    hits = np.flatnonzero(h["val_accuracy"].to_numpy() >= target)
    return float(hits[0] + 1) if len(hits) else float(r.epoch_budget + 1)


def _second_moments(r: RunRecord) -> np.ndarray:
    """Each hidden layer's mean squared activation at initialization, first layer first."""
    init = _final_layers(r, epoch="first").sort_values("layer")
    return (init["act_mean"] ** 2 + init["act_std"] ** 2).to_numpy(dtype="float64")


def signal_drift_init(r: RunRecord) -> float:
    """|log| of the per-layer factor by which the activations' second moment changes at initialization:
    0 when the signal keeps its scale through depth (what He initialization is designed for with ReLU)."""
    m2 = _second_moments(r)
    if len(m2) < 2 or m2[0] <= 0 or m2[-1] <= 0:
        return math.nan
    return abs(math.log(m2[-1] / m2[0])) / (len(m2) - 1)


def max_rise(losses: np.ndarray) -> float:
    """max over epochs t of loss[t] / min(loss[:t]): a loss spike of 3x gives 3, steady descent 1."""
    losses = np.asarray(losses, dtype="float64")
    if len(losses) < 2:
        return math.nan
    best = np.minimum.accumulate(losses)[:-1]
    return float(max(1.0, np.max(losses[1:] / np.where(best > 0, best, np.nan))))


def _history(r: RunRecord, fn: Callable[[pd.DataFrame], float]) -> float:
    return fn(r.history) if not r.history.empty else math.nan


METRICS: dict[str, Callable[[RunRecord], float]] = {
    "test_accuracy": lambda r: _num(r.summary.get("test_accuracy")),
    "test_loss": lambda r: _num(r.summary.get("test_loss")),
    "param_count": lambda r: _num(r.summary.get("param_count")),
    "epochs_run": lambda r: _num(r.summary.get("epochs_run")),
    "final_val_accuracy": lambda r: _history(r, lambda h: float(h["val_accuracy"].iloc[-1])),
    "best_val_accuracy": lambda r: _history(r, lambda h: float(h["val_accuracy"].max())),
    # train accuracy minus validation accuracy at the last epoch
    "generalization_gap": lambda r: _history(r, lambda h: float(h["accuracy"].iloc[-1] - h["val_accuracy"].iloc[-1])),
    # Exercise 7's stability figure: np.var(history['loss'][10:])
    "loss_variance_after_10": lambda r: _history(r, lambda h: loss_variance(h["loss"].to_numpy(), 10)),
    "epochs_to_val_accuracy_0.9": epochs_to_target,
    # the share of all steps in which clipping changed the gradient (NaN where not measured)
    "clipped_share": lambda r: _history(r, lambda h: float(h["clipped_share"].mean()) if "clipped_share" in h else math.nan),
    # stability: the largest factor by which the training loss rose above its best so far (1: never rose)
    "max_loss_rise": lambda r: _history(r, lambda h: max_rise(h["loss"].to_numpy())),
    "signal_drift_init": signal_drift_init,
    # |ln sd| of the last hidden layer's activations at initialization: 0 at unit scale
    "unit_scale_error_last_init": lambda r: abs(math.log(float(
        _final_layers(r, "first").sort_values("layer")["act_std"].iloc[-1]))),
    # the largest per-layer kernel-gradient norm at initialization (log10): how far gradients explode
    "log10_grad_norm_init": lambda r: math.log10(float(_final_layers(r, "first")["grad_norm"].max())),
    "dead_fraction_final": lambda r: _unit_weighted(_final_layers(r), "dead_fraction"),
    "weight_proxy_dead_final": lambda r: _unit_weighted(_final_layers(r), "weight_proxy_dead_fraction"),
    "proxy_error_final": lambda r: abs(_unit_weighted(_final_layers(r), "weight_proxy_dead_fraction")
                                       - _unit_weighted(_final_layers(r), "dead_fraction")),
    "dead_fraction_init": lambda r: _unit_weighted(_final_layers(r, "first"), "dead_fraction"),
    # first hidden layer's kernel-gradient norm over the last hidden layer's, at initialization
    "grad_ratio_init": _grad_ratio_init,
    # over the trained epochs with gradient norms (trainer.grad_norm_every may skip some)
    "mean_grad_norm": lambda r: float(r.layer_stats.loc[r.layer_stats["epoch"] > 0, "grad_norm"].mean())
    if not r.layer_stats.empty else math.nan,
    "probe_accuracy_last": lambda r: _probe(r, "last"),
    "probe_gain": lambda r: _probe(r, "gain"),
    "probe_last_minus_first": lambda r: _probe(r, "last_minus_first"),
}

# Metrics that cannot change with the seed: one run is enough to decide a claim on them.
DETERMINISTIC = {"param_count"}
# Metrics whose value can be censored (the event did not happen within the run): claim -> did it happen.
CENSORED = {"epochs_to_val_accuracy_0.9": reaches}
# Accuracies: bounded by the data set's Bayes ceiling (data/bayes.py).
ACCURACIES = {"test_accuracy", "final_val_accuracy", "best_val_accuracy"}


def measure(record: RunRecord, metric: str) -> float:
    """The value of ``metric`` for one run; NaN for runs that did not finish."""
    if record.summary.get("status") not in ("completed", "diverged"):
        return math.nan
    try:
        value = METRICS[metric](record)
    except (KeyError, IndexError, ValueError, ZeroDivisionError):
        return math.nan
    return float(value) if value is not None and np.isfinite(value) else math.nan
