"""dlexp's default Hydra launcher: a ``-m`` sweep's jobs are trained together, so runs that can
share a vectorized stack do (``dlexp train -m activation=relu,elu,selu trainer.seed=1,2,3``
trains nine networks as one stack instead of nine ``model.fit`` calls).

Each job still gets its own folder and ``.hydra/`` files from Hydra's ``run_job``; the dlexp
task only registers the job there, and the launcher trains all registered jobs at once
(``dlexp.cli.train.train_collected``) before handing Hydra one return value per job. Pick another
launcher (``hydra/launcher=joblib``, ray, submitit) to spread jobs over processes instead.

Job folders are named by what the job changes (conf/config.yaml, ``hydra.sweep.subdir``):
``0_activation=relu``, ``1_activation=elu``. ``SweepSummary`` (a Hydra callback, for every
launcher) drops the overrides that all jobs share from those names when the sweep starts, and
prints one table of all jobs when it ends.
"""

# No `from __future__ import annotations` here: Hydra's plugin scan (normal installs) executes this
# module without putting it in sys.modules, and @dataclass then fails to resolve string annotations.
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.experimental.callback import Callback
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- job folder names

JOB_DIR_RESOLVER = "dlexp_job_dir"
JOB_DIR_MAX_CHARS = 120  # a job folder's name at most (filesystems allow 255 bytes; paths get long)
JOB_DIR_MAX_BYTES = 200
# Kept as they are in a folder name: word characters and what overrides are written with. Anything
# else (/ \ : * ? " ' < > | $ spaces, control characters) becomes "_".
_UNSAFE = re.compile(r"[^\w.,=+\-\[\]{}@%~^]")
# A number with more than 6 decimals (an Optuna sample: 0.0013292918943162175) is named by 4 significant
# digits (0.001329); its exact value is in the job's .hydra/overrides.yaml and config.yaml.
_LONG_NUMBER = re.compile(r"(?<![\w.])\d+\.\d{7,}(?:[eE][-+]?\d+)?(?![\w.])")


def job_dir_name(num: Any, overrides: Any) -> str:
    """A sweep job's folder name: its number, then its overrides (``hydra.job.override_dirname``).

    ``0, "activation=elu"`` -> ``0_activation=elu``; no overrides -> ``0``; numbers with more than 6
    decimals are cut to 4 significant digits (``learning_rate=0.001329``). The number keeps
    names unique (two jobs with the same or similar overrides, e.g. an Optuna trial sampled twice,
    or values that only differ in characters replaced here) and says which job it was.
    Characters a file system or shell would trip on become ``_``; a name longer than
    ``JOB_DIR_MAX_CHARS`` characters (or ``JOB_DIR_MAX_BYTES`` bytes) is cut and ends in ``...``.
    """
    text = _LONG_NUMBER.sub(lambda m: f"{float(m.group()):.4g}", str(overrides or ""))
    text = _UNSAFE.sub("_", text).strip("_")
    name = f"{num}_{text}" if text else str(num)
    if len(name) <= JOB_DIR_MAX_CHARS and len(name.encode()) <= JOB_DIR_MAX_BYTES:
        return name
    cut = name[:JOB_DIR_MAX_CHARS - 3]
    while len(cut.encode()) > JOB_DIR_MAX_BYTES - 3:
        cut = cut[:-1]
    return cut + "..."


def register_resolver() -> None:
    """``${dlexp_job_dir:NUM,OVERRIDES}`` for ``hydra.sweep.subdir``. Registered whenever the configs are
    composed (dlexp.conf imports this module); Hydra hands its resolvers to joblib, Ray and submitit workers."""
    if not OmegaConf.has_resolver(JOB_DIR_RESOLVER):
        OmegaConf.register_new_resolver(JOB_DIR_RESOLVER, job_dir_name)


