"""The report's exercise figures: a fake reproduction folder written by hand (no training),
every registry function on it, missing data, and the pure plotting functions on tiny frames."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dlexp.report import aggregate
from dlexp.report import charts as ep
from dlexp.notebook import figures as rf
from dlexp.notebook.figures import runs as fr
from dlexp.notebook.exercises import load, names

SEEDS = (42, 43)
EPOCHS = 12  # > 10, so the loss variance after epoch 10 exists


@pytest.fixture(autouse=True)
def fast_png(monkeypatch):
    """Figures are drawn and written as real PNGs, at a low resolution to keep this file fast."""
    import io

    from dlexp import artifacts

    def save_figure(path, fig):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=25)
        artifacts.atomic_write_bytes(path, buf.getvalue())

    monkeypatch.setattr(artifacts, "save_figure", save_figure)


# --------------------------------------------------------------------------- a fake reproduction


def _config(**over) -> dict:
    cfg = {
        "dataset": {"name": "spiral", "n_classes": 3},
        "model": {"kind": "mlp", "hidden": [8, 8], "dropout": 0.0},
        "activation": {"name": "relu"},
        "initializer": {"name": "glorot_uniform"},
        "normalization": {"kind": "none"},
        "clipping": {"kind": "none", "value": 1.0},
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "trainer": {"epochs": EPOCHS, "batch_size": 32, "seed": 42},
    }
    for dotted, value in over.items():
        node = cfg
        *parents, last = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return cfg


def make_run(preset_dir: Path, variant: str, seed: int, *, config: dict | None = None, epochs: int = EPOCHS,
             layers: int = 2, probes: bool = False, status: str = "completed", tsne: bool = False) -> Path:
    folder = preset_dir / "runs" / variant.replace("=", "-").replace(",", "_") / f"seed{seed}"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed + len(variant))
    acc = float(np.clip(0.6 + 0.1 * rng.standard_normal(), 0, 1))
    cfg = {"name": preset_dir.name, "variant": variant, **(config or _config())}
    cfg["trainer"] = {**cfg["trainer"], "seed": seed}
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    summary = {"kind": "run", "name": preset_dir.name, "variant": variant, "seed": seed, "status": status,
               "test_accuracy": acc, "test_loss": 1 - acc, "param_count": 100, "epochs_run": epochs,
               "subdir": str(folder.relative_to(preset_dir))}
    (folder / "summary.json").write_text(json.dumps(summary))
    ep_ = np.arange(1, epochs + 1)
    loss = 1.0 / ep_ + 0.02 * rng.standard_normal(epochs)
    pd.DataFrame({"epoch": ep_, "loss": loss, "accuracy": 1 - loss / 2, "val_loss": loss * 1.1,
                  "val_accuracy": np.minimum(0.95, 0.3 + 0.05 * ep_), "lr": 0.001, "epoch_seconds": 0.1,
                  "wall_seconds": 0.1 * ep_}).to_csv(folder / "metrics.csv", index=False)
    rows = []
    for e in range(epochs + 1):
        for layer in range(1, layers + 1):
            rows.append({"epoch": e, "layer": layer, "units": 8 * layer, "dead_fraction": min(1.0, 0.05 * e / epochs),
                         "weight_proxy_dead_fraction": 0.15, "act_mean": 0.5, "act_std": 0.1,
                         "grad_norm": 10.0 ** (-layers + layer) * (1 + 0.1 * seed % 3)})
    pd.DataFrame(rows).to_csv(folder / "layer_stats.csv", index=False)
    if probes:
        pd.DataFrame({"representation": ["Input", "Layer 1", "Layer 2", "Layer 3"], "depth": [0, 1, 2, 3],
                      "dims": [2, 16, 8, 4], "probe_accuracy": [0.5, 0.7, 0.8, 0.85 + 0.01 * (seed % 2)]}
                     ).to_csv(folder / "probes.csv", index=False)
    if tsne:
        (folder / "plots").mkdir()
        (folder / "plots" / "tsne.png").write_bytes(b"\x89PNG fake")
    return folder


def make_preset(ex_dir: Path, preset: str, variants: dict[str, dict], **kw) -> Path:
    d = ex_dir / preset
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump({"name": preset, "variants": {v: {} for v in variants}}, sort_keys=False))
    for variant, cfg in variants.items():
        for seed in SEEDS:
            make_run(d, variant, seed, config=cfg, **kw)
    return d


@pytest.fixture(scope="module")
def rep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rep")
    c = _config
    make_preset(root / "shallow_vs_deep", "shallow_vs_deep",
                {"shallow": c(model__hidden=[64]), "deep": c(model__hidden=[8, 8, 8])})
    make_preset(root / "shallow_vs_deep", "shallow_vs_deep_depth",
                {f"depth{d}": c(model__hidden=[8] * d) for d in (2, 3)})
    make_preset(root / "shallow_vs_deep", "shallow_vs_deep_width",
                {f"width{w}": c(model__hidden=[w] * 3) for w in (50, 100)})
    make_preset(root / "vanishing_gradients", "vanishing_gradients",
                {f"{a}_{n}": c(activation__name=a, model__hidden=[8] * n) for a in ("sigmoid", "relu") for n in (3, 5)},
                layers=3)
    mc = dict(dataset={"name": "moons_circles"})
    make_preset(root / "activation_comparison", "activation_comparison",
                {a: c(activation__name=a, **mc) for a in ("relu", "elu", "gelu")})
    make_preset(root / "representations", "representations", {"default": c(**mc)}, probes=True, tsne=True)
    make_preset(root / "dead_relu", "dead_relu", {i: c(initializer__name=i, **mc) for i in ("zeros", "he_normal")})
    gc = dict(dataset={"name": "unstable"})
    make_preset(root / "gradient_clipping", "gradient_clipping",
                {k: c(clipping__kind=k, **gc) for k in ("none", "value")})
    make_preset(root / "batch_norm", "batch_norm",
                {"plain": c(**mc), "batchnorm": c(normalization__kind="batchnorm", **mc)})
    make_preset(root / "deep_activations", "deep_activations",
                {a: c(activation__name=a) for a in ("relu", "tanh", "sigmoid")})
    make_preset(root / "custom_activation", "custom_activation",
                {a: c(activation__name=a) for a in ("relu", "xtanh_sqrt")})
    make_preset(root / "real_dataset", "real_dataset", {"mlp": c(dataset={"name": "digits"})})
    hp = {f"learning_rate={lr},batch_size={bs},depth{d}": c(optimizer__learning_rate=lr, trainer__batch_size=bs,
                                                         model__hidden=[8] * d)
          for lr in (0.001, 0.01) for bs in (16, 64) for d in (1, 3)}
    make_preset(root / "hyperparameter_study", "hyperparameter_study", hp)
    dn = {f"{k},{b},{i},depth{d}": c(model__kind="residual" if k == "residual" else "mlp", model__hidden=[4] * d,
                                     normalization__kind="batchnorm" if b == "bn" else "none",
                                     initializer__name="he_normal" if i == "he" else "glorot_uniform")
          for k in ("plain", "residual") for b in ("nobn", "bn") for i in ("glorot", "he") for d in (2, 4)}
    make_preset(root / "deepest_network", "deepest_network", dn, epochs=2)
    return root


EXPECTED = {  # exercise -> figure file names (stems) it must produce from the fake folder
    "shallow_vs_deep": {"test_accuracy", "accuracy_vs_depth_and_width"},
    "vanishing_gradients": {"gradient_flow_real_networks"},
    "activation_comparison": {"accuracy_curves", "test_accuracy"},
    "representations": {"tsne", "probe_accuracy_vs_depth"},
    "dead_relu": {"dead_units_by_initializer"},
    "gradient_clipping": {"loss_and_val_accuracy", "gradient_norms", "loss_variance_after_10"},
    "batch_norm": {"batch_norm_comparison"},
    "deep_activations": {"accuracy_and_speed"},
    "custom_activation": {"custom_activation_test_accuracy"},
    "real_dataset": {"real_dataset_test_accuracy"},
    "hyperparameter_study": {"heatmaps"},
    "deepest_network": {"accuracy_vs_depth"},
}


@pytest.mark.parametrize("exercise", sorted(EXPECTED))
def test_registry_writes_figures(rep, exercise, capsys):
    figs = rf.FIGURES[exercise](load(exercise), rep / exercise)
    assert {p.stem for p, _ in figs} == EXPECTED[exercise]
    for path, caption in figs:
        assert path.exists() and path.stat().st_size > 0
        assert path.read_bytes()[:4] == b"\x89PNG"
        assert isinstance(caption, str) and len(caption) > 20
        if path.stem != "tsne":
            assert path.parent == rep / exercise / "figures"
    assert "skipped" not in capsys.readouterr().err  # no figure failed silently


def test_every_training_exercise_is_registered():
    training = [n for n in names() if load(n).presets]
    assert set(training) <= set(rf.FIGURES)


@pytest.mark.parametrize("exercise", sorted(EXPECTED))
def test_missing_exercise_gives_no_figure(tmp_path, exercise):
    assert rf.exercise_figures(load(exercise), tmp_path / exercise) == []
    (tmp_path / exercise / exercise).mkdir(parents=True)  # a preset folder without runs
    assert rf.exercise_figures(load(exercise), tmp_path / exercise) == []


def test_runs_without_logs_give_no_curves(tmp_path):
    """summary.json only (no metrics.csv, layer_stats.csv, probes): figures needing the logs are left out."""
    d = make_preset(tmp_path / "gradient_clipping", "gradient_clipping", {"none": _config(), "value": _config()})
    for f in d.rglob("*.csv"):
        f.unlink()
    figs = rf.gradient_clipping(load("gradient_clipping"), tmp_path / "gradient_clipping")
    assert figs == []
    d = make_preset(tmp_path / "representations", "representations", {"default": _config()})
    for f in d.rglob("*.csv"):
        f.unlink()
    assert rf.representations(load("representations"), tmp_path / "representations") == []
    d = make_preset(tmp_path / "dead_relu", "dead_relu", {"zeros": _config()})
    for f in d.rglob("layer_stats.csv"):
        f.write_text("")
    assert rf.dead_relu(load("dead_relu"), tmp_path / "dead_relu") == []


def test_short_runs_skip_the_loss_variance(tmp_path):
    make_preset(tmp_path / "gradient_clipping", "gradient_clipping", {"none": _config(), "value": _config()}, epochs=3)
    stems = {p.stem for p, _ in rf.gradient_clipping(load("gradient_clipping"), tmp_path / "gradient_clipping")}
    assert stems == {"loss_and_val_accuracy", "gradient_norms"}


def test_failed_runs_are_left_out(tmp_path):
    make_preset(tmp_path / "real_dataset", "real_dataset", {"mlp": _config()}, status="failed")
    assert rf.real_dataset(load("real_dataset"), tmp_path / "real_dataset") == []


def test_a_broken_figure_costs_only_itself(tmp_path, monkeypatch, capsys):
    make_preset(tmp_path / "activation_comparison", "activation_comparison", {"relu": _config(), "elu": _config()})

    def boom(*a, **k):
        raise RuntimeError("broken")

    monkeypatch.setattr(ep, "metric_curves", boom)
    figs = rf.activation_comparison(load("activation_comparison"), tmp_path / "activation_comparison")
    assert [p.stem for p, _ in figs] == ["test_accuracy"]
    assert "broken" in capsys.readouterr().err


def test_reproduce_draws_an_exercises_figures_when_its_last_run_is_done(tmp_path, monkeypatch):
    """reproduce draws each exercise's figures from runner's on_done hook, once, right after the
    exercise's last task completes (whatever the order the stacks finish in)."""
    from types import SimpleNamespace

    from dlexp.notebook import reproduce

    calls = []
    monkeypatch.setattr(rf, "exercise_figures", lambda ex, d: calls.append((ex.name, d)) or [(d / "f.png", ex.name)])
    tasks = [SimpleNamespace(job=None, meta={"exercise": n}) for n in ("dead_relu", "batch_norm", "dead_relu")]
    early = reproduce._EarlyOutputs([load("dead_relu"), load("batch_norm")], tasks, tmp_path)
    early(2)
    assert calls == []
    early(1)
    assert calls == [("batch_norm", tmp_path / "batch_norm")]
    early(0)
    assert calls[1:] == [("dead_relu", tmp_path / "dead_relu")]
    assert early.drawn == {"batch_norm": [(tmp_path / "batch_norm" / "f.png", "batch_norm")],
                           "dead_relu": [(tmp_path / "dead_relu" / "f.png", "dead_relu")]}
    # ... and the report uses them as they are, without drawing again
    from dlexp.notebook import report
    from dlexp.report.document import Image

    blocks = report.exercise_blocks(tmp_path, load("batch_norm"), pd.DataFrame(), [42], early.drawn["batch_norm"])
    assert [b.path for b in blocks if isinstance(b, Image)] == [tmp_path / "batch_norm" / "f.png"]
    assert len(calls) == 2


