"""What dlexp prints on the terminal at the end of a run: a rich table, or plain text when piped."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table


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
