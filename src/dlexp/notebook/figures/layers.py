"""Figures of what happens inside the networks, layer by layer: gradient norms (Exercise 2),
linearly separable representations (Exercise 5), dead units (Exercise 6)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dlexp import artifacts
from dlexp.notebook.exercises import Exercise
from dlexp.notebook.figures.base import Collector, FigureList, save
from dlexp.notebook.figures.runs import Run, chance_level, layer_frame, preset, variant_order
from dlexp.report import aggregate, charts

DASHES = ["-", "--", ":", "-."]
DASH_NAMES = ["solid", "dashed", "dotted", "dash-dotted"]
DEAD_COLUMNS = ("dead_fraction", "weight_proxy_dead_fraction")  # layer_stats.csv: on activations, by the weights


def vanishing_gradients(ex: Exercise, ex_dir: Path) -> FigureList:
    """Exercise 2 in real networks: kernel-gradient norm per layer at initialization and at the last epoch."""
    out = Collector(ex.name)
    preset_dir, runs = preset(ex_dir, "vanishing_gradients")
    out.add("gradient_flow_real_networks", lambda: _gradient_flow(ex_dir, preset_dir, runs))
    return out.items


def _gradient_flow(ex_dir: Path, preset_dir: Path, runs: list[Run]):
    layers = layer_frame(runs)
    if layers.empty or "grad_norm" not in layers:
        return None
    panels = _first_and_last_epoch(layers)
    if not panels:
        return None
    n = aggregate.n_seeds(layers)
    spread = aggregate.spread_for(n)
    fig = charts.layer_profiles(panels, title="Gradient flow in real MLPs: kernel-gradient norm per hidden layer",
                                styles=_activation_depth_styles(runs), order=variant_order(preset_dir, runs),
                                spread=spread)
    zeros = int((layers["grad_norm"] <= 0).sum())
    cap = ("Vanishing gradients measured in real networks: L2 norm of dL/dW for each hidden layer's kernel "
           "(loss on a fixed batch of up to 1024 training points), layer 1 next to the input, log scale; "
           f"colour = activation, {_depth_styles_text(runs)}. "
           f"Geometric {aggregate.spread_caption(spread, n)}. "
           "A line that falls towards layer 1 is a gradient that vanishes on its way back to the input.")
    if zeros:
        cap += f" {zeros} exactly-zero norms (no gradient at all) cannot be drawn on a log axis and are left out."
    return save(ex_dir, "gradient_flow_real_networks", fig), cap


def _first_and_last_epoch(layers: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Panel title -> the layers' rows at initialization, and at each run's last epoch (when it trained)."""
    init = layers[layers["epoch"] == 0]
    last_epoch = layers.groupby(["variant", "seed"])["epoch"].transform("max")
    last = layers[(layers["epoch"] == last_epoch) & (layers["epoch"] > 0)]
    panels = {}
    if not init.empty:
        panels["At initialization (epoch 0)"] = init
    if not last.empty:
        epochs = sorted(last["epoch"].unique().tolist())
        when = f"epoch {epochs[0]}" if len(epochs) == 1 else f"epochs {epochs[0]}-{epochs[-1]}"
        panels[f"After training (last epoch: {when})"] = last
    return panels


def _depth_styles_text(runs: list[Run]) -> str:
    depths = sorted({len(r.get("model.hidden") or []) for r in runs})
    return ", ".join(f"{DASH_NAMES[i % 4]} = {d} layers" for i, d in enumerate(depths))


def _activation_depth_styles(runs: list[Run]) -> dict[str, dict]:
    """Colour per activation, line style per depth (fewest layers solid)."""
    acts = list(dict.fromkeys(str(r.get("activation.name")) for r in runs))
    depths = sorted({len(r.get("model.hidden") or []) for r in runs})
    markers = ["o", "s", "^", "D"]
    styles = {}
    for r in runs:
        a, d = str(r.get("activation.name")), len(r.get("model.hidden") or [])
        k = depths.index(d)
        styles[r.variant] = {"color": f"C{acts.index(a) % 10}", "ls": DASHES[k % 4], "marker": markers[k % 4]}
    return styles


