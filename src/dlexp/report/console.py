"""What dlexp prints on the terminal: the live training progress, and a rich table (or plain text
when piped) at the end of a run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable, Optional

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.progress import Progress
from rich.table import Table
from rich.text import Text


def _fmt(v, digits: int = 3) -> str:
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "-" if v is None else str(v)


def print_summary(summary: dict, run_dir: Path) -> None:
    console = Console()
    runs = summary.get("runs") if summary.get("kind") == "experiment" else [summary]
    table = Table(title=f"{summary.get('name')}: {summary.get('status')}")
    for col in ("variant", "seed", "status", "test_accuracy", "param_count", "epochs_run"):
        table.add_column(col, justify="right" if col not in ("variant", "status") else "left")
    for r in runs:
        table.add_row(*(_fmt(r.get(c)) for c in ("variant", "seed", "status", "test_accuracy", "param_count", "epochs_run")))
    console.print(table)
    console.print(f"outputs: {run_dir}")


# ---------------------------------------------------------------- training progress (runner.Progress draws it)

def _clock(seconds: Optional[float]) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "-:--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def progress_lines(width: int, runs_done: int, runs: int, completed: int, total: Optional[int],
                   eta: Optional[float], elapsed: Optional[float], done: bool, upper_bound: bool,
                   lanes: list[tuple[str, int, int]], ascii_only: bool = False) -> list[Text]:
    """The lines of the training display, none wider than ``width`` cells.

    Line 1: runs done/total, a bar of epochs trained / epochs planned over all runs, the percentage,
    the epoch counts and the time left (``≤`` when early stopping may end runs sooner; ``saving``
    once every epoch is trained, until the runs' files are written; the elapsed time once ``done``).
    Then one line per group in training (``lanes``: title, epoch, epochs), three at most. The bar
    gives way first, then the epoch counts, when the width is short; layouts stop growing at 100.
    """
    width = max(min(int(width), 100), 1)  # wider terminals: the same layout, not a longer bar
    dot, le, more = (" - ", "<=", "...") if ascii_only else (" · ", "≤", "…")
    head = f"runs {runs_done:>{len(str(runs))}}/{runs} "  # padded: the bar does not jump as counts grow
    total = total or 0
    frac = min(completed / total, 1.0) if total > 0 else (1.0 if done else 0.0)
    pct = f" {frac * 100:3.0f}%"
    counts = f"{dot}epochs {completed:>{len(str(total))}}/{total}" if total else ""
    ahead = f"{dot}ETA {le if upper_bound else ''}{_clock(eta)}"
    if done:
        when = f"{dot}{_clock(elapsed)}"
    elif total and completed >= total:  # trained: the last summaries, plots, probes are being written
        when = f"{dot}saving"
    else:
        when = ahead
    when = when.ljust(len(ahead))  # one width for all three: the bar keeps its length
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(head, style="bold")
    for tail in (counts + when, when):
        bar_width = min(40, width - len(head) - len(pct) - len(tail))
        if bar_width >= 8:
            filled = int(bar_width * frac)
            cell, back = ("=", "-") if ascii_only else ("━", "─")  # told apart without colour too
            line.append(cell * filled, style="green" if done else "bar.complete")
            line.append(back * (bar_width - filled), style="bar.back")
            line.append(pct + tail)
            break
    else:
        line.append(pct.lstrip() + tail)
    lines = [line]
    for title, epoch, epochs in lanes[:3]:
        suffix = f"  epoch {epoch}/{epochs}"
        room = width - 2 - len(suffix)
        name = Text("  " + title)
        if room < 8:  # too narrow for a name: the epoch alone
            name = Text("  ")
        else:
            name.truncate(room + 2, overflow="ellipsis", pad=True)
        lane = Text(no_wrap=True, overflow="ellipsis")
        lane.append_text(name)
        lane.append(suffix, style="cyan")
        lines.append(lane)
    if len(lanes) > 3:
        lines.append(Text(f"  {more} and {len(lanes) - 3} more training", no_wrap=True, overflow="ellipsis"))
    for text in lines:
        text.truncate(width, overflow="ellipsis")
    return lines


class _ProgressFrame:
    """One frame of ``TrainingProgress``, laid out for the width the console gives it."""

    def __init__(self, overall: Optional[dict], lanes: list[tuple[str, int, int]]) -> None:
        self.overall, self.lanes = overall, lanes

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.overall is None or self.overall["total"] is None:  # before runner.Progress.start
            return
        yield from progress_lines(options.max_width, lanes=self.lanes, ascii_only=options.ascii_only, **self.overall)


class TrainingProgress(Progress):
    """A rich ``Progress`` drawn as a couple of lines that fit the terminal (``progress_lines``):
    runs done / total, epochs over all runs, ETA, then the groups training now.

    Task 0 is the overall count (fields: runs_done, runs, upper_bound, done); every other task is
    a group in training (description: its title; completed / total: its epoch / epochs). Rich's
    lock makes ``add_task``, ``update`` and ``remove_task`` safe from any thread.
    """

    def __init__(self, console: Console, speed_estimate_period: float = 60.0) -> None:
        super().__init__(console=console, refresh_per_second=4, speed_estimate_period=speed_estimate_period,
                         redirect_stdout=console.is_terminal and sys.stdout.isatty(), transient=False)
        self.overall = self.add_task("runs", total=None, runs_done=0, runs=0, upper_bound=False, done=False)

    def get_renderables(self) -> Iterable[RenderableType]:
        with self._lock:
            tasks = list(self._tasks.values())
            head = next((t for t in tasks if t.id == self.overall), None)
            overall = None
            if head is not None:
                remaining = None if head.total is None else max(head.total - head.completed, 0)
                speed = head.speed
                if not speed and head.completed and head.elapsed:
                    speed = head.completed / head.elapsed  # no recent samples: the average so far
                f = head.fields
                overall = {"runs_done": f["runs_done"], "runs": f["runs"], "completed": int(head.completed),
                           "total": None if head.total is None else int(head.total),
                           "eta": remaining / speed if speed and remaining is not None else None,
                           "elapsed": head.elapsed, "done": f["done"], "upper_bound": f["upper_bound"]}
            lanes = [(t.description, int(t.completed), int(t.total or 0)) for t in tasks if t.id != self.overall]
        yield _ProgressFrame(overall, lanes)