def test_reproduce_writes_a_presets_comparison_when_its_last_run_is_done(tmp_path, monkeypatch):
    """Each preset's comparison is written from the on_done hook right after its last run completes
    (off the tail after training); write_remaining writes the ones never completed there (a failed
    run) and no comparison twice. With figures off (--no-report) no figure is drawn."""
    from types import SimpleNamespace

    from dlexp.report import compare
    from dlexp.notebook import reproduce

    written, drawn = [], []
    monkeypatch.setattr(compare, "write_comparison", lambda plain, jobs, d: written.append((plain["name"], d)))
    monkeypatch.setattr(rf, "exercise_figures", lambda ex, d: drawn.append(ex.name) or [])
    jobs = {name: [object(), object()] for name in ("depth", "width", "dead")}
    plans = [(load("shallow_vs_deep"), "depth", {"name": "depth"}, jobs["depth"]),
             (load("shallow_vs_deep"), "width", {"name": "width"}, jobs["width"]),
             (load("dead_relu"), "dead", {"name": "dead"}, jobs["dead"])]
    tasks = [SimpleNamespace(job=job, meta={"exercise": ex.name}) for ex, _, _, js in plans for job in js]
    early = reproduce._EarlyOutputs([load("shallow_vs_deep"), load("dead_relu")], tasks, tmp_path, plans, figures=False)
    for i, expected in ((0, []), (2, []), (1, ["depth"]), (3, ["depth", "width"]), (4, ["depth", "width"])):
        early(i)  # runs 0-1 are depth's, 2-3 width's, 4-5 dead's (run 5 failed: never done)
        assert [name for name, _ in written] == expected
    early.write_remaining()
    assert written == [("depth", tmp_path / "shallow_vs_deep" / "depth"), ("width", tmp_path / "shallow_vs_deep" / "width"),
                       ("dead", tmp_path / "dead_relu" / "dead")]
    early.write_remaining()
    assert len(written) == 3 and drawn == []