def representations(ex: Exercise, ex_dir: Path) -> FigureList:
    """Exercise 5: the first seed's t-SNE panels and linear-probe accuracy against depth."""
    out = Collector(ex.name)
    _, runs = preset(ex_dir, "representations")
    runs = sorted(runs, key=lambda r: (r.variant, r.seed))
    out.add("tsne", lambda: _tsne(runs))
    out.add("probe_accuracy_vs_depth", lambda: _probes(ex_dir, runs))
    return out.items


def _tsne(runs: list[Run]):
    """The first seed's t-SNE figure, which the run drew itself (reproduce embeds only its layers)."""
    for r in runs:
        path = r.folder / artifacts.PLOTS / "tsne.png"
        if path.exists():
            return path, (f"t-SNE of the input and of each hidden layer's output on the test points, "
                          f"seed {r.seed} (the first seed: reproduce embeds only its layers; the probe accuracies of "
                          "every seed are in the next figure), "
                          "coloured by class; the panel titles give each layer's linear-probe accuracy.")
    return None


def _probes(ex_dir: Path, runs: list[Run]):
    parts = [r.record.probes.assign(seed=r.seed) for r in runs
             if not r.record.probes.empty and {"depth", "probe_accuracy"} <= set(r.record.probes.columns)]
    if not parts:
        return None
    frame = pd.concat(parts, ignore_index=True)
    if "representation" not in frame:
        frame["representation"] = frame["depth"].map(lambda d: "Input" if d == 0 else f"Layer {d}")
    n = aggregate.n_seeds(frame)
    fig = charts.probe_accuracy_vs_depth(frame, title="How linearly separable is each layer's representation?",
                                         chance=chance_level(runs))
    cap = ("Linear-probe accuracy against depth: a logistic regression fit on each representation (input, "
           "then each hidden layer's output) of the training points and scored on the test points. "
           + (f"Thin grey lines: one per seed; thick line: mean of {n} seeds" if n > 1 else "One seed")
           + ("; shaded: 95% confidence band." if n >= 3 else ".")
           + " Higher = more separable, the notebook's 'increasingly separable at deeper layers' as a number.")
    return save(ex_dir, "probe_accuracy_vs_depth", fig), cap


def dead_relu(ex: Exercise, ex_dir: Path) -> FigureList:
    """Exercise 6: % dead units per epoch per initializer, on activations and by the notebook's weight proxy."""
    out = Collector(ex.name)
    preset_dir, runs = preset(ex_dir, "dead_relu")
    out.add("dead_units_by_initializer", lambda: _dead_units(ex_dir, preset_dir, runs))
    return out.items


def _dead_units(ex_dir: Path, preset_dir: Path, runs: list[Run]):
    frame = _dead_fractions(layer_frame(runs))
    if frame.empty:
        return None
    n = aggregate.n_seeds(frame)
    spread = aggregate.BAND if n >= 3 else aggregate.MEAN
    fig = charts.dead_units_by_init(frame, title="Dead ReLU problem with different initializations",
                                    order=variant_order(preset_dir, runs), spread=spread)
    cap = ("Percentage of dead hidden units per epoch, one colour per initializer, over all hidden layers "
           "(each layer weighted by its number of units). Solid: dead on activations (the unit outputs 0 for "
           "every training input). Dashed: the notebook's proxy (all incoming weights <= 0), which ignores the "
           f"bias and the inputs' signs. Lines are the mean over {n} seed{'s' if n != 1 else ''}"
           + ("; shaded: 95% confidence band." if spread == aggregate.BAND else " (too few seeds for a band).")
           + " Epoch 0 is the initialization, before any training (the notebook starts at epoch 1).")
    return save(ex_dir, "dead_units_by_initializer", fig), cap


def _dead_fractions(layers: pd.DataFrame) -> pd.DataFrame:
    """Per variant, seed and epoch: the dead fraction over all hidden layers, each weighted by its units."""
    if layers.empty or not {"units", *DEAD_COLUMNS} <= set(layers.columns):
        return pd.DataFrame()
    rows = []
    for (variant, seed, epoch), g in layers.groupby(["variant", "seed", "epoch"], sort=False):
        units = g["units"].astype(float)
        if units.sum() <= 0:
            continue
        rows.append({"variant": variant, "seed": seed, "epoch": epoch,
                     **{c: float((g[c] * units).sum() / units.sum()) for c in DEAD_COLUMNS}})
    return pd.DataFrame(rows)
