"""Figures the report adds per exercise, drawn from the run folders (e.g. dead units per initializer).

Registry: exercise name -> function(exercise, exercise_dir) -> list of (png path, caption).
This module only reads folders into long DataFrames (one row per run, epoch or
layer, with ``variant`` and ``seed`` columns); ``exercise_plots`` draws them and
``artifacts.save_figure`` writes ``<exercise_dir>/figures/<name>.png``.
Missing data means no figure: a preset that was not run, a metric the runs did
not record, too few epochs for a statistic. Each figure is built on its own, so
one that fails costs only itself.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable, Optional

import pandas as pd

from dlexp import artifacts
from dlexp.report import aggregate
from dlexp.report import charts as ep
from dlexp.report.compare import run_folders
from dlexp.notebook.exercises import Exercise
from dlexp.notebook.metrics import RunRecord, measure

FigureList = list[tuple[Path, str]]
FIGURES: dict[str, Callable[[Exercise, Path], FigureList]] = {}
FIGURES_DIR = "figures"
FINISHED = ("completed", "diverged")
# Classes of the data sets whose config does not say (for the chance line on accuracy axes).
N_CLASSES = {"moons_circles": 4, "unstable": 2, "digits": 10, "mnist": 10}
ACCURACY_METRICS = ("test_accuracy", "final_val_accuracy", "best_val_accuracy")


def exercise_figures(ex: Exercise, ex_dir: Path) -> FigureList:
    fn = FIGURES.get(ex.name)
    if fn is None:
        return []
    try:
        return fn(ex, ex_dir)
    except Exception as err:  # a figure must never cost the report
        _skipped(ex.name, err)
        return []


def _skipped(what: str, err: BaseException) -> None:
    print(f"[dlexp] report figure {what} skipped: {type(err).__name__}: {err}", file=sys.stderr)


# --------------------------------------------------------------------------- reading run folders


@dataclass
class Run:
    """One finished run folder, its summary and (lazily) its config and logs."""

    record: RunRecord

    @property
    def folder(self) -> Path:
        return self.record.folder

    @property
    def variant(self) -> str:
        return str(self.record.summary.get("variant"))

    @property
    def seed(self) -> int:
        return int(self.record.summary.get("seed") or 0)

    @cached_property
    def config(self) -> dict:
        import yaml

        path = self.folder / artifacts.CONFIG
        try:
            return artifacts.read_yaml(path) or {}
        except (OSError, ValueError, yaml.YAMLError):
            return {}

    def get(self, dotted: str, default=None):
        node = self.config
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


def load_runs(preset_dir: Path) -> list[Run]:
    """The finished (completed or diverged) runs under ``preset_dir``; [] when it does not exist."""
    preset_dir = Path(preset_dir)
    if not preset_dir.is_dir():
        return []
    runs = []
    for folder in run_folders(preset_dir):
        try:
            rec = RunRecord.load(folder)
        except (OSError, ValueError):
            continue
        if rec.summary.get("status") in FINISHED:
            runs.append(Run(rec))
    return runs


def variant_order(preset_dir: Path, runs: list[Run]) -> list[str]:
    """The preset's declared variant order (its config.yaml), then any others in folder order."""
    import yaml

    declared: list[str] = []
    try:
        cfg = artifacts.read_yaml(Path(preset_dir) / artifacts.CONFIG) or {}
        declared = [str(v) for v in (cfg.get("variants") or {})]
    except (OSError, ValueError, yaml.YAMLError):
        pass
    seen = list(dict.fromkeys(r.variant for r in runs))
    return [v for v in declared if v in seen] + [v for v in seen if v not in declared]