def test_real_dataset_includes_other_presets(tmp_path):
    make_preset(tmp_path / "real_dataset", "real_dataset", {"mlp": _config()})
    make_preset(tmp_path / "real_dataset", "real_dataset_mnist", {"mlp": _config(dataset={"name": "mnist"})})
    stems = [p.stem for p, _ in rf.real_dataset(load("real_dataset"), tmp_path / "real_dataset")]
    assert stems == ["real_dataset_test_accuracy", "real_dataset_mnist_test_accuracy"]


# --------------------------------------------------------------------------- glue helpers


def test_variant_order_follows_the_preset(rep):
    d = rep / "activation_comparison" / "activation_comparison"
    assert fr.variant_order(d, fr.load_runs(d)) == ["relu", "elu", "gelu"]


def test_metric_frame_and_chance(rep):
    runs = fr.load_runs(rep / "batch_norm" / "batch_norm")
    f = fr.metric_frame(runs, "test_accuracy")
    assert list(f.columns) == ["variant", "seed", "value"] and len(f) == 4
    assert fr.chance_level(runs) == pytest.approx(0.25)
    assert fr.chance_level([]) is None


# --------------------------------------------------------------------------- pure plotting functions


def _history(variants=("a", "b"), seeds=SEEDS, epochs=4) -> pd.DataFrame:
    rows = []
    for i, v in enumerate(variants):
        for s in seeds:
            for e in range(1, epochs + 1):
                rows.append({"variant": v, "seed": s, "epoch": e, "loss": 1 / e + i + 0.01 * s,
                             "accuracy": 0.5 + 0.1 * e / epochs, "val_accuracy": 0.4 + 0.1 * e / epochs + 0.01 * i,
                             "grad_norm": 10.0 ** -(e + i)})
    return pd.DataFrame(rows)


