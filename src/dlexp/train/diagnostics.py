"""Pure measurements on arrays: dead units, the notebook's weight proxy, activation stats.

Everything here takes numpy arrays and returns numbers, so it is tested on tiny hand-made
arrays. Both trainers hand each hidden layer's ``LayerState`` (per member, for the stack) to
``layer_row``; the columns of layer_stats.csv are the entries of ``LAYER_STATS``, so a new
per-layer diagnostic is one entry there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class ActivationSummary:
    """Running per-unit statistics of one layer's outputs over many batches."""

    max_abs: np.ndarray  # (units,)
    total: float = 0.0
    total_sq: float = 0.0
    count: int = 0

    @classmethod
    def of(cls, acts: np.ndarray) -> "ActivationSummary":
        s = cls(max_abs=np.zeros(acts.shape[1]))
        s.add(acts)
        return s

    def add(self, acts: np.ndarray) -> None:
        """acts: (batch, units)."""
        acts = np.asarray(acts, dtype=np.float64)
        self.max_abs = np.maximum(self.max_abs, np.abs(acts).max(axis=0))
        self.total += float(acts.sum())
        self.total_sq += float((acts**2).sum())
        self.count += acts.size

    @property
    def dead_fraction(self) -> float:
        """Fraction of units whose output was exactly 0 for every input seen."""
        return float(np.mean(self.max_abs == 0.0))

    @property
    def mean(self) -> float:
        return self.total / self.count

    @property
    def std(self) -> float:
        var = self.total_sq / self.count - self.mean**2
        return float(np.sqrt(max(var, 0.0)))


@dataclass
class LayerState:
    """One hidden layer of one network at one measured epoch: its activations over the training
    inputs (summarized), its kernel (inputs, units), and the mean loss gradient w.r.t. the kernel
    over the first training inputs (None where it was not taken)."""

    summary: ActivationSummary
    kernel: np.ndarray
    kernel_grad: "np.ndarray | None"


# layer_stats.csv's measured columns, in order: name -> its value for one layer.
LAYER_STATS: dict[str, Callable[[LayerState], float]] = {
    "dead_fraction": lambda s: s.summary.dead_fraction,
    "weight_proxy_dead_fraction": lambda s: weight_proxy_dead_fraction(s.kernel),
    "act_mean": lambda s: s.summary.mean,
    "act_std": lambda s: s.summary.std,
    "grad_norm": lambda s: l2_norm(s.kernel_grad) if s.kernel_grad is not None else float("nan"),
}
LAYER_COLUMNS = ["epoch", "layer", "units", *LAYER_STATS]


def layer_row(epoch: int, layer: int, units: int, state: LayerState) -> dict:
    """One row of layer_stats.csv."""
    return {"epoch": epoch, "layer": layer, "units": units, **{name: float(f(state)) for name, f in LAYER_STATS.items()}}


def dead_fraction(acts: np.ndarray) -> float:
    """Fraction of units (columns) that output 0 for every input (row).

    Example:
        >>> dead_fraction(np.array([[0.0, 1.0], [0.0, 0.0]]))
        0.5
    """
    return ActivationSummary.of(acts).dead_fraction


def weight_proxy_dead_fraction(kernel: np.ndarray) -> float:
    """The notebook's proxy: a unit counts as dead when all its incoming weights are <= 0.

    kernel: (inputs, units). It ignores the bias and the inputs' signs, so it
    can disagree with ``dead_fraction``; layer_stats.csv reports both.
    """
    return float(np.mean(np.max(kernel, axis=0) <= 0))


def l2_norm(array: np.ndarray) -> float:
    return float(np.sqrt(np.sum(np.square(np.asarray(array, dtype=np.float64)))))


def loss_variance(losses, start_epoch: int = 10) -> float:
    """Exercise 7's stability figure: variance of the training loss from epoch ``start_epoch`` on.

    ``losses[0]`` is epoch 1, so the notebook's ``history['loss'][10:]`` is epochs 11.. .
    """
    tail = np.asarray(losses, dtype=np.float64)[start_epoch:]
    return float(np.var(tail)) if len(tail) else float("nan")

