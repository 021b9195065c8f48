"""TensorFlow's native start-up log lines, kept off the user's terminal unless ``--verbose``.

TF's C++ runtime writes notices (oneDNN, missing CUDA drivers, ``cuInit`` errors) straight to
file descriptor 2 while it loads, before its own ``TF_CPP_MIN_LOG_LEVEL`` takes effect, so
only redirecting the descriptor keeps them away. Everything else written meanwhile (Python
warnings, other libraries) is passed on once the import is done.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import Iterator

VERBOSE_ENV = "DLEXP_VERBOSE"

# glog/absl line prefix ("I0000 00:00:1796529475.519655    7001 port.cc:153] ...") and absl's banner.
_NATIVE_LINE = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\]|^WARNING: All log messages before absl::")


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


def is_native_line(line: str) -> bool:
    return bool(_NATIVE_LINE.match(line))


@contextlib.contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Capture fd 2 meanwhile; afterwards write back every line that is not a TF native log line.

    Python's own ``sys.stderr`` keeps writing to the terminal meanwhile (through a copy of the
    descriptor), so an error printed by another thread is never held back or lost.
    """
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    python_stderr = sys.stderr
    sys.stderr = open(os.dup(saved), "w", buffering=1, encoding=getattr(python_stderr, "encoding", None) or "utf-8",
                      errors="backslashreplace")
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            ours, sys.stderr = sys.stderr, python_stderr
            _repoint_log_handlers(ours, python_stderr)  # handlers TF/absl made meanwhile hold our stream
            ours.close()
            capture.seek(0)
            kept = [ln for ln in capture.read().decode(errors="replace").splitlines(keepends=True)
                    if not is_native_line(ln)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def _repoint_log_handlers(old, new) -> None:
    """Logging handlers created while ``old`` was ``sys.stderr`` (TF's and absl's, made at TF's
    import) write to ``new`` instead, so they never write to a closed file."""
    import logging

    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for handler in lg.handlers:
            for h in (handler, getattr(handler, "python_handler", None)):  # absl wraps a StreamHandler
                if isinstance(h, logging.StreamHandler) and h.stream is old:
                    h.setStream(new)


def import_tensorflow() -> None:
    """Import TF with its start-up notices filtered. Its devices are made later (``start_devices``):
    thread-pool sizes can only be set before that."""
    if "tensorflow" in sys.modules:
        return
    with native_stderr_filtered():
        import tensorflow  # noqa: F401


def start_devices() -> None:
    """Create TF's devices (where the ``cuInit`` error is printed) with the notices filtered; call
    it after the thread pools are sized (``tf_runtime.one_thread_per_op``)."""
    with native_stderr_filtered():
        import tensorflow as tf

        tf.config.list_logical_devices()