def _bars(variants=("a", "b", "c"), seeds=SEEDS) -> pd.DataFrame:
    return pd.DataFrame([{"variant": v, "seed": s, "value": 0.5 + 0.1 * i + 0.01 * (s % 2)}
                         for i, v in enumerate(variants) for s in seeds])


def test_summarize_mean_ci_and_log():
    f = pd.DataFrame({"g": ["x", "x", "x", "y"], "v": [1.0, 2.0, 3.0, 5.0]})
    s = aggregate.summarize(f, ["g"], "v").set_index("g")
    assert s.loc["x", "mean"] == pytest.approx(2.0)
    assert 1.0 <= s.loc["x", "ci_low"] < 2.0 < s.loc["x", "ci_high"] <= 3.0 and s.loc["x", "n"] == 3  # bootstrap: within the values
    assert math.isnan(s.loc["y", "ci_low"])  # one value: no interval
    lg = aggregate.summarize(pd.DataFrame({"g": [1, 1], "v": [1e-2, 1e-4]}), ["g"], "v", log=True)
    assert lg["mean"].iloc[0] == pytest.approx(1e-3)  # geometric mean
    assert aggregate.summarize(pd.DataFrame(), ["g"], "v").empty


def test_spread_rules():
    from dlexp.report.aggregate import BAND, SEEDS as THIN, spread_caption, spread_for

    assert spread_for(2) == THIN and spread_for(5) == BAND
    assert "band" in spread_caption(BAND, 5) and "thin lines" in spread_caption(THIN, 2)
    assert "no interval" in spread_caption(THIN, 1)


