"""Start-up on both cores: a forked child does the config and data work while this process
imports TensorFlow.

``dlexp reproduce`` must compose its presets, load the data sets (mostly sklearn's import) and
import TF + Keras before its first epoch; done one after the other, they leave the second core
mostly idle. Imports and composing are single-threaded Python holding the
GIL, so a thread cannot overlap them; a second process can. ``beside_tf_import(fn, *args)`` forks
a child that runs ``fn`` and sends back its pickled result, while a thread here imports TF; the
calling thread waits on the pipe without the GIL.
(Keras imports sklearn itself, so for ``dlexp train``, whose only start-up work besides Hydra's
compose is the data load, the same overlap gains nothing and is not used.)

Rules that keep this safe:
- fork only with no other Python thread running, and before TF is imported (then there is
  nothing to overlap; TF's runtime threads would not survive the fork anyway): otherwise ``fn``
  simply runs here. Only on Linux (macOS' system libraries are not fork-safe).
- the importer thread starts after the fork, so the child never inherits a held import lock.
- the caller imports nothing while the importer runs: the result is unpickled (which imports its
  classes' modules) only after the importer has finished, so no two threads import at once.
- ``fn``'s DlexpError comes back as a DlexpError with the same message, at once: the user sees
  a bad config without waiting for TF (the importer is a daemon; the CLI then exits with
  ``os._exit``, see ``importing``). Anything else fails loudly with the child's traceback.
- ``then=``: the child computes a second result after sending the first and before exiting (the
  no-training analyses of ``reproduce``); it only computes, the parent writes what it sends, after
  taking the output's lock. ``Later.cancel`` ends the child when the run fails or is interrupted.
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import pickle
import sys
import threading
import traceback
from typing import Any, Callable, Optional

from dlexp.errors import DlexpError

# What the stack engine and the runner import on their first use: TF, Keras, and dlexp's
# modules built on them.
TF_MODULES = ("dlexp.train.stack.fit", "dlexp.run.runner")

_importer: threading.Thread | None = None


def importing() -> bool:
    """True while a background import is still running (a process exiting then must not run
    the interpreter's teardown under it: ``cli.console_main`` uses ``os._exit``)."""
    return _importer is not None and _importer.is_alive()


def can_fork() -> bool:
    return (sys.platform.startswith("linux") and "tensorflow" not in sys.modules
            and threading.active_count() == 1)


def beside_tf_import(fn: Callable[..., Any], *args: Any, modules: tuple[str, ...] = TF_MODULES,
                     then: Optional[tuple[Callable[..., Any], tuple]] = None) -> Any:
    """``fn(*args)``, computed in a forked child while this process imports ``modules``.

    Without fork (see ``can_fork``) it is just ``fn(*args)``, and the modules load where first used.
    ``then=(fn2, args2)``: the child goes on to compute ``fn2(*args2)`` once it has sent ``fn``'s
    result (on the core the import leaves idle, and without this process' GIL); the call then returns
    ``(fn's result, Later)``, whose ``get()`` waits for ``fn2``'s result (without fork, computes it).
    """
    if not can_fork():
        return fn(*args) if then is None else (fn(*args), Later(*then))
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    jobs = [(fn, args)] + ([then] if then is not None else [])
    child = ctx.Process(target=_child, args=(send, jobs), name="dlexp-startup", daemon=True)
    child.start()
    send.close()  # ours: the child's copy is the only writer, so its exit means EOF here
    global _importer
    _importer = threading.Thread(target=_import_all, args=(modules,), name="dlexp-import", daemon=True)
    _importer.start()
    later = None if then is None else Later(*then, child=child, receive=receive)
    try:
        blob = _receive(receive, child, "the configs and data")
    except BaseException:  # interrupted, or it failed: nothing more to wait for
        if later is not None:
            later.cancel()
        raise
    finally:
        if later is None:
            _end(child, receive)
    _importer.join()
    result = pickle.loads(blob)
    return result if later is None else (result, later)


class Later:
    """The start-up child's second result (``beside_tf_import(..., then=...)``)."""

    def __init__(self, fn: Callable[..., Any], args: tuple, child=None, receive=None) -> None:
        self._fn, self._args, self._child, self._receive = fn, args, child, receive
        self._forked = child is not None

    def get(self) -> Any:
        """The result; raises what ``fn`` raised (a DlexpError as a DlexpError). Once only."""
        if not self._forked:
            return self._fn(*self._args)
        if self._child is None:
            raise RuntimeError("Later.get: the start-up child's result was already taken or cancelled")
        try:
            blob = _receive(self._receive, self._child, "its second result")
        except BaseException:
            self.cancel()
            raise
        _end(self._child, self._receive)  # it has sent everything: only its exit is left
        self._child = None
        return pickle.loads(blob)

    def cancel(self) -> None:
        """Stop the child if it still works (an interrupt, a failure: its result is moot)."""
        if self._child is not None:
            _end(self._child, self._receive, wait=0.0)
            self._child = None


def _receive(receive, child, what: str) -> bytes:
    """One pickled result from the child, or its error raised here."""
    try:
        kind, text = receive.recv()  # a tuple of str: unpickling it imports nothing
        blob = receive.recv_bytes() if kind == "ok" else b""
    except EOFError:
        child.join()
        raise RuntimeError(f"dlexp's start-up process exited with code {child.exitcode} "
                           f"before sending {what}") from None
    except BaseException:  # interrupted (Ctrl-C, SIGTERM) while waiting: the child's work is moot
        child.terminate()
        raise
    if kind == "error":
        raise DlexpError(text)
    if kind == "interrupt":
        raise KeyboardInterrupt
    if kind != "ok":
        raise RuntimeError(f"dlexp's start-up process failed:\n{text}")
    return blob


def _end(child, receive, wait: float = 5.0) -> None:
    """Close our end of the pipe and reap the child: up to ``wait`` s for its exit, then kill it."""
    receive.close()
    child.join(timeout=wait)
    if child.is_alive():
        child.kill()
        child.join()


def _import_all(modules: tuple[str, ...]) -> None:
    # The import is start-up's longest leg, and the cyclic GC's full passes over the many objects it
    # makes are a noticeable part of it. Those objects live until exit, so:
    # no collection while importing, then they move to the permanent generation, which later
    # passes skip. (The main thread only waits on the pipe meanwhile; the child has its own heap.)
    gc.disable()
    try:
        from dlexp.run import native_log

        for name in modules:
            try:
                native_log.import_tensorflow()
                importlib.import_module(name)
            except BaseException:  # noqa: BLE001 - the caller's own import of it raises where it is handled
                return
    finally:
        gc.freeze()
        gc.enable()


def _child(conn, jobs: list[tuple[Callable[..., Any], tuple]]) -> None:
    for fn, args in jobs:
        blob = None
        try:
            blob = pickle.dumps(fn(*args), protocol=pickle.HIGHEST_PROTOCOL)
            message = ("ok", "")
        except DlexpError as err:
            message = ("error", str(err))
        except KeyboardInterrupt:
            message = ("interrupt", "")
        except BaseException:  # noqa: BLE001 - sent to the parent, which raises it
            message = ("crash", traceback.format_exc())
        try:
            conn.send(message)
            if blob is not None:
                conn.send_bytes(blob)
        except OSError:  # the parent is gone (a broken pipe)
            break
        if message[0] != "ok":
            break
    conn.close()