def history_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """metrics.csv of every run, with variant and seed columns."""
    parts = []
    for r in runs:
        h = r.record.history
        if not h.empty and "epoch" in h:
            parts.append(h.assign(variant=r.variant, seed=r.seed))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def layer_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """layer_stats.csv of every run, with variant and seed columns."""
    parts = []
    for r in runs:
        ls = r.record.layer_stats
        if not ls.empty and {"epoch", "layer"} <= set(ls.columns):
            parts.append(ls.assign(variant=r.variant, seed=r.seed))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def metric_frame(runs: Iterable[Run], metric: str) -> pd.DataFrame:
    """variant, seed, value of a ``run_metrics`` metric; runs where it is undefined are left out."""
    rows = [{"variant": r.variant, "seed": r.seed, "value": measure(r.record, metric)} for r in runs]
    f = pd.DataFrame(rows, columns=["variant", "seed", "value"])
    return f[f["value"].notna()].reset_index(drop=True)


def chance_level(runs: list[Run]) -> Optional[float]:
    """1 / number of classes of the runs' data set, when known."""
    if not runs:
        return None
    ds = runs[0].config.get("dataset") or {}
    k = ds.get("n_classes") or N_CLASSES.get(ds.get("name"))
    return 1.0 / k if k else None


def n_seeds(frame: pd.DataFrame) -> int:
    return int(frame["seed"].nunique()) if not frame.empty and "seed" in frame else 0


def seeds_range(frame: pd.DataFrame) -> tuple[int, int]:
    """(fewest, most) seeds any variant has."""
    if frame.empty:
        return (0, 0)
    counts = frame.groupby("variant")["seed"].nunique()
    return int(counts.min()), int(counts.max())


def _seeds_note(frame: pd.DataFrame) -> str:
    lo, hi = seeds_range(frame)
    return f"{hi} seeds per variant" if lo == hi else f"{lo}-{hi} seeds per variant"


def _bar_caption(frame: pd.DataFrame, what: str) -> str:
    lo, _ = seeds_range(frame)
    if lo >= 2:
        ci = ("error bars are 95% bootstrap intervals over seeds (within the seeds' values; with few seeds "
              "they are too narrow, the claims' tests decide); a triangle at the edge of the axis marks an "
              "interval that runs off it")
    else:
        ci = "error bars need at least 2 seeds per variant and are missing where there is one"
    return f"{what}: bar = mean over seeds ({_seeds_note(frame)}), {ci}; black dots are the individual seeds."


def _epoch_note(history: pd.DataFrame) -> str:
    if history.empty:
        return ""
    last = history.groupby(["variant", "seed"])["epoch"].max()
    if last.nunique() > 1:
        return (" Runs that stopped early (early stopping) end earlier; later epochs average the seeds still training.")
    return ""


def save(ex_dir: Path, name: str, fig) -> Path:
    path = Path(ex_dir) / FIGURES_DIR / f"{name}.png"
    artifacts.save_figure(path, fig)
    return path


class _Collector:
    """Builds figures one by one; a figure that raises is skipped (with a note on stderr), the others stay."""

    def __init__(self, ex_name: str) -> None:
        self.ex_name, self.items = ex_name, []

    def add(self, name: str, build: Callable[[], Optional[tuple[Path, str]]]) -> None:
        try:
            item = build()
        except Exception as err:
            _skipped(f"{self.ex_name}/{name}", err)
            return
        if item is not None:
            self.items.append(item)


def _preset(ex_dir: Path, name: str) -> tuple[Path, list[Run]]:
    d = Path(ex_dir) / name
    return d, load_runs(d)


def _bars_figure(ex_dir: Path, runs: list[Run], order: list[str], name: str, title: str, metric: str = "test_accuracy",
                 ylabel: str = "Test accuracy", what: str = "Test accuracy per variant") -> Optional[tuple[Path, str]]:
    frame = metric_frame(runs, metric)
    if frame.empty:
        return None
    accuracy = metric in ACCURACY_METRICS
    fig = ep.ci_bars(frame, ylabel=ylabel, title=title, order=order, accuracy=accuracy,
                     chance=chance_level(runs) if accuracy else None)
    cap = _bar_caption(frame, what)
    if accuracy and chance_level(runs):
        cap += " The dotted line is chance (1 / number of classes)."
    return save(ex_dir, name, fig), cap


