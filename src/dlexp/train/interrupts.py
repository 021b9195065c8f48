"""Ctrl-C and SIGTERM: raise KeyboardInterrupt, and remember that one was asked for.

Python raises KeyboardInterrupt in whatever frame runs when the signal is handled; if
that frame belongs to library code that catches everything (a checkpoint writer, a
cleanup handler), the interrupt is lost and the run would go on to the end. Both trainers call ``check()``
at every epoch start (Keras: EpochRecorder.on_epoch_begin; the stack: its epoch loop), so a
swallowed interrupt still stops the run there. No TensorFlow.
"""

from __future__ import annotations

import signal

# Set by the signal handler (which can reach nothing else); cleared by each run's start (clear).
_requested = False


def _handler(signum, frame) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt


def install() -> None:
    """SIGINT and SIGTERM (a scheduler's stop) both become KeyboardInterrupt, remembered."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, _handler)
        except ValueError:  # not the main thread (e.g. embedded): leave signals alone
            return


def clear() -> None:
    """Forget an earlier interrupt: a new run in the same process starts afresh (the runner calls
    this as it starts training; an interrupt during training still stops it)."""
    global _requested
    _requested = False


def check() -> None:
    """Raise KeyboardInterrupt if one was requested (whether or not it was swallowed)."""
    if _requested:
        raise KeyboardInterrupt
