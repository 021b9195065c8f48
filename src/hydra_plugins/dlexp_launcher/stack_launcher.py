"""dlexp's default Hydra launcher: a ``-m`` sweep's jobs are trained together, so runs that can
share a vectorized stack do (``dlexp train -m activation=relu,elu,selu trainer.seed=1,2,3``
trains nine networks as one stack instead of nine ``model.fit`` calls).

Each job still gets its own folder and ``.hydra/`` files from Hydra's ``run_job``; the dlexp
task only registers the job there, and the launcher trains all registered jobs at once
(``dlexp.cli.train_collected``) before handing Hydra one return value per job. Pick another
launcher (``hydra/launcher=joblib``, ray, submitit) to spread jobs over processes instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)


@dataclass
class StackLauncherConf:
    _target_: str = "hydra_plugins.dlexp_launcher.stack_launcher.StackLauncher"


ConfigStore.instance().store(group="hydra/launcher", name="dlexp", node=StackLauncherConf, provider="dlexp")


def register() -> None:
    """Make Hydra able to instantiate the launcher even where its plugin scan cannot see this
    package (an editable install's import hook is not walkable by pkgutil)."""
    from hydra.core.plugins import Plugins

    Plugins.instance().class_name_to_class.setdefault(StackLauncherConf._target_, StackLauncher)


class StackLauncher(Launcher):
    def __init__(self) -> None:
        super().__init__()
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from dlexp import cli

        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs together (compatible runs share a stack)")
        returns: list[JobReturn] = []
        with cli.collecting_jobs() as collected:
            for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
                sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
                with open_dict(sweep_config):
                    sweep_config.hydra.job.id = idx
                    sweep_config.hydra.job.num = idx
                returns.append(run_job(hydra_context=self.hydra_context, task_function=self.task_function,
                                       config=sweep_config, job_dir_key="hydra.sweep.dir",
                                       job_subdir_key="hydra.sweep.subdir"))
                configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        # Jobs whose task failed before registering (a bad config) keep their failed JobReturn.
        registered = [r for r in returns if r.status == JobStatus.COMPLETED]
        if len(registered) != len(collected):
            raise RuntimeError("dlexp launcher: a job neither registered nor failed")
        for ret, value in zip(registered, cli.train_collected(collected) if collected else []):
            ret.return_value = value
        return returns
