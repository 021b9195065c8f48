"""A preset's comparison (results.csv, plots, summary.json) is rebuilt by `dlexp report` only when stale,
and then from the run folders as they are; figures are saved in one draw without clipping."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dlexp import artifacts
from dlexp.report import compare
from dlexp.notebook import report
from dlexp.notebook.exercises import load


def _run(preset_dir: Path, variant: str, seed: int, acc: float) -> Path:
    folder = preset_dir / "runs" / variant / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    summary = {"kind": "run", "name": preset_dir.name, "variant": variant, "seed": seed, "status": "completed",
               "test_accuracy": acc, "test_loss": 1 - acc, "param_count": 10, "epochs_run": 3,
               "subdir": str(folder.relative_to(preset_dir))}
    artifacts.write_json(folder / artifacts.SUMMARY, summary)
    pd.DataFrame({"epoch": [1, 2, 3], "loss": [1.0, 0.8, 0.7], "accuracy": [0.5, 0.6, acc],
                  "val_loss": [1.1, 0.9, 0.8], "val_accuracy": [0.4, 0.5, acc]}).to_csv(folder / artifacts.METRICS,
                                                                                       index=False)
    return folder


@pytest.fixture
def repro(tmp_path) -> Path:
    """A reproduction folder with one preset of shallow_vs_deep, two variants, one seed each."""
    preset = tmp_path / "shallow_vs_deep" / "shallow_vs_deep"
    preset.mkdir(parents=True)
    cfg = {"name": "shallow_vs_deep", "variants": {"shallow": {}, "deep": {}}}
    (preset / artifacts.CONFIG).write_text(yaml.safe_dump(cfg, sort_keys=False))
    _run(preset, "shallow", 42, 0.8)
    _run(preset, "deep", 42, 0.9)
    return tmp_path


def _accuracies(preset: Path) -> dict:
    frame = pd.read_csv(preset / "results.csv")
    return {(r.variant, r.seed): r.test_accuracy for r in frame.itertuples()}


@pytest.mark.slow
def test_report_rebuilds_only_stale_comparisons(repro):
    preset = repro / "shallow_vs_deep" / "shallow_vs_deep"
    exercises = [load("shallow_vs_deep")]
    assert not compare.is_current(preset)  # never built
    assert report.rebuild_comparisons(repro, exercises) == [preset]
    assert compare.is_current(preset)
    assert _accuracies(preset) == {("shallow", 42): 0.8, ("deep", 42): 0.9}
    assert (preset / "plots" / "learning_curves.png").exists()

    assert report.rebuild_comparisons(repro, exercises) == []  # up to date: nothing is redone

    _run(preset, "deep", 43, 0.7)  # a seed added
    assert not compare.is_current(preset)
    assert report.rebuild_comparisons(repro, exercises) == [preset]
    assert _accuracies(preset)[("deep", 43)] == 0.7

    run = preset / "runs" / "shallow" / "seed42"  # a run rewritten (e.g. resumed), same size and all
    summary = json.loads((run / artifacts.SUMMARY).read_text())
    summary["test_accuracy"] = 0.1
    artifacts.write_json(run / artifacts.SUMMARY, summary)
    st = (run / artifacts.SUMMARY).stat()
    os.utime(run / artifacts.SUMMARY, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert report.rebuild_comparisons(repro, exercises) == [preset]
    assert _accuracies(preset)[("shallow", 42)] == 0.1

    import shutil

    shutil.rmtree(preset / "runs" / "deep" / "seed43")  # a run removed
    assert report.rebuild_comparisons(repro, exercises) == [preset]
    assert ("deep", 43) not in _accuracies(preset)

    (preset / "plots" / "learning_curves.png").unlink()  # an output missing
    assert report.rebuild_comparisons(repro, exercises) == [preset]
    assert (preset / "plots" / "learning_curves.png").exists()


def test_a_comparison_from_before_fingerprints_is_rebuilt(repro):
    preset = repro / "shallow_vs_deep" / "shallow_vs_deep"
    compare.write_comparison(yaml.safe_load((preset / artifacts.CONFIG).read_text()), None, preset)
    summary = artifacts.read_json(preset / artifacts.SUMMARY)
    del summary["inputs"]
    artifacts.write_json(preset / artifacts.SUMMARY, summary)
    assert not compare.is_current(preset)


def test_first_spec_is_the_first_job(compose):
    from dlexp.config import experiment

    cfg = experiment.plain_config(compose(["+exp=vanishing_gradients"]))
    assert compare._first_spec(cfg) == experiment.expand(cfg)[0].spec


def test_fixed_layout_figures_are_saved_whole(tmp_path):
    """An outside legend grows the figure instead of being clipped; the PNG is drawn at 100 dpi."""
    from PIL import Image

    from dlexp.report import charts as ep

    frame = pd.DataFrame({"variant": ["a", "a", "a_much_longer_variant_name", "a_much_longer_variant_name"],
                          "seed": [1, 2, 1, 2], "epoch": [1, 1, 1, 1], "value": [0.5, 0.6, 0.7, 0.8]})
    fig = ep.ci_bars(frame, ylabel="Test accuracy", title="t", accuracy=True)
    assert fig.dlexp_fixed_layout
    artifacts.save_figure(tmp_path / "bars.png", fig)
    w, h = fig.get_size_inches()
    with Image.open(tmp_path / "bars.png") as im:
        assert im.size == (round(w * 100), round(h * 100))
    renderer = fig.canvas.get_renderer()
    fig_box = fig.bbox
    for artist in [*fig.axes[0].get_xticklabels(), fig.axes[0].get_legend()]:
        box = artist.get_window_extent(renderer)
        assert box.x0 >= fig_box.x0 - 1 and box.x1 <= fig_box.x1 + 1 and box.y0 >= fig_box.y0 - 1, artist
