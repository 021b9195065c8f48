"""-m sweeps that read well (issue 28): job folders named by their overrides, the same name for the MLflow
run, one table of all jobs at the end, and `dlexp report` tables that wrap instead of cutting at 80 columns.

The fast tests compose configs and write fake sweep folders; the slow ones run real 1-epoch sweeps."""

import json
import re

import pytest
import yaml
from omegaconf import OmegaConf

from hydra_plugins.dlexp_launcher.stack_launcher import (JOB_DIR_MAX_BYTES, JOB_DIR_MAX_CHARS, exclude_shared_overrides,
                                                         job_dir_name)

BASE = ["trainer.epochs=1", "model.hidden=[8]", "trainer.diagnostics=false", "trainer.progress=none", "logger=none"]


@pytest.fixture
def hydra_cfg(compose):
    """hydra_cfg(overrides) -> the composed config with its hydra node, as a job sees it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    def _compose(*overrides):
        with initialize_config_module("dlexp.conf", version_base="1.3"):
            return hydra_compose("config", list(overrides), return_hydra_config=True)

    return _compose


# --------------------------------------------------------------------------- folder names


def test_job_dir_name_is_number_then_overrides_and_filesystem_safe():
    assert job_dir_name(0, "activation=elu") == "0_activation=elu"
    assert job_dir_name(3, "") == "3"  # nothing to name it by: the job number alone
    assert job_dir_name(1, "activation.name=acts:broken,dataset.path=/data/x y.csv") == \
        "1_activation.name=acts_broken,dataset.path=_data_x_y.csv"  # no path separators, colons or spaces
    assert job_dir_name(2, "model.hidden=[64,64],optimizer.learning_rate=0.0013292918943162175") == \
        "2_model.hidden=[64,64],optimizer.learning_rate=0.001329"  # an Optuna sample, shortened


def test_job_dir_name_stays_unique_and_short_for_long_or_odd_values():
    long = "model.hidden=[" + ",".join(["512"] * 200) + "]"
    a, b = job_dir_name(0, long), job_dir_name(1, long)
    assert a != b and a.startswith("0_") and b.startswith("1_")  # the job number keeps equal overrides apart
    assert len(a) <= JOB_DIR_MAX_CHARS and len(a.encode()) <= JOB_DIR_MAX_BYTES and a.endswith("...")
    wide = job_dir_name(7, "description=" + "é" * 300)  # 2 bytes a character
    assert len(wide.encode()) <= JOB_DIR_MAX_BYTES
    # values that differ only in characters replaced by "_" still get their own folders
    assert job_dir_name(4, "x=a/b") != job_dir_name(5, "x=a_b")
    for name in (a, wide, job_dir_name(6, "x='${oc.env:HOME}' y=\"q\" z=a\\b")):
        assert not re.search(r"[/\\:*?\"'<>|$\s]", name), name


def test_sweep_subdir_is_the_job_number_and_override_dirname(hydra_cfg):
    """conf/config.yaml: hydra.sweep.subdir names a job by its overrides, bookkeeping keys left out.
    (It was `${hydra.job.num}`: folders 0, 1, 2.)"""
    cfg = hydra_cfg("activation=elu", "name=x", "trainer.progress=none", "logger=none", "hydra.job.num=1")
    assert OmegaConf.select(cfg, "hydra.sweep.subdir") == "1_activation=elu"


def test_overrides_shared_by_every_job_are_left_out_of_the_names(hydra_cfg):
    """`-m activation=relu,elu trainer.epochs=2`: folders 0_activation=relu, 1_activation=elu."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hydra._internal.config_loader_impl import get_overrides_dirname

    cfg = hydra_cfg()
    cfg.hydra.overrides.task = ["activation=relu,elu", "trainer.epochs=2", "+exp=dead_relu"]
    cfg.hydra.overrides.hydra = ["hydra.mode=MULTIRUN"]
    OmegaConf.set_readonly(cfg.hydra, True)  # callbacks may get it read-only
    before = list(cfg.hydra.job.config.override_dirname.exclude_keys)
    assert exclude_shared_overrides(cfg) == ["trainer.epochs", "exp"]
    keys = list(cfg.hydra.job.config.override_dirname.exclude_keys)
    assert keys == before + ["trainer.epochs", "exp"]
    # every launcher composes its jobs from the sweep's Hydra overrides: the new list is there
    (line,) = [o for o in cfg.hydra.overrides.hydra if "exclude_keys" in o]
    (parsed,) = OverridesParser.create().parse_overrides([line])
    assert parsed.value() == keys
    job = OverridesParser.create().parse_overrides(["activation=elu", "trainer.epochs=2", "+exp=dead_relu"])
    assert job_dir_name(1, get_overrides_dirname(job, keys, ",", "=")) == "1_activation=elu"