def test_metric_curves_panels_labels_and_log():
    fig = ep.metric_curves(_history(), [("loss", "Training loss", "Loss"), ("grad_norm", "Norm", "Norm (log)")],
                           title="T", logy=["grad_norm"])
    axes = fig.axes
    assert len(axes) == 2
    assert axes[0].get_xlabel() == "Epoch" and axes[0].get_ylabel() == "Loss"
    assert axes[0].get_yscale() == "linear" and axes[1].get_yscale() == "log"
    assert fig._suptitle.get_text() == "T"
    labels = axes[1].get_legend().get_texts()
    assert [t.get_text() for t in labels][:2] == ["a", "b"]


def test_metric_curves_band_with_three_seeds():
    fig = ep.metric_curves(_history(seeds=(1, 2, 3)), [("loss", "L", "Loss")], title="T")
    assert len(fig.axes[0].collections) >= 2  # one shaded band per variant


def test_metric_curves_marks_identical_variants():
    h = _history(variants=("none", "clip"))
    h.loc[h["variant"] == "clip", "loss"] = h.loc[h["variant"] == "none", "loss"].to_numpy()
    fig = ep.metric_curves(h, [("loss", "L", "Loss")], title="T")
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "clip (= none, dotted)" in texts


def test_ci_bars_labels_and_error_bars():
    fig = ep.ci_bars(_bars(), ylabel="Test accuracy", title="Bars", chance=0.25, accuracy=True)
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and ax.get_ylabel() == "Test accuracy" and ax.get_title() == "Bars"
    assert len(ax.patches) == 3
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert ax.get_ylim()[1] <= 1.05


def test_bar_panels_and_curves_and_bars():
    fig = ep.bar_panels([{"frame": _bars(), "ylabel": "Test accuracy", "title": "acc"},
                         {"frame": _bars(), "ylabel": "Epochs", "title": "speed", "fmt": "{:.1f}"}], title="T")
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "Epochs"
    fig = ep.curves_and_bars(_history(), "val_accuracy", "Validation accuracy", _bars(("a", "b")), "Test accuracy",
                             title="T")
    assert len(fig.axes) == 2
    assert fig.axes[0].get_xlabel() == "Epoch" and fig.axes[1].get_ylabel() == "Test accuracy"


def test_layer_profiles_log_y_two_panels():
    rows = [{"variant": v, "seed": s, "layer": l, "grad_norm": 10.0 ** (l - 5)}
            for v in ("sigmoid_10", "relu_10") for s in SEEDS for l in range(1, 5)]
    f = pd.DataFrame(rows)
    fig = ep.layer_profiles({"At initialization": f, "Last epoch": f}, title="T")
    assert len(fig.axes) == 2
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    assert "layer" in fig.axes[0].get_xlabel().lower() and fig.axes[0].get_ylabel()
    assert fig.legends  # one legend for both panels