# --------------------------------------------------------------------------- per exercise


def vanishing_gradients(ex: Exercise, ex_dir: Path) -> FigureList:
    """Exercise 2 in real networks: kernel-gradient norm per layer at initialization and at the last epoch."""
    out = _Collector(ex.name)
    preset_dir, runs = _preset(ex_dir, "vanishing_gradients")

    def build():
        layers = layer_frame(runs)
        if layers.empty or "grad_norm" not in layers:
            return None
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
        if not panels:
            return None
        order = variant_order(preset_dir, runs)
        styles = _activation_depth_styles(runs)
        n = n_seeds(layers)
        spread = aggregate.spread_for(n)
        fig = ep.layer_profiles(panels, title="Gradient flow in real MLPs: kernel-gradient norm per hidden layer",
                                styles=styles, order=order, spread=spread)
        zeros = int((layers["grad_norm"] <= 0).sum())
        cap = ("Vanishing gradients measured in real networks: L2 norm of dL/dW for each hidden layer's kernel "
               "(loss on a fixed batch of up to 1024 training points), layer 1 next to the input, log scale; "
               f"colour = activation, {_depth_styles_text(runs)}. "
               f"Geometric {aggregate.spread_caption(spread, n)}. "
               "A line that falls towards layer 1 is a gradient that vanishes on its way back to the input.")
        if zeros:
            cap += f" {zeros} exactly-zero norms (no gradient at all) cannot be drawn on a log axis and are left out."
        return save(ex_dir, "gradient_flow_real_networks", fig), cap

    out.add("gradient_flow_real_networks", build)
    return out.items


DASHES = ["-", "--", ":", "-."]
DASH_NAMES = ["solid", "dashed", "dotted", "dash-dotted"]


def _depth_styles_text(runs: list[Run]) -> str:
    depths = sorted({len(r.get("model.hidden") or []) for r in runs})
    return ", ".join(f"{DASH_NAMES[i % 4]} = {d} layers" for i, d in enumerate(depths))


def _activation_depth_styles(runs: list[Run]) -> dict[str, dict]:
    """Colour per activation, line style per depth (fewest layers solid)."""
    acts = list(dict.fromkeys(str(r.get("activation.name")) for r in runs))
    depths = sorted({len(r.get("model.hidden") or []) for r in runs})
    dashes = DASHES
    markers = ["o", "s", "^", "D"]
    styles = {}
    for r in runs:
        a, d = str(r.get("activation.name")), len(r.get("model.hidden") or [])
        k = depths.index(d)
        styles[r.variant] = {"color": f"C{acts.index(a) % 10}", "ls": dashes[k % 4], "marker": markers[k % 4]}
    return styles


def activation_comparison(ex: Exercise, ex_dir: Path) -> FigureList:
    """Exercise 4: training and validation accuracy per activation; test accuracy bars."""
    out = _Collector(ex.name)
    preset_dir, runs = _preset(ex_dir, "activation_comparison")
    order = variant_order(preset_dir, runs)

    def curves():
        h = history_frame(runs)
        if h.empty or "accuracy" not in h:
            return None
        n, spread = n_seeds(h), aggregate.spread_for(n_seeds(h))
        fig = ep.metric_curves(h, [("accuracy", "Training accuracy", "Accuracy"),
                                   ("val_accuracy", "Validation accuracy", "Accuracy")],
                               title="Activation function performance comparison", order=order, spread=spread,
                               chance=chance_level(runs))
        cap = ("Training (left) and validation (right) accuracy per activation over epochs, as in the notebook's "
               f"figure: {aggregate.spread_caption(spread, n)}." + _epoch_note(h))
        return save(ex_dir, "accuracy_curves", fig), cap

    out.add("accuracy_curves", curves)
    out.add("test_accuracy", lambda: _bars_figure(ex_dir, runs, order, "test_accuracy",
                                                  "Test accuracy per activation", what="Test accuracy per activation"))
    return out.items


