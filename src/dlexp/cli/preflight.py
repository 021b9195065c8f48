"""``dlexp train``'s command line before Hydra: its flags, the user's config folder (``-cd``), and the
preflight that composes and validates every job (sizes, data files, the budget, user activations)
before TensorFlow loads and before Hydra makes any folder, so a bad value leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from dlexp.errors import DlexpError

# The dispatcher's subcommands (cli/main.py), completed while the cursor is on the subcommand.
SUBCOMMANDS = ("train", "reproduce", "report", "list")

# Flags that only print something: hand them to Hydra untouched, no preflight.
HYDRA_INFO_FLAGS = {"--help", "-h", "--hydra-help", "--info", "-i", "--cfg", "-c", "--shell-completion",
                    "-sc", "--version", "--resolve", "-p", "--package"}
HYDRA_VALUE_FLAGS = {"-cd", "--config-dir", "-cp", "--config-path", "-cn", "--config-name",
                     "--experimental-rerun", "-p", "--package", "-c", "--cfg", "-i", "--info"}


# Every flag Hydra's command line knows (hydra/_internal/utils.py get_args_parser).
HYDRA_FLAGS = HYDRA_INFO_FLAGS | HYDRA_VALUE_FLAGS | {"-m", "--multirun", "-r", "--run"}
CFG_KINDS = ("job", "hydra", "all")


def check_flags(args: list[str]) -> None:
    """An unknown flag (``--epochs 5``) or a bad ``--cfg`` kind is one line here; Hydra would print
    its usage after the preflight had passed, and TensorFlow had been imported, for nothing."""
    for i, a in enumerate(args):
        flag = a.split("=", 1)[0]
        if a.startswith("-") and flag not in HYDRA_FLAGS and not a.startswith(("--config-", "-sc=")):
            raise DlexpError(f"{flag}: unknown option; allowed: -m, -cd DIR, -cn NAME, --cfg job, --info, --help, "
                             "and overrides KEY=VALUE (e.g. trainer.epochs=5)")
        if flag in ("--cfg", "-c"):
            kind = a.split("=", 1)[1] if "=" in a else (args[i + 1] if i + 1 < len(args) else None)
            if kind not in CFG_KINDS:
                raise DlexpError(f"--cfg: got {kind!r}; allowed: one of: {', '.join(CFG_KINDS)}")


def split_train_args(args: list[str]) -> tuple[dict, list[str]]:
    """Separate Hydra's flags from overrides: ({flag: value}, overrides)."""
    flags: dict = {}
    overrides: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-m", "--multirun"):
            flags["multirun"] = True
        elif a in HYDRA_VALUE_FLAGS and i + 1 < len(args):
            flags[a] = args[i + 1]
            i += 1
        elif a.startswith("--config-dir=") or a.startswith("--config-name=") or a.startswith("--config-path="):
            key, _, value = a.partition("=")
            flags[key] = value
        elif a.startswith("-") and "=" not in a:
            flags[a] = True
        else:
            overrides.append(a)
        i += 1
    return flags, overrides


def config_dir(flags: dict):
    """The ``-cd``/``--config-dir`` folder of ``split_train_args``' flags, or None."""
    return flags.get("-cd") or flags.get("--config-dir")


def config_name(flags: dict) -> str:
    """The ``-cn``/``--config-name`` of ``split_train_args``' flags (default: config)."""
    return flags.get("-cn") or flags.get("--config-name") or "config"


def flags_first(args: list[str]) -> list[str]:
    """The flags (with their values), then the overrides: Hydra's argparse takes the overrides as one
    positional list, so ``a=1 -cd DIR b=2`` would leave ``b=2`` unrecognized after the preflight passed."""
    flags: list[str] = []
    overrides: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in HYDRA_VALUE_FLAGS and i + 1 < len(args) and not (a in ("-i", "--info") and "=" in args[i + 1]):
            flags += [a, args[i + 1]]
            i += 1
        elif a.startswith("-"):
            flags.append(a)
        else:
            overrides.append(a)
        i += 1
    return flags + overrides