def test_probe_accuracy_vs_depth_ticks():
    f = pd.DataFrame([{"seed": s, "depth": d, "representation": r, "dims": 4, "probe_accuracy": 0.5 + 0.1 * d}
                      for s in SEEDS for d, r in enumerate(["Input", "Layer 1", "Layer 2"])])
    fig = ep.probe_accuracy_vs_depth(f, title="T")
    ax = fig.axes[0]
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == ["Input", "Layer 1", "Layer 2"]
    assert ax.get_ylabel() == "Linear-probe test accuracy"


def test_dead_units_by_init_two_legends_and_percent():
    rows = [{"variant": v, "seed": s, "epoch": e, "dead_fraction": d, "weight_proxy_dead_fraction": p}
            for v, d, p in (("zeros", 1.0, 1.0), ("he", 0.05, 0.15)) for s in SEEDS for e in range(3)]
    fig = ep.dead_units_by_init(pd.DataFrame(rows), title="T")
    ax = fig.axes[0]
    assert "%" in ax.get_ylabel() and ax.get_ylim()[1] > 100
    styles = {l.get_linestyle() for l in ax.get_lines()}
    assert {"-", "--"} <= styles
    legends = fig.legends
    texts = [t.get_text() for lg in legends for t in lg.get_texts()]
    assert "zeros (both measures coincide)" in texts and "he" in texts


def test_heatmaps_one_panel_per_depth():
    f = pd.DataFrame([{"depth": d, "lr": lr, "bs": bs, "seed": s, "value": 0.5 + lr}
                      for d in (1, 3) for lr in (0.001, 0.01) for bs in (16, 64) for s in SEEDS])
    fig = ep.heatmaps(f, panel="depth", row="lr", col="bs", title="T", row_label="Learning rate",
                      col_label="Batch size")
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 2  # plus the colour bar's own axes
    assert images[0].get_ylabel() == "Learning rate" and images[0].get_xlabel() == "Batch size"


def test_lines_vs_panels_and_log_x():
    f = pd.DataFrame([{"x": x, "line": l, "panel": p, "seed": s, "value": 0.5}
                      for x in (50, 500) for l in ("plain", "residual") for p in ("glorot", "he") for s in SEEDS])
    fig = ep.lines_vs(f, x="x", xlabel="Width", ylabel="Test accuracy", title="T", line="line", panel="panel",
                      logx={"he"})
    assert len(fig.axes) == 2
    assert fig.axes[0].get_xscale() == "linear" and fig.axes[1].get_xscale() == "log"
    assert fig.axes[0].get_ylabel() == "Test accuracy" and fig.axes[1].get_title() == "he"


# --------------------------------------------------------------------------- sweep report (dlexp report SWEEP_DIR)


def test_varying_keys_ignores_seeds_and_folds_followers():
    from dlexp.report.sweep_keys import flatten, varying_keys

    def cfg(lr, bs, act, seed):
        return flatten({"optimizer": {"learning_rate": lr}, "trainer": {"batch_size": bs, "seed": seed},
                        "activation": {"name": act, "alpha": 0.01 if act == "leaky_relu" else None},
                        "name": "x", "model": {"hidden": [8, 8]}})

    configs = [cfg(lr, 32, "relu", s) for lr in (0.1, 0.01) for s in (1, 2)]
    assert varying_keys(configs) == ["optimizer.learning_rate"]
    configs = [cfg(0.1, bs, act, 1) for bs in (16, 64) for act in ("relu", "elu", "leaky_relu")]
    assert varying_keys(configs) == ["trainer.batch_size", "activation.name"]  # activation.alpha follows the name
    assert varying_keys(configs[:1]) == []


def _sweep(root: Path, grid: dict[str, list], seeds=(1,)) -> Path:
    """A Hydra-multirun-like folder: root/<job>/ with summary.json, config.yaml, metrics.csv."""
    import itertools

    keys = list(grid)
    job = 0
    for values in itertools.product(*grid.values()):
        for seed in seeds:
            over = {k.replace(".", "__"): v for k, v in zip(keys, values)}
            cfg = _config(**over)
            cfg["trainer"]["seed"] = seed
            folder = root / str(job)
            folder.mkdir(parents=True)
            make_run_flat(folder, cfg, [f"{k}={v}" for k, v in zip(keys, values)] + [f"trainer.seed={seed}"], seed)
            job += 1
    return root