def representations(ex: Exercise, ex_dir: Path) -> FigureList:
    """Exercise 5: the first seed's t-SNE panels and linear-probe accuracy against depth."""
    out = _Collector(ex.name)
    preset_dir, runs = _preset(ex_dir, "representations")
    runs = sorted(runs, key=lambda r: (r.variant, r.seed))

    def tsne():
        for r in runs:
            path = r.folder / artifacts.PLOTS / "tsne.png"
            if path.exists():
                return path, (f"t-SNE of the input and of each hidden layer's output on the test points, "
                              f"seed {r.seed} (the first seed: reproduce embeds only its layers; the probe accuracies of "
                              "every seed are in the next figure), "
                              "coloured by class; the panel titles give each layer's linear-probe accuracy.")
        return None

    def probes():
        parts = [r.record.probes.assign(seed=r.seed) for r in runs
                 if not r.record.probes.empty and {"depth", "probe_accuracy"} <= set(r.record.probes.columns)]
        if not parts:
            return None
        frame = pd.concat(parts, ignore_index=True)
        if "representation" not in frame:
            frame["representation"] = frame["depth"].map(lambda d: "Input" if d == 0 else f"Layer {d}")
        n = n_seeds(frame)
        fig = ep.probe_accuracy_vs_depth(frame, title="How linearly separable is each layer's representation?",
                                         chance=chance_level(runs))
        cap = ("Linear-probe accuracy against depth: a logistic regression fit on each representation (input, "
               "then each hidden layer's output) of the training points and scored on the test points. "
               + (f"Thin grey lines: one per seed; thick line: mean of {n} seeds" if n > 1 else "One seed")
               + ("; shaded: 95% confidence band." if n >= 3 else ".")
               + " Higher = more separable, the notebook's 'increasingly separable at deeper layers' as a number.")
        return save(ex_dir, "probe_accuracy_vs_depth", fig), cap

    out.add("tsne", tsne)
    out.add("probe_accuracy_vs_depth", probes)
    return out.items


def dead_relu(ex: Exercise, ex_dir: Path) -> FigureList:
    """Exercise 6: % dead units per epoch per initializer, on activations and by the notebook's weight proxy."""
    out = _Collector(ex.name)
    preset_dir, runs = _preset(ex_dir, "dead_relu")

    def build():
        layers = layer_frame(runs)
        need = {"units", "dead_fraction", "weight_proxy_dead_fraction"}
        if layers.empty or not need <= set(layers.columns):
            return None
        rows = []
        for (variant, seed, epoch), g in layers.groupby(["variant", "seed", "epoch"], sort=False):
            units = g["units"].astype(float)
            if units.sum() <= 0:
                continue
            rows.append({"variant": variant, "seed": seed, "epoch": epoch,
                         "dead_fraction": float((g["dead_fraction"] * units).sum() / units.sum()),
                         "weight_proxy_dead_fraction": float((g["weight_proxy_dead_fraction"] * units).sum() / units.sum())})
        frame = pd.DataFrame(rows)
        if frame.empty:
            return None
        n = n_seeds(frame)
        spread = aggregate.BAND if n >= 3 else aggregate.MEAN
        fig = ep.dead_units_by_init(frame, title="Dead ReLU problem with different initializations",
                                    order=variant_order(preset_dir, runs), spread=spread)
        cap = ("Percentage of dead hidden units per epoch, one colour per initializer, over all hidden layers "
               "(each layer weighted by its number of units). Solid: dead on activations (the unit outputs 0 for "
               "every training input). Dashed: the notebook's proxy (all incoming weights <= 0), which ignores the "
               f"bias and the inputs' signs. Lines are the mean over {n} seed{'s' if n != 1 else ''}"
               + ("; shaded: 95% confidence band." if spread == aggregate.BAND else " (too few seeds for a band).")
               + " Epoch 0 is the initialization, before any training (the notebook starts at epoch 1).")
        return save(ex_dir, "dead_units_by_initializer", fig), cap

    out.add("dead_units_by_initializer", build)
    return out.items


