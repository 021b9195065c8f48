"""``dlexp`` command line: a small dispatcher in front of the subcommands.

``dlexp train`` is the Hydra app (``cli/train.py``); the others are plain argparse. Nothing
here imports TensorFlow: ``--help``, ``list`` and config errors answer fast. Process-wide
settings are made here (``_process_settings``) and nowhere else.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Optional

from dlexp.cli import preflight
from dlexp.cli import train as train_cmd
from dlexp.errors import DlexpError
from dlexp.train import interrupts

USAGE = """\
usage: dlexp <command> [arguments]

commands:
  train [OVERRIDES]       train one configuration, a preset (+exp=NAME) or a sweep (-m)
  train resume=DIR        continue an interrupted run or preset in its own folder
  reproduce [EXERCISE...] run the notebook's exercises and write a report
            [--seeds N] [--out DIR]
  report DIR              tables and a report for a run, sweep or reproduction folder
  list [-cd DIR]          the presets (yours too with -cd) and exercises, one line each

options:
  --debug                 show Python tracebacks for errors
  --verbose               show TensorFlow's own start-up log lines
  --version               print the version

`dlexp train --help` shows the config groups, `dlexp reproduce --help` its options.
"""


def _error(message: str) -> int:
    print(f"dlexp: error: {message}", file=sys.stderr)
    return 2


def cmd_train(args: list[str]) -> int:
    return train_cmd.cmd_train(args)


def cmd_list(args: list[str]) -> int:
    from dlexp.config.presets import list_presets
    from dlexp.notebook.exercises import list_exercises

    flags, rest = preflight.split_train_args(args)
    if rest or any(f not in ("-cd", "--config-dir") for f in flags):
        raise DlexpError(f"list: got {' '.join(args)!r}; allowed: `dlexp list` or `dlexp list -cd DIR`")
    folder = preflight.config_dir(flags)
    if folder is not None and not os.path.isdir(folder):
        raise DlexpError(f"--config-dir: got {folder!r}; allowed: an existing folder of configs")
    print("Presets (dlexp train +exp=NAME):")
    for name, description in list_presets(Path(folder) if folder else None):
        print(f"  {name:24s} {description}")
    print("\nExercises (dlexp reproduce NAME ...):")
    for name, description in list_exercises():
        print(f"  {name:24s} {description}")
    return 0


def cmd_reproduce(args: list[str]) -> int:
    from dlexp.notebook.reproduce import main as reproduce_main

    return reproduce_main(args)


def cmd_report(args: list[str]) -> int:
    from dlexp.notebook.report import main as report_main

    return report_main(args)


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "train": cmd_train,
    "reproduce": cmd_reproduce,
    "report": cmd_report,
    "list": cmd_list,
}


def main(argv: Optional[list[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow can be imported
    debug = "--debug" in args
    verbose = "--verbose" in args
    args = [a for a in args if a not in ("--debug", "--verbose")]
    if debug:
        os.environ["HYDRA_FULL_ERROR"] = "1"
    if verbose:
        from dlexp.run import native_log

        os.environ[native_log.VERBOSE_ENV] = "1"
    interrupts.install()
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if args[0].split("=")[0] in ("-sc", "--shell-completion"):
        args = ["train"] + args  # Hydra's installed completion script calls `dlexp -sc query=bash`
    if args[0] == "--version":
        from dlexp import __version__

        print(f"dlexp {__version__}")
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        return _error(f"command: got {args[0]!r}; allowed: {', '.join(COMMANDS)}")
    try:
        return command(args[1:])
    except DlexpError as err:
        if debug:
            import traceback

            traceback.print_exc()
        _error(str(err))
        return err.exit_code
    except KeyboardInterrupt:
        print("dlexp: interrupted", file=sys.stderr)
        return 130
    except OSError as err:
        if err.errno != errno.ENAMETOOLONG or debug:
            raise
        # A path the user typed that no file system can hold, met where no field check saw it first.
        from dlexp import artifacts

        name = str(err.filename or "")
        return _error(f"path: got {artifacts.shortened(name)!r}; allowed: names of at most {artifacts.NAME_MAX} "
                      f"bytes, paths of at most {artifacts.PATH_MAX} (this one is {len(name.encode())} bytes)")


# Modules whose atexit hooks may still have work to do (queued records, worker processes to stop):
# when one is loaded, dlexp exits the normal way. (Hydra imports every launcher's config module to
# discover it; the joblib launcher's _core is imported only when it launches.)
_NEEDS_ATEXIT = ("mlflow", "ray", "submitit", "optuna", "hydra_plugins.hydra_joblib_launcher._core")


def _process_settings() -> None:
    """What the dlexp command sets for its own process, before anything imports TensorFlow or numpy.

    setdefault throughout: the user's environment wins.
    """
    # TF turns its oneDNN kernels on by default only on some Intel CPUs; they are TF's own,
    # documented switch, and the stacked trainer's batched matmuls are faster with them.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    # dlexp's own BLAS calls (linear probes, t-SNE, the analyses) are small and run beside TF's
    # training lanes; OpenBLAS' idle threads would spin on the cores the lanes need.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def console_main() -> None:
    _process_settings()
    # `python -m dlexp` finds the user's own modules (activation.name=my_pkg.mod:fn) in the current
    # folder; the console script should too. Appended, so nothing there shadows an installed module.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # `dlexp list | head -3`: the reader left; say nothing more (Python's documented recipe).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    # With TensorFlow loaded, the interpreter's teardown is slow and does nothing dlexp needs: every
    # file it writes is complete when written (atomic writes, closed logs) and main() has joined its threads.
    # The same when start-up's background import is still running (an error came first): the
    # teardown must not run under it.
    importing = "dlexp.run.startup" in sys.modules and sys.modules["dlexp.run.startup"].importing()
    if ("tensorflow" in sys.modules or importing) and not any(m in sys.modules for m in _NEEDS_ATEXIT):
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code or 0))
    sys.exit(code)