def make_run_flat(folder: Path, cfg: dict, overrides: list[str], seed: int) -> None:
    (folder / "config.yaml").write_text(yaml.safe_dump({"name": "default", **cfg}, sort_keys=False))
    acc = 0.5 + 0.01 * seed + 0.1 * cfg["optimizer"]["learning_rate"]
    (folder / "summary.json").write_text(json.dumps({
        "kind": "run", "name": "default", "variant": "default", "seed": seed, "status": "completed",
        "test_accuracy": acc, "overrides": overrides, "subdir": "", "timings": {"total_seconds": 1.0}}))
    ep_ = np.arange(1, 4)
    pd.DataFrame({"epoch": ep_, "loss": 1 / ep_, "accuracy": 0.5 + 0.1 * ep_, "val_loss": 1.1 / ep_,
                  "val_accuracy": 0.4 + 0.1 * ep_}).to_csv(folder / "metrics.csv", index=False)


def test_sweep_report_two_keys_heatmap(tmp_path):
    from dlexp.report.sweep import write_sweep_report

    root = _sweep(tmp_path / "multirun", {"optimizer.learning_rate": [0.001, 0.01], "trainer.batch_size": [16, 64]})
    assert write_sweep_report(root) == 0
    plots = {p.name for p in (root / "plots").glob("*.png")}
    assert plots == {"learning_curves.png", "curves_by_optimizer_learning_rate.png",
                     "curves_by_trainer_batch_size.png", "heatmap.png"}


def test_sweep_report_one_key_no_heatmap(tmp_path):
    from dlexp.report.sweep import write_sweep_plots, sweep_frame

    root = _sweep(tmp_path / "multirun", {"model.hidden": [[8], [8, 8], [8, 8, 8]]})
    written = write_sweep_plots(root, sweep_frame(root))
    assert [p.name for p in written] == ["curves_by_model_hidden.png"]
    assert all(p.exists() for p in written)


def test_sweep_heatmap_labels():
    from dlexp.report.sweep import heatmap

    frame = pd.DataFrame({"status": "completed", "test_accuracy": [0.5, 0.6, 0.7, 0.8],
                          "a.lr": [0.1, 0.1, 0.01, 0.01], "b.bs": [16, 64, 16, 64]})
    fig = heatmap(frame, ["a.lr", "b.bs"], Path("/x/sweep"))
    ax = [a for a in fig.axes if a.images][0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.01", "0.1"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["16", "64"]
    assert ax.get_ylabel() == "a.lr" and ax.get_xlabel() == "b.bs"


def test_summarize_matches_stats_mean_ci():
    from dlexp.report import stats

    v = [0.61, 0.64, 0.7, 0.58, 0.66]
    s = aggregate.summarize(pd.DataFrame({"g": 1, "v": v}), ["g"], "v").iloc[0]
    e = stats.mean_ci(v)
    assert (s["mean"], s["ci_low"], s["ci_high"]) == pytest.approx((e.mean, e.ci_low, e.ci_high))


def test_read_yaml_reads_a_run_config_as_safe_load_does(tmp_path):
    """The report parses every run's config.yaml with artifacts.read_yaml (libyaml when PyYAML has
    it): it must give what yaml.safe_load gives, YAML 1.1's resolution quirks included."""
    from dlexp import artifacts
    from dlexp.config import schema as config
    from dlexp.run import runner

    spec = config.to_spec({"dataset": {"name": "spiral"}, "model": {"hidden": [100, 100]},
                           "optimizer": {"learning_rate": 0.001}, "clipping": {"kind": "norm", "value": 1.0}})
    data = {**runner.spec_to_dict(spec), "odd": ["1e-3", "yes", "~", "0o17", "12:30", 1e-3, None, True]}
    artifacts.write_yaml(tmp_path / "config.yaml", data)
    text = (tmp_path / "config.yaml").read_text()
    assert artifacts.read_yaml(tmp_path / "config.yaml") == yaml.safe_load(text)
    assert artifacts.read_yaml(tmp_path / "config.yaml")["model"]["hidden"] == [100, 100]