def gradient_clipping(ex: Exercise, ex_dir: Path) -> FigureList:
    """Exercise 7: loss and validation accuracy per clipping mode, gradient norms, loss variance after epoch 10."""
    out = _Collector(ex.name)
    preset_dir, runs = _preset(ex_dir, "gradient_clipping")
    order = variant_order(preset_dir, runs)
    hist = history_frame(runs)

    def curves():
        if hist.empty or "loss" not in hist:
            return None
        n, spread = n_seeds(hist), aggregate.spread_for(n_seeds(hist))
        late = hist.loc[hist["epoch"] > 5, "loss"]
        late = late[late.notna() & (late < float("inf"))]
        ylims, zoom = {}, ""
        if len(late):
            ylims["loss"] = (0, 1.1 * float(late.max()))
            zoom = ("The loss axis is zoomed like the notebook's: from 0 to 1.1 x the highest loss after epoch 5, "
                    "so the first epochs may run off the top. ")
        else:
            zoom = "(No epoch after 5 was run, so the loss axis is not zoomed like the notebook's.) "
        fig = ep.metric_curves(hist, [("loss", "Training loss", "Loss"),
                                      ("val_accuracy", "Validation accuracy", "Validation accuracy")],
                               title="Gradient clipping: training stability", order=order, spread=spread,
                               ylims=ylims, chance=chance_level(runs))
        cap = (f"Training loss (left) and validation accuracy (right) per clipping mode: {aggregate.spread_caption(spread, n)}. "
               + zoom + "The labels of this data set are random, so validation accuracy cannot beat chance (dotted)."
               + _epoch_note(hist))
        return save(ex_dir, "loss_and_val_accuracy", fig), cap

    def grad_norms():
        layers = layer_frame(runs)
        if layers.empty or "grad_norm" not in layers or not layers["grad_norm"].notna().any():
            return None
        per_epoch = (layers.groupby(["variant", "seed", "epoch"], as_index=False)["grad_norm"].mean())
        n, spread = n_seeds(per_epoch), aggregate.spread_for(n_seeds(per_epoch))
        fig = ep.metric_curves(per_epoch, [("grad_norm", "",
                                            "Mean kernel-gradient norm over layers (log)")],
                               title="Gradient clipping: the gradients it acts on", order=order, spread=spread,
                               logy=["grad_norm"], figsize=(8.5, 4.6))
        epochs = sorted(int(e) for e in per_epoch["epoch"].unique())
        when = "per epoch" if epochs == list(range(epochs[-1] + 1)) else "at epochs " + ", ".join(map(str, epochs))
        cap = ("Mean over the hidden layers of the L2 norm of each kernel's gradient, " + when + " (epoch 0 = "
               "initialization), log scale. It is measured on a fixed batch of up to 1024 training points after "
               "the epoch, not on the 32-point batches the optimizer clipped, so it shows the size of the gradients "
               f"clipping acted on, not the clipped values. Geometric {aggregate.spread_caption(spread, n)}.")
        return save(ex_dir, "gradient_norms", fig), cap

    def variance():
        frame = metric_frame(runs, "loss_variance_after_10")
        if frame.empty:
            return None
        fig = ep.ci_bars(frame, ylabel="Variance of the training loss after epoch 10",
                         title="Training stability (lower = more stable)", order=order, fmt="{:.2g}")
        cap = _bar_caption(frame, "Exercise 7's stability figure, np.var(history['loss'][10:]) per clipping mode "
                                  "(epochs 11 on)")
        return save(ex_dir, "loss_variance_after_10", fig), cap

    out.add("loss_and_val_accuracy", curves)
    out.add("gradient_norms", grad_norms)
    out.add("loss_variance_after_10", variance)
    return out.items


