"""Figures of training over epochs: accuracy per activation (Exercise 4), gradient clipping's loss,
gradient norms and stability (Exercise 7), batch normalization and dropout (Exercise 8)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dlexp.notebook.exercises import Exercise
from dlexp.notebook.figures.base import Collector, FigureList, bar_caption, bars_figure, epoch_note, save
from dlexp.notebook.figures.runs import (Run, chance_level, history_frame, layer_frame, metric_frame, preset,
                                             variant_order)
from dlexp.report import aggregate, charts


def activation_comparison(ex: Exercise, ex_dir: Path) -> FigureList:
    """Exercise 4: training and validation accuracy per activation; test accuracy bars."""
    out = Collector(ex.name)
    preset_dir, runs = preset(ex_dir, "activation_comparison")
    order = variant_order(preset_dir, runs)
    out.add("accuracy_curves", lambda: _accuracy_curves(ex_dir, runs, order))
    out.add("test_accuracy", lambda: bars_figure(ex_dir, runs, order, "test_accuracy",
                                                 "Test accuracy per activation", what="Test accuracy per activation"))
    return out.items


def _accuracy_curves(ex_dir: Path, runs: list[Run], order: list[str]):
    h = history_frame(runs)
    if h.empty or "accuracy" not in h:
        return None
    n, spread = aggregate.n_seeds(h), aggregate.spread_for(aggregate.n_seeds(h))
    fig = charts.metric_curves(h, [("accuracy", "Training accuracy", "Accuracy"),
                                   ("val_accuracy", "Validation accuracy", "Accuracy")],
                               title="Activation function performance comparison", order=order, spread=spread,
                               chance=chance_level(runs))
    cap = ("Training (left) and validation (right) accuracy per activation over epochs, as in the notebook's "
           f"figure: {aggregate.spread_caption(spread, n)}." + epoch_note(h))
    return save(ex_dir, "accuracy_curves", fig), cap


def gradient_clipping(ex: Exercise, ex_dir: Path) -> FigureList:
    """Exercise 7: loss and validation accuracy per clipping mode, gradient norms, loss variance after epoch 10."""
    out = Collector(ex.name)
    preset_dir, runs = preset(ex_dir, "gradient_clipping")
    order = variant_order(preset_dir, runs)
    hist = history_frame(runs)
    out.add("loss_and_val_accuracy", lambda: _clipping_curves(ex_dir, runs, order, hist))
    out.add("gradient_norms", lambda: _gradient_norms(ex_dir, runs, order))
    out.add("loss_variance_after_10", lambda: _loss_variance(ex_dir, runs, order))
    return out.items


def _clipping_curves(ex_dir: Path, runs: list[Run], order: list[str], hist: pd.DataFrame):
    if hist.empty or "loss" not in hist:
        return None
    n, spread = aggregate.n_seeds(hist), aggregate.spread_for(aggregate.n_seeds(hist))
    late = hist.loc[hist["epoch"] > 5, "loss"]
    late = late[late.notna() & (late < float("inf"))]
    ylims = {}
    if len(late):
        ylims["loss"] = (0, 1.1 * float(late.max()))
        zoom = ("The loss axis is zoomed like the notebook's: from 0 to 1.1 x the highest loss after epoch 5, "
                "so the first epochs may run off the top. ")
    else:
        zoom = "(No epoch after 5 was run, so the loss axis is not zoomed like the notebook's.) "
    fig = charts.metric_curves(hist, [("loss", "Training loss", "Loss"),
                                      ("val_accuracy", "Validation accuracy", "Validation accuracy")],
                               title="Gradient clipping: training stability", order=order, spread=spread,
                               ylims=ylims, chance=chance_level(runs))
    cap = (f"Training loss (left) and validation accuracy (right) per clipping mode: "
           f"{aggregate.spread_caption(spread, n)}. "
           + zoom + "The labels of this data set are random, so validation accuracy cannot beat chance (dotted)."
           + epoch_note(hist))
    return save(ex_dir, "loss_and_val_accuracy", fig), cap


def _gradient_norms(ex_dir: Path, runs: list[Run], order: list[str]):
    layers = layer_frame(runs)
    if layers.empty or "grad_norm" not in layers or not layers["grad_norm"].notna().any():
        return None
    layers = layers[layers["grad_norm"].notna()]  # epochs measured without them (trainer.grad_norm_every)
    per_epoch = (layers.groupby(["variant", "seed", "epoch"], as_index=False)["grad_norm"].mean())
    n, spread = aggregate.n_seeds(per_epoch), aggregate.spread_for(aggregate.n_seeds(per_epoch))
    fig = charts.metric_curves(per_epoch, [("grad_norm", "", "Mean kernel-gradient norm over layers (log)")],
                               title="Gradient clipping: the gradients it acts on", order=order, spread=spread,
                               logy=["grad_norm"], figsize=(8.5, 4.6))
    epochs = sorted(int(e) for e in per_epoch["epoch"].unique())
    when = "per epoch" if epochs == list(range(epochs[-1] + 1)) else "at epochs " + ", ".join(map(str, epochs))
    cap = ("Mean over the hidden layers of the L2 norm of each kernel's gradient, " + when + " (epoch 0 = "
           "initialization), log scale. It is measured on a fixed batch of up to 1024 training points after "
           "the epoch, not on the 32-point batches the optimizer clipped, so it shows the size of the gradients "
           f"clipping acted on, not the clipped values. Geometric {aggregate.spread_caption(spread, n)}.")
    return save(ex_dir, "gradient_norms", fig), cap


def _loss_variance(ex_dir: Path, runs: list[Run], order: list[str]):
    frame = metric_frame(runs, "loss_variance_after_10")
    if frame.empty:
        return None
    fig = charts.ci_bars(frame, ylabel="Variance of the training loss after epoch 10",
                         title="Training stability (lower = more stable)", order=order, fmt="{:.2g}")
    cap = bar_caption(frame, "Exercise 7's stability figure, np.var(history['loss'][10:]) per clipping mode "
                             "(epochs 11 on)")
    return save(ex_dir, "loss_variance_after_10", fig), cap


def batch_norm(ex: Exercise, ex_dir: Path) -> FigureList:
    """Exercise 8: validation accuracy per configuration (left) and test accuracy bars (right)."""
    out = Collector(ex.name)
    preset_dir, runs = preset(ex_dir, "batch_norm")
    out.add("batch_norm_comparison", lambda: _batch_norm_comparison(ex_dir, preset_dir, runs))
    return out.items


def _batch_norm_comparison(ex_dir: Path, preset_dir: Path, runs: list[Run]):
    h = history_frame(runs)
    bars = metric_frame(runs, "test_accuracy")
    if h.empty or "val_accuracy" not in h or bars.empty:
        return None
    n, spread = aggregate.n_seeds(h), aggregate.spread_for(aggregate.n_seeds(h))
    fig = charts.curves_and_bars(h, "val_accuracy", "Validation accuracy", bars, "Test accuracy",
                                 title="Impact of batch normalization and dropout",
                                 order=variant_order(preset_dir, runs), spread=spread, chance=chance_level(runs),
                                 curve_title="Validation accuracy over epochs", bar_title="Final performance")
    cap = (f"Left: validation accuracy per configuration over epochs, {aggregate.spread_caption(spread, n)}."
           + epoch_note(h) + " Right: " + bar_caption(bars, "test accuracy (with the best weights "
                                                      "early stopping restored)"))
    return save(ex_dir, "batch_norm_comparison", fig), cap
