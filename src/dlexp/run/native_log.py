"""TensorFlow's native start-up log lines, kept off the user's terminal unless ``--verbose``.

TF's C++ runtime writes notices (oneDNN, missing CUDA drivers, ``cuInit`` errors) straight to
file descriptor 2 while it loads, before its own ``TF_CPP_MIN_LOG_LEVEL`` takes effect, so
only redirecting the descriptor keeps them away. The descriptor goes, through a pipe, to a small
filter process that passes everything else on as it comes (Python warnings, other libraries),
and every fatal line (``F...`` log lines, failed checks, ``terminate called``): being a process
of its own, it still passes them on when TF aborts this one.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from typing import Iterator

VERBOSE_ENV = "DLEXP_VERBOSE"

# The native log line prefix: absl's ("I0000 00:00:1796529475.519655    7001 port.cc:153] ...", TF >= 2.18),
# TF's older own ("<date> <time>: E external/local_xla/.../cuda_fft.cc:479] ..."), absl's banner.
_NATIVE_LINE = re.compile(r"^(?:[IWEF]\d{4} [\d:.]+\s+\d+ |\d{4}-\d\d-\d\d [\d:.]+: [IWEF] )[\w./-]+:\d+\]"
                          r"|^WARNING: All log messages before absl::")
# Lines that announce a crash: a fatal log line (either format), a failed CHECK, an uncaught C++ exception.
_FATAL_LINE = re.compile(r"^F\d{4} |^\d{4}-\d\d-\d\d [\d:.]+: F |Check failed|terminate called")

# The filter process: stdin is the captured descriptor, stdout the terminal's stderr. Each line
# is passed on at once (no line is held back for a process that may die).
_FILTER = """
import re, sys
native, fatal = re.compile(sys.argv[1].encode()), re.compile(sys.argv[2].encode())
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    if fatal.search(line) or not native.match(line):
        out.write(line)
        out.flush()
"""


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


def is_native_line(line: str) -> bool:
    """A TF start-up notice the filter drops (a fatal line is not one: it always passes)."""
    return bool(_NATIVE_LINE.match(line)) and not _FATAL_LINE.search(line)


@contextlib.contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Send fd 2 meanwhile through the filter process, which drops TF's native log lines.

    Python's own ``sys.stderr`` keeps writing to the terminal meanwhile (through a copy of the
    descriptor), so an error printed by another thread is never held back or lost.
    """
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    try:
        flt = subprocess.Popen([sys.executable, "-I", "-S", "-c", _FILTER, _NATIVE_LINE.pattern, _FATAL_LINE.pattern],
                               stdin=read_end, stdout=saved, stderr=saved)
    except OSError:  # no process to spare: the notices show, nothing is lost
        for fd in (read_end, write_end, saved):
            os.close(fd)
        yield
        return
    os.close(read_end)
    python_stderr = sys.stderr
    sys.stderr = open(os.dup(saved), "w", buffering=1, encoding=getattr(python_stderr, "encoding", None) or "utf-8",
                      errors="backslashreplace")
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer here: the filter reads to its end and exits
        os.close(saved)
        ours, sys.stderr = sys.stderr, python_stderr
        _repoint_log_handlers(ours, python_stderr)  # handlers TF/absl made meanwhile hold our stream
        ours.close()
        try:
            flt.wait(timeout=2)
        except subprocess.TimeoutExpired:  # a process started meanwhile holds the pipe: the filter serves it on
            pass


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