def batch_norm(ex: Exercise, ex_dir: Path) -> FigureList:
    """Exercise 8: validation accuracy per configuration (left) and test accuracy bars (right)."""
    out = _Collector(ex.name)
    preset_dir, runs = _preset(ex_dir, "batch_norm")

    def build():
        h = history_frame(runs)
        bars = metric_frame(runs, "test_accuracy")
        if h.empty or "val_accuracy" not in h or bars.empty:
            return None
        n, spread = n_seeds(h), aggregate.spread_for(n_seeds(h))
        fig = ep.curves_and_bars(h, "val_accuracy", "Validation accuracy", bars, "Test accuracy",
                                 title="Impact of batch normalization and dropout", order=variant_order(preset_dir, runs),
                                 spread=spread, chance=chance_level(runs),
                                 curve_title="Validation accuracy over epochs", bar_title="Final performance")
        cap = (f"Left: validation accuracy per configuration over epochs, {aggregate.spread_caption(spread, n)}."
               + _epoch_note(h) + " Right: " + _bar_caption(bars, "test accuracy (with the best weights "
                                                            "early stopping restored)"))
        return save(ex_dir, "batch_norm_comparison", fig), cap

    out.add("batch_norm_comparison", build)
    return out.items


def deep_activations(ex: Exercise, ex_dir: Path) -> FigureList:
    """Practice 1: final test accuracy and convergence speed of a 10-layer net per activation."""
    out = _Collector(ex.name)
    preset_dir, runs = _preset(ex_dir, "deep_activations")
    order = variant_order(preset_dir, runs)

    def build():
        acc = metric_frame(runs, "test_accuracy")
        speed = metric_frame(runs, "epochs_to_90pct_val_accuracy")
        panels = []
        if not acc.empty:
            panels.append({"frame": acc, "ylabel": "Test accuracy", "title": "Final accuracy",
                           "chance": chance_level(runs), "accuracy": True})
        if not speed.empty:
            panels.append({"frame": speed, "ylabel": "Epochs to 90% of the final validation accuracy",
                           "title": "Convergence speed (lower = faster)", "fmt": "{:.1f}"})
        if not panels:
            return None
        fig = ep.bar_panels(panels, title="A 10-layer network with each activation", order=order)
        cap = _bar_caption(acc if not acc.empty else speed, "Left: test accuracy; right: the first epoch at which "
                           "validation accuracy reaches 90% of its final value (convergence speed)")
        return save(ex_dir, "accuracy_and_speed", fig), cap

    out.add("accuracy_and_speed", build)
    return out.items


def hyperparameter_study(ex: Exercise, ex_dir: Path) -> FigureList:
    """Practice 4: heatmaps of mean test accuracy, learning rate x batch size, one panel per depth."""
    out = _Collector(ex.name)
    preset_dir, runs = _preset(ex_dir, "hyperparameter_study")

    def build():
        rows = []
        for r in runs:
            lr, bs, hidden = r.get("optimizer.learning_rate"), r.get("trainer.batch_size"), r.get("model.hidden")
            acc = measure(r.record, "test_accuracy")
            if lr is None or bs is None or not hidden or math.isnan(acc):
                continue
            rows.append({"depth": len(hidden), "learning_rate": float(lr), "batch_size": int(bs),
                         "seed": r.seed, "value": acc})
        frame = pd.DataFrame(rows)
        if frame.empty:
            return None
        fig = ep.heatmaps(frame, panel="depth", row="learning_rate", col="batch_size",
                          title="Hyperparameter study: mean test accuracy", row_label="Learning rate",
                          col_label="Batch size", panel_label=lambda d: f"{d} hidden layer{'s' if d != 1 else ''}")
        per_cell = frame.groupby(["depth", "learning_rate", "batch_size"])["seed"].nunique()
        seeds = f"{per_cell.max()}" if per_cell.min() == per_cell.max() else f"{per_cell.min()}-{per_cell.max()}"
        cap = (f"Mean test accuracy over seeds ({seeds} per cell) for each learning rate x batch size, "
               "one panel per depth (hidden layers of 64); "
               "values read from each run's config.yaml. One colour scale for all panels, spanning the observed "
               "means (not 0 to 1: read the numbers). The cells are means only: see the results table for the "
               "spread over seeds.")
        return save(ex_dir, "heatmaps", fig), cap

    out.add("heatmaps", build)
    return out.items


