"""Sentences, generated from the runs, that say what caused a collapse or a verdict that changes.

A student reading "contradicted" needs the why: early stopping that fired before BatchNorm's
statistics settled, a seed stuck at chance, a verdict that flips once one setting changes.
Every number in these sentences is read from the run folders.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from dlexp.notebook.metrics import RunRecord, measure

COLLAPSE_MARGIN = 0.05  # within this of chance, a run learnt nothing usable


def _span(values: Iterable[int]) -> str:
    v = sorted(set(int(x) for x in values))
    return str(v[0]) if len(v) == 1 else f"{v[0]}-{v[-1]}"


def _configs(claim: dict) -> list[str]:
    b = claim.get("b")
    return [claim["a"], *([] if b is None else [b] if isinstance(b, str) else list(b))] if "a" in claim else []


def _of(runs: dict, variant: str) -> list[tuple[int, RunRecord]]:
    return sorted((s, r) for (v, s), r in runs.items() if v == variant)


def early_stopping(variant: str, records: list[tuple[int, RunRecord]]) -> str:
    """Which seeds early stopping ended, when, and whether validation accuracy was still rising."""
    stopped = []
    for seed, r in records:
        es = (r.config.get("trainer") or {}).get("early_stopping") or {}
        ran = r.summary.get("epochs_run")
        if es.get("enabled") and ran is not None and int(ran) < r.epoch_budget:
            stopped.append((seed, r, int(ran)))
    if not stopped:
        return ""
    r0 = stopped[0][1]
    text = (f"early stopping (patience {r0.config['trainer']['early_stopping'].get('patience')}) stopped {variant} "
            f"at epoch {_span(e for *_, e in stopped)} of {r0.epoch_budget} in {_seeds(stopped, len(records))}")
    best = [int(r.summary["best_epoch"]) for _, r, _ in stopped if r.summary.get("best_epoch")]
    if best and r0.config["trainer"]["early_stopping"].get("restore_best"):
        text += f", keeping the weights of epoch {_span(best)}"
    rising = [s for s, r, _ in stopped if _still_rising(r)]
    if rising:
        text += (" while validation accuracy was still rising" if len(rising) == len(stopped)
                 else f"; validation accuracy was still rising in seed {', '.join(map(str, rising))}")
    return text


def _still_rising(r: RunRecord) -> bool:
    """Validation accuracy at the end of the run above its value at the kept (best) epoch."""
    h = r.history
    if h.empty or "val_accuracy" not in h:
        return False
    acc = h["val_accuracy"].to_numpy()
    best = int(r.summary.get("best_epoch") or len(acc))
    return bool(acc[-1] > acc[min(best, len(acc)) - 1] + 0.02)


def collapses(variant: str, records: list[tuple[int, RunRecord]], chance: float) -> str:
    low = [(s, measure(r, "test_accuracy")) for s, r in records]
    low = [(s, a) for s, a in low if math.isfinite(a) and a <= chance + COLLAPSE_MARGIN]
    if not low:
        return ""
    return (f"{variant} ended at chance ({chance:.2f}) in {_seeds(low, len(records))} "
            f"(test accuracy {_span_f(a for _, a in low)})")


def _seeds(hits: list, n: int) -> str:
    if len(hits) == n:
        return f"all {n} seeds" if n > 1 else "its one seed"
    return f"{len(hits)} of {n} seeds ({', '.join(str(s) for s, *_ in hits)})"


def _span_f(values: Iterable[float]) -> str:
    v = sorted(values)
    return f"{v[0]:.3f}" if v[-1] - v[0] < 5e-4 else f"{v[0]:.3f}-{v[-1]:.3f}"


def clipping_acts(variant: str, records: list[tuple[int, RunRecord]]) -> str:
    """How often a clipped configuration's clipping changed the gradient (where the trainer measured it)."""
    kinds = {((r.config.get("clipping") or {}).get("kind")) for _, r in records}
    share = _mean(records, "clipped_share")
    if kinds & {None, "none"} or not math.isfinite(share):
        return ""
    return f"clipping changed {variant}'s gradient in {share:.1%} of its steps"


def _mean(records: list[tuple[int, RunRecord]], metric: str) -> float:
    vals = [measure(r, metric) for _, r in records]
    vals = [v for v in vals if math.isfinite(v)]
    return float(np.mean(vals)) if vals else math.nan


def under_variation(claim: dict, base_row: dict, variation, measured, row: dict) -> str:
    """What changes under a variation: each configuration's mean metric, and the verdict if it flips."""
    metric = claim["metric"]
    changes = []
    for variant in _configs(claim):
        before, after = _mean(_of(base_row.get("_runs", {}), variant), metric), _mean(_of(measured.runs, variant), metric)
        if math.isfinite(after):
            acts = clipping_acts(variant, _of(measured.runs, variant))
            changes.append(f"{variant} {_fmt(before)} -> {_fmt(after)}" + (f" ({acts})" if acts else ""))
    flip = row["verdict"] != base_row["verdict"]
    text = f"with {variation.what}: " + (", ".join(changes) if changes else "no runs")
    return text + (f"; the verdict becomes {row['verdict']}" if flip else f"; the verdict stays {row['verdict']}")


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3g}"


def cause(measured, row: dict, variations: list) -> str:
    """The cause sentence of one claim: collapses and early stopping in the notebook's setting, then
    what each variation changes. ``variations``: (Variation, its Measured, its row)."""
    claim, parts = measured.claim, []
    # Where the best possible classifier is barely above chance (the notebook's spiral), every run
    # "ends at chance" and saying so would blame the networks for the data.
    chance = measured.chance if measured.learnable else None
    for variant in _configs(claim):
        records = _of(measured.runs, variant)
        if chance is not None:
            parts.append(collapses(variant, records, chance))
        parts.append(early_stopping(variant, records))
        parts.append(clipping_acts(variant, records))
    row = {**row, "_runs": measured.runs}
    parts += [under_variation(claim, row, var, m, r) for var, m, r in variations]
    return "; ".join(p for p in parts if p)
