"""What a command shows while it trains: one progress display for both trainers, fed by the
per-epoch rows they hand to the run writers. Nothing here trains or writes files."""

from __future__ import annotations

import sys
import threading
from contextlib import ExitStack
from typing import Any, Callable, Optional

class Progress:
    """What a command shows while it trains: one object for every path (Keras fit, stacks, sweeps,
    reproductions), fed by the per-epoch rows both trainers hand to the run writers.

    Modes (``trainer.progress``): ``rich`` draws a live display on stderr, a couple of lines that fit
    the terminal (``console.TrainingProgress``): runs done / total, a bar of the epochs trained over
    the epochs planned for all runs, the time left at the recent pace (an upper bound when early
    stopping may end runs sooner: shown as ``≤``), and the epoch of each group in training. ``line``:
    one line per finished run on stderr, nothing per epoch. ``plain``: that, and one line per epoch.
    ``none``: nothing. ``auto`` is ``rich`` when stdout and stderr are both terminals, else ``line``,
    so logs, pipes and CI get no per-epoch output. ``console``: draw there instead (tests).

    Runs are known by a key (``execute_tasks`` uses ``id(job)``). Calls may come from any thread
    (the lanes train stacks side by side, the background thread finishes runs): the counts are
    kept under a lock, and rich's own lock guards the display. The display closes with ``stack``.
    """

    def __init__(self, mode: str, stack: ExitStack, console: Any = None) -> None:
        if mode == "auto":
            tty = console.is_terminal if console is not None else sys.stdout.isatty() and sys.stderr.isatty()
            mode = "rich" if tty else "line"
        self.mode = mode
        self._lock = threading.Lock()
        self._runs = self._runs_done = 0
        self._total = self._completed = 0  # epochs planned and trained, over all runs of this command
        self._state: dict[Any, list[int]] = {}  # key -> [epochs planned, epochs before this command, last epoch]
        self._lanes: dict[int, list] = {}  # display task -> keys of a group in training
        self._upper = False
        self._labels: dict[Any, str] = {}
        self.display = None
        if mode == "rich":
            from rich.console import Console

            from dlexp.report.console import TrainingProgress

            self.display = stack.enter_context(TrainingProgress(console or Console(stderr=True)))

    def start(self, planned: dict[Any, int], runs: int, early_stopping: bool = False,
              labels: Optional[dict[Any, str]] = None) -> None:
        """Before training: the epochs each run to train may take (key -> epochs), the runs of the
        command in all (those not in ``planned`` count as done: finished earlier), whether early
        stopping may end some sooner (then the time left is an upper bound), and what ``plain``
        mode's lines call each run (key -> label)."""
        with self._lock:
            self._labels = dict(labels or {})
            self._state = {key: [int(epochs), 0, 0] for key, epochs in planned.items()}
            self._runs, self._runs_done = runs, runs - len(planned)
            self._total, self._completed, self._upper = sum(planned.values()), 0, early_stopping
            self._show()

    def begin_group(self, title: str, keys: list, resumed: Optional[dict] = None) -> Optional[int]:
        """A group of runs starts training (a stack, or one run through Keras' fit); ``resumed``:
        key -> epochs already trained by an earlier command. Returns the token for ``end_group``."""
        with self._lock:
            for key in keys:
                st = self._state.setdefault(key, [0, 0, 0])
                first = min((resumed or {}).get(key, 0), st[0])
                self._total -= first - st[1]
                st[1] = st[2] = first
            self._show()
            if self.display is None:
                return None
            epoch, epochs = self._group_epochs(keys)
            task = self.display.add_task(title, total=epochs, completed=epoch)
            self._lanes[task] = list(keys)
            return task

    def sink(self, key, on_epoch: Callable[[dict], None]) -> Callable[[dict], None]:
        """``on_epoch`` (a run writer's), then run ``key``'s progress."""
        if self.mode == "none" or self.mode == "line":
            return on_epoch

        def call(row: dict) -> None:
            on_epoch(row)
            self.epoch(key, row)

        return call

    def epoch(self, key, row: dict) -> None:
        """Run ``key`` finished epoch ``row["epoch"]`` (1-based, counted from the run's start)."""
        e = int(row["epoch"])
        with self._lock:
            st = self._state.setdefault(key, [0, 0, 0])
            if e > st[0]:  # more than planned (a caller that did not say): the plan grows
                self._total += e - st[0]
                st[0] = e
            if e > st[2]:
                self._completed += e - max(st[2], st[1])
                st[2] = e
            planned = st[0]
            self._show()
            lane = next((t for t, keys in self._lanes.items() if key in keys), None)
            if lane is not None:
                epoch, epochs = self._group_epochs(self._lanes[lane])
                self.display.update(lane, completed=epoch, total=epochs)
        if self.mode == "plain":
            parts = [f"{k}={row[k]:.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in row]
            print(f"[{self._labels.get(key, key)}] epoch {e}/{planned} " + " ".join(parts), file=sys.stderr, flush=True)

    def end_group(self, token: Optional[int], keys: list, complete: bool = True) -> None:
        """The group stopped training. ``complete`` (it was not interrupted): runs that stopped
        early (or failed) no longer count the epochs they did not train."""
        with self._lock:
            for key in keys if complete else ():
                st = self._state.get(key)
                if st is not None and st[0] > max(st[1], st[2]):
                    self._total -= st[0] - max(st[1], st[2])
                    st[0] = max(st[1], st[2])
            self._lanes.pop(token, None)
            if self.display is not None and token is not None:
                self.display.remove_task(token)
            self._show()

    def finished(self, label: str, summary: dict) -> None:
        """Run ``label``'s folder is complete (its summary written); an interrupted one is not done."""
        with self._lock:
            self._runs_done += summary.get("status") != "interrupted"
            self._show()
        if self.mode in ("line", "plain"):
            acc = summary.get("test_accuracy")
            acc_s = f"{acc:.3f}" if isinstance(acc, float) else "n/a"
            print(f"[dlexp] {label}: {summary['status']} test_accuracy={acc_s} epochs={summary.get('epochs_run')} "
                  f"({summary['timings']['total_seconds']:.1f}s, {summary.get('trainer')})", file=sys.stderr, flush=True)

    def _group_epochs(self, keys: list) -> tuple[int, int]:
        """(the furthest epoch of the group's runs, the most any of them plans)."""
        states = [self._state[k] for k in keys if k in self._state]
        return max((s[2] for s in states), default=0), max((s[0] for s in states), default=0)

    def _show(self) -> None:
        """The overall counts to the display (with ``_lock`` held)."""
        if self.display is not None:
            self.display.update(self.display.overall, total=self._total, completed=self._completed,
                                runs_done=self._runs_done, runs=self._runs, upper_bound=self._upper,
                                done=self._runs > 0 and self._runs_done >= self._runs)


def run_names(tasks: list) -> list[tuple[str, str]]:
    """Per task, what the progress output calls it: (experiment name, what sets the run apart), the
    latter its variant, plus (in a sweep, whose experiments are single runs) the overrides not all
    tasks share."""
    shared = set.intersection(*(set(t.meta.get("overrides", [])) for t in tasks)) if tasks else set()
    names = []
    for t in tasks:
        spec = t.job.spec
        over = [str(o) for o in t.meta.get("overrides", []) if o not in shared]
        variant = [] if over and spec.variant == "default" else [str(spec.variant)]
        names.append((str(spec.name), " ".join(variant + over)))
    return names


def group_title(names: list[tuple[str, str]], seeds: list[int]) -> str:
    """The title of a group in training: ``name: variant seed=42`` for one run, else
    ``stack of 5 · name: relu, tanh`` (each experiment and variant once)."""
    exps = ", ".join(dict.fromkeys(n for n, _ in names))
    whats = ", ".join(dict.fromkeys(w for _, w in names))
    if len(names) == 1:
        return f"{exps}: {whats} seed={seeds[0]}"
    return f"stack of {len(names)} · {exps}: {whats}"
