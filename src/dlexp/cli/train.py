"""``dlexp train``: the thin ``@hydra.main`` task, ``resume=``, and the hook the stack launcher uses
to train a sweep's jobs together.

Before Hydra creates a run folder, ``preflight`` (cli/preflight.py) composes and validates every job
of the command line, so a bad value leaves no folder behind. Nothing here imports TensorFlow
before preflight has passed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Optional

from dlexp.cli.preflight import (HYDRA_INFO_FLAGS, SUBCOMMANDS, check_budget, check_flags, check_import_path,
                                 check_user_activations, config_name, flags_first, preflight_jobs, split_train_args,
                                 user_config_dir)
from dlexp.config.compose import register_resolvers
from dlexp.errors import DlexpError

def _same_trainer_as_before(cfg: dict, folder: Path) -> dict:
    """Runs that were trained as a stack (a sweep's or a preset's, with no per-epoch backup) train
    again as a stack, so a resumed folder gets the numbers an uninterrupted one would have (to
    float rounding), not those of a plain-Keras run of the same config."""
    from dlexp import artifacts
    from dlexp.run.writer import FINISHED

    unfinished = []
    for path in folder.rglob(artifacts.SUMMARY):
        try:
            summary = artifacts.read_json(path)
        except (OSError, ValueError):
            continue
        if summary.get("kind") == "run" and summary.get("status") not in FINISHED:
            unfinished.append(summary.get("trainer"))
    if unfinished and all(t == "stack" for t in unfinished):
        return {**cfg, "trainer": {**(cfg.get("trainer") or {}), "backend": "stack"}}
    return cfg


def _configure_threads(cfg) -> None:
    """Size TensorFlow's thread pools before TF starts, so parallel jobs do not oversubscribe the cores."""
    if "tensorflow" in sys.modules:
        return  # a reused worker: TF is already configured
    threads = cfg.trainer.get("threads")
    if threads is None:
        try:
            from hydra.core.hydra_config import HydraConfig

            launcher = HydraConfig.get().launcher
        except Exception:
            launcher = None
        threads = launcher_threads(launcher) if launcher is not None else None
    if threads:
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
        os.environ["TF_NUM_INTEROP_THREADS"] = str(max(1, min(2, threads)))