def preflight(args: list[str]) -> int:
    """Compose and validate every job the command line asks for, before TF and before any folder.
    Returns the number of jobs."""
    return len(preflight_jobs(args))


def preflight_jobs(args: list[str]) -> list:
    """``preflight``'s jobs."""
    from dlexp import artifacts
    from dlexp.config import experiment
    from dlexp.config.compose import compose_runs
    from dlexp.data import datasets as data
    from dlexp.run import trackers

    flags, overrides = split_train_args(args)
    folder = config_dir(flags)
    if folder is not None and not os.path.isdir(folder):
        raise DlexpError(f"--config-dir: got {folder!r}; allowed: an existing folder of configs")
    configs = compose_runs(overrides, config_name=config_name(flags), multirun=bool(flags.get("multirun")))
    jobs = [job for cfg in configs for job in experiment.expand(cfg)]
    for root in dict.fromkeys(job.spec.output_root for job in jobs):
        artifacts.check_writable_folder("output_root", root)
    for override in overrides:  # hydra.run.dir=DIR puts the run folder itself somewhere else
        key, _, value = override.lstrip("+~").partition("=")
        if key in ("hydra.run.dir", "hydra.sweep.dir") and "${" not in value:
            artifacts.check_writable_folder(key, value.strip("'\""))
    for job in jobs:
        check_import_path(job.spec.activation.name)
        trackers.check_available(job.spec)  # logger=mlflow without MLflow installed: one line, before TF
    data.check_sizes([j.spec for j in jobs])  # missing/malformed data files, batch larger than the data
    check_budget(jobs)
    return jobs


def check_budget(jobs: list) -> None:
    """Runs that cannot fit in this machine's memory or cannot finish are refused with the estimate
    (run/budget.py). Many seeds make a command's runs many; otherwise its epochs make them long."""
    from dlexp.run import budget

    seeds = {j.spec.seed for j in jobs}
    runs = budget.Blame("seeds", len(seeds)) if len(seeds) > 1 else None
    budget.check([j.spec for j in jobs], runs=runs)


def check_import_path(name: str) -> None:
    """A user activation's module must exist (found without importing it, so without TF)."""
    import importlib.util

    from dlexp.errors import ConfigError
    from dlexp.config.names import is_import_path

    if not is_import_path(name):
        return
    module = name.partition(":")[0]
    if module.split(".")[0] in sys.stdlib_module_names:  # os:system, builtins:eval, subprocess:call, ...
        raise ConfigError("activation.name", name, "a function of your own module ('module:function'), "
                                                   "not one of Python's standard library")
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError("activation.name", name, f"'module:function' with an importable module ('{module}' not found)")


def check_user_activations(jobs: list) -> None:
    """Each user activation is a plain function mapping a float tensor to one of the same shape
    (checked on a small tensor, before any folder exists)."""
    from dlexp.config.names import is_import_path
    from dlexp.nn import activations
    from dlexp.run import native_log

    names = [n for n in dict.fromkeys(j.spec.activation.name for j in jobs) if is_import_path(n)]
    if not names:
        return
    # Calling the function makes TF's devices (its CUDA notices come then): filter them. TF's thread
    # pools are then made too, so a sweep mixing these runs with several stacks keeps TF's default.
    with native_log.native_stderr_filtered():
        for name in names:
            activations.check_user_activation(name)


@contextlib.contextmanager
def user_config_dir(args: list[str]):
    """``-cd DIR``: the user's configs are searched before the packaged ones (same name: theirs wins)."""
    folder = config_dir(split_train_args(args)[0])
    if not folder or folder is True:
        yield None
        return
    if not os.path.isdir(folder):
        raise DlexpError(f"--config-dir: got {folder!r}; allowed: an existing folder of configs")
    from hydra_plugins.dlexp_launcher import user_configs

    user_configs.register()
    saved = os.environ.get(user_configs.ENV_VAR)
    os.environ[user_configs.ENV_VAR] = os.path.abspath(folder)
    try:
        yield Path(folder)
    finally:
        if saved is None:
            os.environ.pop(user_configs.ENV_VAR, None)
        else:
            os.environ[user_configs.ENV_VAR] = saved