def deepest_network(ex: Exercise, ex_dir: Path) -> FigureList:
    """Practice 5: mean test accuracy against depth per architecture, normalization and initializer."""
    out = _Collector(ex.name)
    preset_dir, runs = _preset(ex_dir, "deepest_network")

    def build():
        rows = []
        for r in runs:
            hidden, acc = r.get("model.hidden") or [], measure(r.record, "test_accuracy")
            if not hidden or math.isnan(acc):
                continue
            kind = "residual" if r.get("model.kind") == "residual" else "plain"
            bn = "BN" if r.get("normalization.kind", "none") != "none" else "no BN"
            init = f"{r.get('initializer.name')} initialization"
            rows.append({"depth": len(hidden), "line": f"{kind}, {bn}", "init": init, "seed": r.seed, "value": acc,
                         "width": "/".join(map(str, sorted(set(hidden))))})
        frame = pd.DataFrame(rows)
        if frame.empty:
            return None
        line_order = ["plain, no BN", "plain, BN", "residual, no BN", "residual, BN"]
        styles = {"plain, no BN": {"color": "C3", "ls": "-", "marker": "o"},
                  "plain, BN": {"color": "C0", "ls": "-", "marker": "s"},
                  "residual, no BN": {"color": "C3", "ls": "--", "marker": "o"},
                  "residual, BN": {"color": "C0", "ls": "--", "marker": "s"}}
        inits = sorted(frame["init"].unique().tolist(), key=lambda s: (not s.startswith("glorot"), s))
        n, spread = n_seeds(frame), aggregate.spread_for(n_seeds(frame))
        widths = sorted(frame["width"].unique())
        xlabel = "Hidden layers" + (f" (width {widths[0]})" if len(widths) == 1 else "")
        fig = ep.lines_vs(frame, x="depth", xlabel=xlabel,
                          ylabel="Test accuracy", title="How deep can we train? Test accuracy vs depth", accuracy=True,
                          line="line", panel="init", spread=spread, chance=chance_level(runs), styles=styles,
                          line_order=line_order, panel_order=inits)
        how = _spread_words(spread, n)
        cap = (f"Mean test accuracy over {n} seed{'s' if n != 1 else ''} against the number of hidden layers, "
               "one line per architecture (plain MLP solid, residual dashed; BatchNorm blue, none red), one panel per "
               f"initializer; {how}. Depth and settings read from each run's config.yaml. The dotted line is chance.")
        return save(ex_dir, "accuracy_vs_depth", fig), cap

    out.add("accuracy_vs_depth", build)
    return out.items


def _spread_words(spread: str, n: int) -> str:
    """What ``ep.lines_vs`` drew around the mean: a band, a dot per seed, or nothing (one seed)."""
    if n <= 1:
        return "one seed, so no spread to show"
    return "shaded: 95% confidence band" if spread == aggregate.BAND else "dots: the individual seeds"


def _bars_for_presets(ex: Exercise, ex_dir: Path, out: _Collector, title: str, what: str) -> None:
    dirs = _preset_dirs(ex, ex_dir)
    for preset_dir in dirs:
        runs = load_runs(preset_dir)
        name = preset_dir.name
        which = f" (preset {name})" if len(dirs) > 1 else ""
        out.add(f"{name}_test_accuracy", lambda runs=runs, d=preset_dir, name=name, which=which: _bars_figure(
            ex_dir, runs, variant_order(d, runs), f"{name}_test_accuracy", title + which, what=what + which))


