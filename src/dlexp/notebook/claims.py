"""Evaluate the notebook's claims (src/dlexp/notebook/exercises/*.yaml) on the runs of a reproduction folder.

Everything is read from folders, so re-evaluating after adding seeds needs no
state but the files. A claim either compares two configurations of a preset
(paired by seed) or one configuration / analysis metric with a threshold.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from dlexp.report import stats
from dlexp.report.compare import run_folders
from dlexp.notebook.exercises import Exercise
from dlexp.notebook.metrics import DETERMINISTIC, RunRecord, measure

CLAIM_COLUMNS = ["exercise", "claim_id", "claim", "check", "metric", "n_seeds", "mean", "ci_low", "ci_high",
                 "verdict", "values", "note"]
# What the reports show beside claims.csv's columns (not written to claims.csv, whose columns are fixed):
# quantity: what mean and CI are of ("deep.test_accuracy − shallow.test_accuracy" or "deep.test_accuracy");
# claimed: the side of the threshold the claim puts it on ("> 0"); reason: why the verdict, with the note.
DETAIL_COLUMNS = ["quantity", "claimed", "reason"]


@dataclass
class ClaimResult:
    exercise: str
    claim_id: str
    claim: str
    check: str
    metric: str
    estimate: stats.Estimate
    verdict: str
    per_seed: dict
    note: str = ""
    quantity: str = ""
    claimed: str = ""
    reason: str = ""

    def row(self) -> dict:
        """The claims.csv row (CLAIM_COLUMNS)."""
        e = self.estimate
        return {"exercise": self.exercise, "claim_id": self.claim_id, "claim": self.claim, "check": self.check,
                "metric": self.metric, "n_seeds": e.n, "mean": e.mean, "ci_low": e.ci_low, "ci_high": e.ci_high,
                "verdict": self.verdict, "values": json.dumps(self.per_seed), "note": self.note}

    def details(self) -> dict:
        """DETAIL_COLUMNS: ``reason`` is the verdict's reason followed by the note, without repeating it."""
        parts = [self.reason, *self.note.split("; ")]
        return {"quantity": self.quantity, "claimed": self.claimed,
                "reason": "; ".join(dict.fromkeys(p for p in parts if p))}


def index_runs(preset_dir: Path) -> dict[tuple[str, int], RunRecord]:
    """(variant, seed) -> the run's record, for every run folder under a preset's folder."""
    out = {}
    for folder in run_folders(preset_dir):
        rec = RunRecord.load(folder)
        out[(str(rec.summary.get("variant")), int(rec.summary.get("seed")))] = rec
    return out


def analysis_values(exercise_dir: Path, metric: str) -> dict[int, float]:
    out = {}
    for path in sorted((exercise_dir / "analysis").glob("seed*/metrics.json")):
        seed = int(path.parent.name[4:])
        value = json.loads(path.read_text()).get(metric)
        out[seed] = math.nan if value is None else float(value)
    return out


def check_text(claim: dict) -> str:
    left = f"{claim['a']}.{claim['metric']}" if "a" in claim else claim["metric"]
    if "b" in claim:
        margin = claim.get("margin", 0)
        right = f"{claim['b']}.{claim['metric']}" + (f" {'+' if margin >= 0 else '-'} {abs(margin)}" if margin else "")
    else:
        right = f"{claim['value']}"
    return f"{left} {claim['op']} {right}"


def quantity_text(claim: dict) -> str:
    """What is measured on each seed, whose mean and CI the reports show: a − b for two configurations."""
    left = f"{claim['a']}.{claim['metric']}" if "a" in claim else claim["metric"]
    return f"{left} − {claim['b']}.{claim['metric']}" if "b" in claim else left


def claimed_text(claim: dict) -> str:
    """The side of the threshold the claim puts ``quantity_text`` on: "> 0", "< 1e-06", "> -0.01"."""
    return f"{claim['op']} {stats.short_number(float(claim.get('margin', 0) if 'b' in claim else claim['value']))}"


def evaluate_claim(out_dir: Path, exercise: str, claim: dict,
                   runs: Optional[dict[tuple[str, int], RunRecord]] = None) -> ClaimResult:
    metric, op = claim["metric"], claim["op"]
    ex_dir = Path(out_dir) / exercise
    deterministic = metric in DETERMINISTIC or claim.get("deterministic", False)
    note = ""
    if "analysis" in claim:
        a_vals = analysis_values(ex_dir, metric)
        b_vals = None
    else:
        runs = runs if runs is not None else index_runs(ex_dir / claim["preset"])
        a_vals = {s: measure(r, metric) for (v, s), r in runs.items() if v == claim["a"]}
        b_vals = {s: measure(r, metric) for (v, s), r in runs.items() if v == claim["b"]} if "b" in claim else None
        not_finished = sorted(f"{v}/seed{s}" for (v, s), r in runs.items()
                              if v in (claim.get("a"), claim.get("b")) and r.summary.get("status") != "completed")
        if not_finished:
            note = "not completed (excluded or diverged): " + ", ".join(not_finished)
    if b_vals is not None:
        est, seeds = stats.paired_difference(a_vals, b_vals, deterministic=deterministic)
        threshold = float(claim.get("margin", 0.0))
        per_seed = {str(s): {"a": a_vals[s], "b": b_vals[s], "diff": a_vals[s] - b_vals[s]} for s in seeds}
    else:
        est = stats.mean_ci(list(a_vals.values()), deterministic=deterministic)
        threshold = float(claim["value"])
        per_seed = {str(s): v for s, v in sorted(a_vals.items())}
    if est.n == 0:
        note = (note + "; " if note else "") + stats.NO_RUNS
    elif est.n == 1 and not deterministic:
        note = (note + "; " if note else "") + stats.ONE_SEED
    return ClaimResult(exercise, claim["id"], claim["claim"], check_text(claim), metric, est,
                       stats.verdict(est, op, threshold), per_seed, note, quantity_text(claim), claimed_text(claim),
                       stats.verdict_reason(est, op, threshold))


def evaluate(out_dir: Path, exercises: list[Exercise]) -> pd.DataFrame:
    """All claims of ``exercises`` that have results in ``out_dir``: the claims.csv table (CLAIM_COLUMNS)
    followed by DETAIL_COLUMNS for the reports; write ``frame[CLAIM_COLUMNS]`` as claims.csv."""
    rows = []
    for ex in exercises:
        if not (Path(out_dir) / ex.name).exists():
            continue
        cache: dict[str, dict] = {}
        for claim in ex.claims:
            runs = None
            if "preset" in claim:
                runs = cache.setdefault(claim["preset"], index_runs(Path(out_dir) / ex.name / claim["preset"]))
            result = evaluate_claim(out_dir, ex.name, claim, runs)
            rows.append({**result.row(), **result.details()})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS + DETAIL_COLUMNS)