def test_the_sweep_callback_is_configured(hydra_cfg):
    cfg = hydra_cfg()
    assert cfg.hydra.callbacks.dlexp_sweep._target_ == "hydra_plugins.dlexp_launcher.stack_launcher.SweepSummary"


# --------------------------------------------------------------------------- MLflow run names


def _job(tmp_path, mode):
    (tmp_path / ".hydra").mkdir(parents=True)
    (tmp_path / ".hydra" / "hydra.yaml").write_text(f"hydra:\n  mode: {mode}\n  job:\n    num: 0\n")
    return tmp_path


def test_mlflow_run_name_is_the_job_folder_in_a_sweep(tmp_path):
    from dlexp.run.trackers.mlflow_logger import mlflow_run_name

    root = tmp_path / "outputs"
    sweep = root / "default" / "multirun" / "2026-01-01_00-00-00_abc123"
    job = _job(sweep / "0_activation=elu", "MULTIRUN")
    assert mlflow_run_name(job, root) == "0_activation=elu"  # was default/multirun/<stamp>/0
    assert mlflow_run_name(job / "relu" / "seed_1", root) == "0_activation=elu/relu/seed_1"  # a preset's run
    single = _job(root / "default" / "2026-01-01_00-00-00_abc123", "RUN")
    assert mlflow_run_name(single, root) == "default/2026-01-01_00-00-00_abc123"  # a plain run: as before
    assert mlflow_run_name(tmp_path / "elsewhere", root) == "elsewhere"


# --------------------------------------------------------------------------- tables


def _fake_sweep(root, jobs):
    """jobs: folder name -> list of (variant, seed, status, accuracy, overrides) runs."""
    for name, runs in jobs.items():
        job = root / name
        (job / ".hydra").mkdir(parents=True)
        for variant, seed, status, acc, overrides in runs:
            folder = job if len(runs) == 1 else job / variant / f"seed_{seed}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "summary.json").write_text(json.dumps({
                "kind": "run", "name": "demo", "variant": variant, "seed": seed, "status": status,
                "test_accuracy": acc, "param_count": 1234, "epochs_run": 2, "overrides": overrides,
                "subdir": "", "timings": {"total_seconds": 1.5}}))
            (folder / "config.yaml").write_text(yaml.safe_dump({"name": "demo", "variant": variant}))
    return root


def _column(text: str, index: int) -> str:
    """The text of column ``index`` of a rich table, rows and wrapped lines joined."""
    out = []
    for line in text.splitlines():
        if line.startswith("│"):
            out.append(line.split("│")[index + 1].strip())
    return "".join(out)


def test_one_table_for_all_jobs_of_a_sweep(tmp_path):
    from rich.console import Console

    from dlexp.report.sweep import print_sweep_summary

    sweep = _fake_sweep(tmp_path / "sweep", {
        "0_activation=relu": [("default", 42, "completed", 0.5, ["activation=relu", "trainer.epochs=2"])],
        "1_activation=elu": [("default", 42, "failed", None, ["activation=elu", "trainer.epochs=2"])],
        "10_activation=selu": [("default", 42, "completed", 0.75, ["activation=selu", "trainer.epochs=2"])],
        "2_activation=tanh": [("default", 42, "diverged", 0.25, ["activation=tanh", "trainer.epochs=2"])],
    })
    console = Console(record=True, width=80)
    print_sweep_summary(sweep, console=console)
    text = console.export_text()
    assert text.count("┏") == 1  # one table
    assert "demo sweep: 4 jobs" in text
    assert _column(text, 0) == "0_activation=relu1_activation=elu2_activation=tanh10_activation=selu"  # job order
    assert "variant" not in text and "default" not in text  # plain runs: no meaningless variant column
    assert "shared by every job: trainer.epochs=2" in text
    assert "0.750" in text and "1,234" in text and "failed" in text and "diverged" in text