def _preset_dirs(ex: Exercise, ex_dir: Path) -> list[Path]:
    """The exercise's presets that were run, then any other preset folders (e.g. real_dataset_mnist)."""
    ex_dir = Path(ex_dir)
    found = [ex_dir / p for p in ex.presets if (ex_dir / p).is_dir()]
    if ex_dir.is_dir():
        found += [d for d in sorted(ex_dir.iterdir()) if d.is_dir() and d not in found
                  and d.name not in ("analysis", FIGURES_DIR) and (d / "runs").is_dir()]
    return found


def real_dataset(ex: Exercise, ex_dir: Path) -> FigureList:
    out = _Collector(ex.name)
    _bars_for_presets(ex, ex_dir, out, "Real data set: test accuracy", "Test accuracy per network")
    return out.items


def custom_activation(ex: Exercise, ex_dir: Path) -> FigureList:
    out = _Collector(ex.name)
    _bars_for_presets(ex, ex_dir, out, "Custom activation: test accuracy", "Test accuracy per activation")
    return out.items


def shallow_vs_deep(ex: Exercise, ex_dir: Path) -> FigureList:
    """Exercise 1: shallow vs deep bars, and accuracy against depth and against width (Your Turn 1-2)."""
    out = _Collector(ex.name)
    main_dir, main_runs = _preset(ex_dir, "shallow_vs_deep")
    out.add("test_accuracy", lambda: _bars_figure(ex_dir, main_runs, variant_order(main_dir, main_runs),
                                                  "test_accuracy", "Shallow [1000] vs deep [100, 100, 100]",
                                                  what="Test accuracy, shallow vs deep"))

    def sweeps():
        rows, chance = [], None
        for preset, panel, x_of in (("shallow_vs_deep_depth", "vs depth (100 units per layer)", len),
                                    ("shallow_vs_deep_width", "vs width (3 hidden layers)", lambda h: int(h[0]))):
            _, runs = _preset(ex_dir, preset)
            chance = chance or chance_level(runs)
            for r in runs:
                hidden, acc = r.get("model.hidden") or [], measure(r.record, "test_accuracy")
                if hidden and not math.isnan(acc):
                    rows.append({"panel": panel, "x": x_of(hidden), "seed": r.seed, "value": acc})
        frame = pd.DataFrame(rows)
        if frame.empty:
            return None
        n, spread = n_seeds(frame), aggregate.spread_for(n_seeds(frame))
        fig = ep.lines_vs(frame, x="x", xlabel="", ylabel="Test accuracy", panel="panel", spread=spread, accuracy=True,
                          chance=chance, sharex=False, logx={"vs width (3 hidden layers)"},
                          title="Exercise 1, Your Turn: test accuracy vs depth and vs width",
                          xlabels={"vs depth (100 units per layer)": "Hidden layers",
                                   "vs width (3 hidden layers)": "Units per hidden layer"})
        how = _spread_words(spread, n)
        cap = (f"Test accuracy (mean over {n} seed{'s' if n != 1 else ''}; {how}) against the number of hidden "
               "layers of 100 units (left, preset shallow_vs_deep_depth) and against the width of 3 hidden layers "
               "(right, preset shallow_vs_deep_width; log axis). Depth and width read from each run's config.yaml; "
               "the dotted line is chance.")
        return save(ex_dir, "accuracy_vs_depth_and_width", fig), cap

    out.add("accuracy_vs_depth_and_width", sweeps)
    return out.items


FIGURES.update({
    "shallow_vs_deep": shallow_vs_deep,
    "vanishing_gradients": vanishing_gradients,
    "activation_comparison": activation_comparison,
    "representations": representations,
    "dead_relu": dead_relu,
    "gradient_clipping": gradient_clipping,
    "batch_norm": batch_norm,
    "deep_activations": deep_activations,
    "custom_activation": custom_activation,
    "hyperparameter_study": hyperparameter_study,
    "real_dataset": real_dataset,
    "deepest_network": deepest_network,
})