def exclude_shared_overrides(config: DictConfig) -> list[str]:
    """Leave the overrides every job of the sweep shares out of the job folder names.

    ``dlexp train -m activation=relu,elu trainer.epochs=2`` -> folders ``0_activation=relu`` and
    ``1_activation=elu`` instead of ``0_activation=relu,trainer.epochs=2``, ...: an override
    without sweep syntax is the same in every job (the sweep's multirun.yaml and each job's
    .hydra/overrides.yaml keep it). Done by adding those keys to
    ``hydra.job.config.override_dirname.exclude_keys`` through the sweep's Hydra overrides, from
    which every launcher composes its jobs. Returns the keys added.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    task = [str(o) for o in config.hydra.overrides.task]
    parsed = OverridesParser.create().parse_overrides(task)
    node = config.hydra.job.config.override_dirname
    current = [str(k) for k in node.exclude_keys]
    shared = [o.key_or_group for o in parsed if not o.is_sweep_override()]
    added = [k for k in dict.fromkeys(shared) if k not in current]
    if not added:
        return []
    keys = current + added
    if any("'" in k or "\\" in k for k in keys):
        return []  # cannot be quoted in an override: keep the full names
    line = "hydra.job.config.override_dirname.exclude_keys=[" + ",".join(f"'{k}'" for k in keys) + "]"
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.overrides.hydra.append(line)
        node.exclude_keys = keys
    return added


# Sweep folders whose summary table this process has printed (the launcher prints it itself when
# Hydra is going to skip on_multirun_end).
_SUMMARIZED: set[str] = set()


def print_sweep_summary(sweep_dir: Any) -> list[str]:
    """One table of all the sweep's jobs (sweep_report.print_sweep_summary), at most once per folder;
    the runs' statuses."""
    key = str(Path(str(sweep_dir)).resolve())
    if key in _SUMMARIZED:
        return []
    _SUMMARIZED.add(key)
    try:
        from dlexp.report import sweep as sweep_report

        return sweep_report.print_sweep_summary(Path(str(sweep_dir)))
    except Exception as err:  # a summary table must never turn a finished sweep into an error
        print(f"[dlexp] sweep summary not printed: {type(err).__name__}: {err}", file=sys.stderr)
        return []


class SweepSummary(Callback):
    """Hydra callback (conf/config.yaml, ``hydra.callbacks.dlexp_sweep``), for every launcher and sweeper:
    job folders named by what differs between jobs, and one table of all jobs when the sweep ends."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            exclude_shared_overrides(config)
        except Exception as err:  # names are a convenience: the sweep runs with Hydra's full names
            log.warning(f"dlexp: job folders keep every override in their names ({type(err).__name__}: {err})")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        statuses = print_sweep_summary(config.hydra.sweep.dir)
        if "failed" in statuses:  # the other jobs have finished; scripts must still notice
            raise SystemExit(1)


@dataclass
class StackLauncherConf:
    _target_: str = "hydra_plugins.dlexp_launcher.stack_launcher.StackLauncher"


ConfigStore.instance().store(group="hydra/launcher", name="dlexp", node=StackLauncherConf, provider="dlexp")


def register() -> None:
    """Make Hydra able to instantiate the launcher even where its plugin scan cannot see this
    package (an editable install's import hook is not walkable by pkgutil)."""
    from hydra.core.plugins import Plugins

    Plugins.instance().class_name_to_class.setdefault(StackLauncherConf._target_, StackLauncher)
    register_resolver()


class StackLauncher(Launcher):
    def __init__(self) -> None:
        super().__init__()
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from dlexp.cli import train as cli

        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs together (compatible runs share a stack)")
        returns: list[JobReturn] = []
        collected: list = []

        def register(cfg: DictConfig) -> None:
            # Each job only registers (Hydra has made its folder and .hydra/ files); all train below.
            collected.append(cli.job_entry(cfg))

        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = idx
                sweep_config.hydra.job.num = idx
            returns.append(run_job(hydra_context=self.hydra_context, task_function=register,
                                   config=sweep_config, job_dir_key="hydra.sweep.dir",
                                   job_subdir_key="hydra.sweep.subdir"))
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        # Jobs whose task failed before registering (a bad config) keep their failed JobReturn.
        registered = [r for r in returns if r.status == JobStatus.COMPLETED]
        if len(registered) != len(collected):
            raise RuntimeError("dlexp launcher: a job neither registered nor failed")
        for ret, value in zip(registered, cli.train_collected(collected) if collected else []):
            ret.return_value = value
        if len(registered) != len(returns):
            # Hydra re-raises the failed job's error next and skips on_multirun_end: show the others' results now.
            print_sweep_summary(self.config.hydra.sweep.dir)
        return returns