def launcher_threads(launcher) -> Optional[int]:
    """TF threads per job for the launcher that runs it (None = TF's default, all cores).

    joblib runs ``n_jobs`` jobs at once; Ray runs one job per ``remote.num_cpus``
    CPUs (Ray's default: 1); submitit gives each job ``cpus_per_task`` (SLURM
    pins a job to the CPUs it was given; the local executor starts every job at
    once, so 1 unless ``cpus_per_task`` says otherwise).
    """
    from dlexp.run.budget import usable_cores

    cores = usable_cores()
    n_jobs = launcher.get("n_jobs")
    if n_jobs:
        workers = n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)  # joblib: -1 = all cores
        return max(1, cores // workers)
    ray = launcher.get("ray")
    if ray is not None:
        return max(1, int((ray.get("remote") or {}).get("num_cpus") or 1))
    if "cpus_per_task" in launcher:
        if launcher.get("cpus_per_task"):
            return int(launcher.get("cpus_per_task"))
        return cores if "Slurm" in str(launcher.get("_target_", "")) else 1
    return None


def _has_failed(status) -> bool:
    """A run's status, or an experiment's ("completed,failed": the statuses of its runs)."""
    return "failed" in str(status).split(",")


def job_entry(cfg) -> tuple:
    """What the stack launcher keeps of a sweep job instead of training it at once (it trains all
    its jobs together, ``train_collected``): (cfg, run_dir, overrides, objective, job_name)."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _configure_threads(cfg)
    return cfg, Path(hc.runtime.output_dir), list(hc.overrides.task), _wants_objective(hc), hc.job.name


def _train_task(cfg, statuses: list) -> Optional[dict]:
    """The body of the Hydra app: one job (a run, or a preset's variants) into Hydra's output folder;
    its status is appended to ``statuses`` (the invocation's own list)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    cfg, run_dir, overrides, objective, job_name = job_entry(cfg)
    from dlexp.run.runner import train

    try:
        summary = train(cfg, run_dir, overrides=overrides)
    except DlexpError as err:
        # Hydra made the folder before we could see the data; leave nothing half-written behind.
        _remove_hydra_only(run_dir, job_name)
        print(f"dlexp: error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None  # SystemExit passes Hydra's traceback printer untouched
    statuses.append(summary.get("status", "failed"))
    return _finish_job(summary, run_dir, objective, table=HydraConfig.get().mode != RunMode.MULTIRUN)


def _wants_objective(hc) -> bool:
    from hydra.types import RunMode

    from dlexp.report import optuna as optuna_results

    return hc.mode == RunMode.MULTIRUN and optuna_results.wants_objective(hc.sweeper.get("_target_"))


def _remove_hydra_only(run_dir: Path, job_name: str) -> None:
    from dlexp import artifacts

    artifacts.remove_if_only(run_dir, {".hydra", f"{job_name}.log"})


def _finish_job(summary: dict, run_dir: Path, objective: bool, table: bool = True):
    if table:  # a -m sweep prints one table of all its jobs at the end instead (stack_launcher.SweepSummary)
        from dlexp.report.console import print_summary

        print_summary(summary, run_dir)
    if objective:
        from dlexp.report import optuna as optuna_results

        return optuna_results.objective(summary)  # Optuna maximizes this number (validation accuracy)
    return summary


def train_collected(collected: list) -> list:
    """Train the jobs a sweep registered (``job_entry``) as one plan; their return values, in order."""
    from dlexp.run.runner import train_many

    try:
        summaries = train_many([(cfg, run_dir, overrides) for cfg, run_dir, overrides, _, _ in collected])
    except DlexpError as err:
        for _, run_dir, _, _, job_name in collected:
            _remove_hydra_only(run_dir, job_name)
        print(f"dlexp: error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
    return [_finish_job(summary, run_dir, objective, table=False)
            for summary, (_, run_dir, _, objective, _) in zip(summaries, collected)]


def _hydra_app(statuses: list) -> Callable[[], None]:
    import hydra

    def task(cfg) -> Optional[dict]:
        return _train_task(cfg, statuses)

    return hydra.main(version_base="1.3", config_path="pkg://dlexp.conf", config_name="config")(task)


def resume_run(folder_arg: str, extra: list[str]) -> int:
    """``dlexp train resume=RUN_DIR``: continue an interrupted run (or experiment) in its own folder.

    Finished runs are kept; a run with a backup continues from its last finished
    epoch; a run without one starts again. The folder's config.yaml is the config.
    """
    import yaml

    from dlexp import artifacts
    from dlexp.config import experiment

    from dlexp.config.compose import yaml_message
    from dlexp.config.names import is_import_path
    from dlexp.errors import ConfigError

    folder = Path(folder_arg)
    cfg_path = folder / artifacts.CONFIG
    try:
        found = cfg_path.is_file()
    except OSError:  # a name longer than the file system allows
        found = False
    if not found:
        raise DlexpError(f"resume: got {folder_arg!r}; allowed: a run folder written by dlexp train (with config.yaml)")
    trust = any(a.lower() == "trust_code=true" for a in extra)
    extra = [a for a in extra if a.lower() != "trust_code=true"]
    if extra:
        raise DlexpError(f"resume: got extra overrides {extra}; allowed: `dlexp train resume=DIR` alone "
                         "(the folder's config is used), or with trust_code=true")
    try:
        cfg = yaml.safe_load(cfg_path.read_text())
    except yaml.YAMLError as err:
        raise DlexpError(yaml_message(err, str(cfg_path))) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError("resume", folder_arg, f"a folder with a readable config.yaml ({type(err).__name__})") from None
    if not isinstance(cfg, dict):
        raise ConfigError(str(cfg_path), type(cfg).__name__, "a mapping: the config dlexp wrote there")
    cfg.pop("variant", None)  # a preset's run folder records which variant it is
    cfg = _same_trainer_as_before(cfg, folder)
    jobs = experiment.expand(cfg)
    custom = sorted({j.spec.activation.name for j in jobs if is_import_path(j.spec.activation.name)
                     and not j.spec.activation.name.startswith("dlexp.")})  # dlexp's own functions are trusted
    if custom and not trust:  # resuming imports and runs code named by a file someone else may have written
        raise ConfigError("resume", folder_arg, f"trust_code=true to import the activation(s) {', '.join(custom)} "
                                                "named in its config.yaml")
    for name in custom:
        check_import_path(name)
    from dlexp.data import datasets as data

    data.check_sizes([j.spec for j in jobs])
    check_budget(jobs)
    from dlexp.run import native_log

    native_log.import_tensorflow()
    check_user_activations(jobs)
    from dlexp.report.console import print_summary
    from dlexp.run.runner import train

    summary = train(cfg, folder, overrides=[f"resume={folder_arg}"], skip_finished=True)
    print_summary(summary, folder)
    return 1 if _has_failed(summary.get("status")) else 0


def cmd_train(args: list[str]) -> int:
    resume = [a for a in args if a.startswith("resume=")]
    if resume:
        return resume_run(resume[0].split("=", 1)[1], [a for a in args if not a.startswith("resume=")])
    with user_config_dir(args):
        return _train(args)


def _train(args: list[str]) -> int:
    check_flags(args)
    info_only = any(a.split("=")[0] in HYDRA_INFO_FLAGS for a in args)
    if any(a.split("=")[0] in ("--cfg", "-c", "--resolve") for a in args):
        from dlexp.config.compose import compose_runs

        # --cfg prints the composed config: a group option that does not exist is one line, not Hydra's traceback.
        flags, overrides = split_train_args(args)
        compose_runs(overrides, config_name=config_name(flags), multirun=bool(flags.get("multirun")))
    if not info_only:
        jobs = preflight_jobs(args)
        from dlexp.run import native_log

        native_log.import_tensorflow()
        check_user_activations(jobs)
    completion = any(a.split("=")[0] in ("-sc", "--shell-completion") for a in args)
    if completion and _completion_outside_train("\n" if any(a.endswith("=fish") for a in args) else " "):
        return 0
    register_resolvers()
    statuses: list[str] = []
    app = _hydra_app(statuses)
    saved = sys.argv
    # Hydra's completion script registers itself for basename(argv[0]) and calls `<it> -sc query=...`
    sys.argv = ["dlexp" if completion else "dlexp-train"] + flags_first(args)
    try:
        app()
    except SystemExit as exit_:  # a sweep with a failed job (stack_launcher.SweepSummary), or a job's exit 2
        return exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = saved
    return 1 if any(_has_failed(s) for s in statuses) else 0


def _completion_outside_train(sep: str = " ") -> bool:
    """Shell completion through the dispatcher: Hydra completes ``<app> OVERRIDES``, ours is ``dlexp train OVERRIDES``.

    Drops the ``train`` word from COMP_LINE before Hydra reads it. Returns True
    (after printing the subcommands that match) while the cursor is still on
    the subcommand, and for other subcommands (the shell then completes file names).
    """
    line = os.environ.get("COMP_LINE")
    if line is None:  # -sc install=bash / uninstall: Hydra prints the script
        return False
    words = line.split()
    if len(words) < 2 or (len(words) == 2 and not line.endswith(" ")):
        typed = words[1] if len(words) == 2 else ""
        print(sep.join(c for c in SUBCOMMANDS if c.startswith(typed)))
        return True
    if words[1] != "train":
        return True
    os.environ["COMP_LINE"] = " ".join([words[0]] + words[2:]) + (" " if line.endswith(" ") else "")
    return False