def test_sweep_table_names_the_variants_of_preset_jobs(tmp_path):
    from rich.console import Console

    from dlexp.report.sweep import print_sweep_summary

    runs = [(v, s, "completed", 0.5, ["+exp=dead_relu", "trainer.seed=1"]) for v in ("zeros", "he") for s in (1, 2)]
    sweep = _fake_sweep(tmp_path / "sweep", {"0_trainer.seed=1": runs})
    console = Console(record=True, width=80)
    print_sweep_summary(sweep, console=console)
    text = console.export_text()
    assert "1 job, 4 runs" in text
    assert _column(text, 1) == "hehezeroszeros" and _column(text, 2) == "1212"  # variant, seed


def test_report_table_wraps_long_overrides_instead_of_cutting_them(tmp_path, monkeypatch, capsys):
    """`dlexp report SWEEP_DIR` on an 80-column terminal: long folder names and overrides wrap (they were
    cut with "…")."""
    from dlexp.report.sweep import write_sweep_report

    long_value = "model.hidden=[" + ",".join(["64"] * 12) + "]"
    sweep = _fake_sweep(tmp_path / "sweep", {
        "0": [("default", 1, "completed", 0.5, ["activation=relu", long_value])],
        "1": [("default", 1, "completed", 0.6, ["activation=elu", "optimizer.learning_rate=0.0013292918943162175"])],
    })
    monkeypatch.setenv("COLUMNS", "80")
    assert write_sweep_report(sweep) == 0
    text = capsys.readouterr().out
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    overrides = _column(text, 1)
    assert "activation=relu" + long_value in overrides
    assert "optimizer.learning_rate=0.0013292918943162175" in overrides


def test_report_leaves_out_the_overrides_column_when_folders_are_named_by_them(tmp_path, monkeypatch, capsys):
    from dlexp.report.sweep import write_sweep_report

    sweep = _fake_sweep(tmp_path / "sweep", {
        "0_activation=relu": [("default", 1, "completed", 0.5, ["activation=relu", "trainer.epochs=2"])],
        "1_activation=elu": [("default", 1, "completed", 0.6, ["activation=elu", "trainer.epochs=2"])],
    })
    monkeypatch.setenv("COLUMNS", "80")
    assert write_sweep_report(sweep) == 0
    text = capsys.readouterr().out
    assert "overrides" not in text.splitlines()[2]  # the header row: folder, status, ...
    assert "shared by every run: trainer.epochs=2" in text


# --------------------------------------------------------------------------- real sweeps


def _sweep_dir(tmp_path, name):
    (sweep,) = (tmp_path / "outputs" / name / "multirun").iterdir()
    return sweep


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]],
                         ids=["dlexp", "joblib"])
def test_sweep_job_folders_and_the_final_table(run_dlexp, tmp_path, launcher):
    """`dlexp train -m activation=relu,elu`: folders 0_activation=relu and 1_activation=elu (they were 0 and 1),
    and one table of both jobs at the end, whichever launcher ran them."""
    proc = run_dlexp("train", "-m", *BASE, "name=named", "activation=relu,elu", *launcher)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = _sweep_dir(tmp_path, "named")
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0_activation=relu", "1_activation=elu"]
    for job in ("0_activation=relu", "1_activation=elu"):
        assert json.loads((sweep / job / "summary.json").read_text())["status"] == "completed"
    out = proc.stdout
    assert "named sweep: 2 jobs (2 completed)" in out
    table = out[out.index("named sweep: 2 jobs"):]
    assert "0_activation=relu" in table and "1_activation=elu" in table
    assert "shared by every job:" in table and "trainer.epochs=1" in table
    assert out.count("┏") == 1, out  # no per-job table before the combined one
