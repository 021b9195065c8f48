"""Evaluate the notebook's claims (src/dlexp/notebook/exercises/*.yaml) on the runs of a reproduction folder.

Everything is read from folders, so re-evaluating after adding seeds needs no state but the
files. A claim compares two configurations of a preset (paired by seed; ``b`` may list several,
then ``a`` must beat each), or one configuration / analysis metric with a threshold. It is
judged under the notebook's setting and under each variation it lists (the preset rerun with
other settings, in ``<preset>__<variation>/``). All claims of a report are judged together
(report/stats.py: exact sign-flip tests, Holm's correction); accuracy claims the data set's
Bayes ceiling cannot decide are ``undecidable here`` (notebook/ceilings.py); explain.py says
what caused collapses and flipped verdicts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pandas as pd

from dlexp.report import stats
from dlexp.report.compare import run_folders
from dlexp.notebook import explain
from dlexp.notebook.ceilings import RESOLUTION_SDS, Ceilings, undecidable_reason
from dlexp.notebook.exercises import Exercise, variation_folder
from dlexp.notebook.metrics import ACCURACIES, CENSORED, DETERMINISTIC, RunRecord, measure

NOTEBOOK = "notebook"  # the setting column of claims judged as the notebook ran them
CLAIM_COLUMNS = ["exercise", "claim_id", "setting", "claim", "check", "metric", "n_seeds", "mean", "ci_low",
                 "ci_high", "p_value", "p_holm", "holm_threshold", "ceiling", "verdict", "values", "note"]
# What the reports show beside claims.csv's columns (not written to claims.csv, whose columns are fixed):
# quantity: what mean and CI are of ("deep.test_accuracy − shallow.test_accuracy" or "deep.test_accuracy");
# claimed: the side of the threshold the claim puts it on ("> 0"); reason: why the verdict, with the note;
# cause: what the runs show caused a collapse or a verdict that changes under a variation.
DETAIL_COLUMNS = ["quantity", "claimed", "reason", "cause"]


@dataclass
class Part:
    """One test of a claim: a against one b (or a against the threshold)."""

    estimate: stats.Estimate
    threshold: float
    per_seed: dict
    quantity: str
    undecidable: str = ""
    judgement: Optional[stats.Judgement] = None


@dataclass
class Measured:
    exercise: str
    claim: dict
    setting: str
    parts: list[Part]
    deterministic: bool
    runs: dict = field(default_factory=dict)
    note: str = ""
    ceiling: Optional[float] = None
    chance: Optional[float] = None  # the majority class's share of the test split, when known
    learnable: bool = False  # the test split's Bayes ceiling is clearly above chance


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


def _bs(claim: dict) -> list[str]:
    b = claim.get("b")
    return [] if b is None else [b] if isinstance(b, str) else list(b)


def check_text(claim: dict) -> str:
    left = f"{claim['a']}.{claim['metric']}" if "a" in claim else claim["metric"]
    if "b" in claim:
        margin = claim.get("margin", 0)
        bs = _bs(claim)
        b = bs[0] if len(bs) == 1 else "each of {" + ", ".join(bs) + "}"
        right = f"{b}.{claim['metric']}" + (f" {'+' if margin >= 0 else '-'} {abs(margin)}" if margin else "")
    else:
        right = f"{claim['value']}"
    return f"{left} {claim['op']} {right}"


def quantity_text(claim: dict, b: Optional[str] = None) -> str:
    """What is measured on each seed, whose mean and CI the reports show: a − b for two configurations."""
    left = f"{claim['a']}.{claim['metric']}" if "a" in claim else claim["metric"]
    return f"{left} − {b}.{claim['metric']}" if b else left


def claimed_text(claim: dict) -> str:
    """The side of the threshold the claim puts ``quantity_text`` on: "> 0", "< 1e-06", "> -0.01"."""
    return f"{claim['op']} {stats.short_number(float(claim.get('margin', 0) if 'b' in claim else claim['value']))}"


def measure_claim(ex_dir: Path, exercise: str, claim: dict, setting: str, runs: Optional[dict],
                  ceilings: Ceilings) -> Measured:
    """The per-seed values of a claim under one setting, its tests (not yet judged) and notes."""
    metric = claim["metric"]
    # Analyses compute functions and numpy simulations, not trained networks: decided by the values themselves.
    deterministic = metric in DETERMINISTIC or "analysis" in claim or bool(claim.get("deterministic", False))
    if "analysis" in claim:
        a_vals = analysis_values(ex_dir, metric)
        est = stats.mean_ci(list(a_vals.values()), deterministic=deterministic)
        part = Part(est, float(claim["value"]), {str(s): v for s, v in sorted(a_vals.items())}, quantity_text(claim))
        return Measured(exercise, claim, setting, [part], deterministic)
    runs = runs or {}
    values = {v: {s: measure(r, metric) for (vv, s), r in runs.items() if vv == v} for v in [claim["a"], *_bs(claim)]}
    notes = _notes(claim, runs)
    ceiling = _ceiling(claim, runs, ceilings)
    a_vals, parts = values[claim["a"]], []
    accuracy = metric in ACCURACIES
    for b in _bs(claim):
        est, seeds = stats.paired_difference(a_vals, values[b], deterministic=deterministic)
        per_seed = {str(s): {"a": a_vals[s], "b": values[b][s], "diff": a_vals[s] - values[b][s]} for s in seeds}
        why = (undecidable_reason(accuracy, claim["op"], None, _finite(a_vals), _finite(values[b]), ceiling)
               or ("" if deterministic else _identical(claim["a"], b, runs, notes)))
        parts.append(Part(est, float(claim.get("margin", 0.0)), per_seed, quantity_text(claim, b), why))
    if not _bs(claim):
        est = stats.mean_ci(list(a_vals.values()), deterministic=deterministic)
        why = undecidable_reason(accuracy, claim["op"], float(claim["value"]), _finite(a_vals), None, ceiling)
        parts.append(Part(est, float(claim["value"]), {str(s): v for s, v in sorted(a_vals.items())},
                          quantity_text(claim), why))
    if all(p.estimate.n == 0 for p in parts):
        notes.append(stats.NO_RUNS)
    return Measured(exercise, claim, setting, parts, deterministic, runs, "; ".join(notes),
                    ceiling.accuracy if ceiling and accuracy else None, ceiling.chance if ceiling else None,
                    bool(ceiling and ceiling.headroom >= RESOLUTION_SDS * ceiling.sd))


def _identical(a: str, b: str, runs: dict, notes: list[str]) -> str:
    """Why a comparison is undecidable when a and b trained identically (the same loss at every epoch):
    the setting that tells them apart never acted (clipping that never binds). Some seeds only: a note."""
    seeds = sorted({s for (v, s) in runs if v == a} & {s for (v, s) in runs if v == b})
    same = [s for s in seeds if _same_history(runs[(a, s)], runs[(b, s)])]
    if same and len(same) == len(seeds):
        return (f"{a} and {b} trained identically in every seed (the same training loss at every epoch): "
                "what differs between them never acted, so this setting cannot show its effect")
    if same:
        notes.append(f"{a} and {b} trained identically in seed {', '.join(map(str, same))}")
    return ""


def _same_history(r1: RunRecord, r2: RunRecord) -> bool:
    h1, h2 = r1.history, r2.history
    return (not h1.empty and "loss" in h1 and "loss" in h2 and len(h1) == len(h2)
            and bool((h1["loss"].to_numpy() == h2["loss"].to_numpy()).all()))


def _finite(values: dict) -> list[float]:
    return [v for v in values.values() if v is not None and math.isfinite(v)]


def _ceiling(claim: dict, runs: dict, ceilings: Ceilings):
    """The Bayes ceiling of the claim's configurations' test split (one split for all seeds)."""
    for (variant, _), record in sorted(runs.items()):
        if variant in (claim["a"], *_bs(claim)):
            return ceilings.of_run(record)
    return None


def _notes(claim: dict, runs: dict) -> list[str]:
    involved = {(v, s): r for (v, s), r in runs.items() if v in (claim.get("a"), *_bs(claim))}
    notes = []
    not_finished = sorted(f"{v}/seed{s}" for (v, s), r in involved.items() if r.summary.get("status") != "completed")
    if not_finished:
        notes.append("not completed (excluded or diverged): " + ", ".join(not_finished))
    reached = CENSORED.get(claim["metric"])
    if reached:
        censored = sorted(f"{v}/seed{s}" for (v, s), r in involved.items() if not reached(r))
        if censored:
            budget = max(r.epoch_budget for r in involved.values())
            notes.append(f"never reached the target (censored, counted as epoch budget + 1 = {budget + 1}): "
                         + ", ".join(censored))
    return notes


def _combine(m: Measured) -> tuple[str, str, Part]:
    """A claim's verdict from its parts: supported only if every part is; contradicted if any is."""
    verdicts = [p.judgement.verdict for p in m.parts]
    for verdict in (stats.CONTRADICTED, stats.UNDECIDABLE, stats.INCONCLUSIVE):
        if verdict in verdicts:
            part = m.parts[verdicts.index(verdict)]
            break
    else:
        verdict, part = stats.SUPPORTED, max(m.parts, key=lambda p: p.judgement.p or 0.0)
    reason = part.judgement.reason
    if len(m.parts) > 1:
        reason = f"weakest comparison {part.quantity}: {reason}"
    return verdict, reason, part


def _row(m: Measured, cause: str) -> dict:
    verdict, reason, part = _combine(m)
    e, j = part.estimate, part.judgement
    return {"exercise": m.exercise, "claim_id": m.claim["id"], "setting": m.setting, "claim": m.claim["claim"],
            "check": check_text(m.claim), "metric": m.claim["metric"], "n_seeds": e.n, "mean": e.mean,
            "ci_low": e.ci_low, "ci_high": e.ci_high, "p_value": j.p, "p_holm": j.p_adjusted,
            "holm_threshold": j.threshold, "ceiling": m.ceiling, "verdict": verdict,
            "values": json.dumps({p.quantity: p.per_seed for p in m.parts} if len(m.parts) > 1 else part.per_seed),
            "note": m.note, "quantity": part.quantity, "claimed": claimed_text(m.claim),
            "reason": "; ".join(dict.fromkeys(x for x in [reason, *m.note.split("; ")] if x)), "cause": cause}


def _judge(measured: list[Measured]) -> None:
    """Judge every part of every claim of one family together (Holm over the family)."""
    parts = [p for m in measured for p in m.parts]
    deterministic = [m.deterministic for m in measured for _ in m.parts]
    comparisons = [stats.Comparison(p.estimate, m.claim["op"], p.threshold, d, p.undecidable or None)
                   for (p, d, m) in zip(parts, deterministic, [m for m in measured for _ in m.parts])]
    for part, judgement in zip(parts, stats.judge_all(comparisons)):
        part.judgement = judgement


def evaluate(out_dir: Path, exercises: list[Exercise]) -> pd.DataFrame:
    """All claims of ``exercises`` that have results in ``out_dir``: the claims.csv table (CLAIM_COLUMNS)
    followed by DETAIL_COLUMNS for the reports; write ``frame[CLAIM_COLUMNS]`` as claims.csv.

    Two families for Holm's correction: the claims under the notebook's setting, and the same
    claims under variations (a sensitivity analysis, corrected among themselves)."""
    out_dir, ceilings = Path(out_dir), Ceilings()
    primary: list[Measured] = []
    varied: dict[int, list[Measured]] = {}
    for ex in exercises:
        ex_dir = out_dir / ex.name
        if not ex_dir.exists():
            continue
        cache: dict[str, dict] = {}

        def runs_of(folder: str) -> dict:
            if folder not in cache:
                cache[folder] = index_runs(ex_dir / folder) if (ex_dir / folder).exists() else {}
            return cache[folder]

        for claim in ex.claims:
            preset = claim.get("preset")
            primary.append(measure_claim(ex_dir, ex.name, claim, NOTEBOOK, runs_of(preset) if preset else None, ceilings))
            for name in claim.get("variations") or ():
                runs = runs_of(variation_folder(preset, name)) if preset else {}
                if runs:
                    varied.setdefault(len(primary) - 1, []).append(
                        measure_claim(ex_dir, ex.name, claim, name, runs, ceilings))
    _judge(primary)
    _judge([m for ms in varied.values() for m in ms])
    by_name = {ex.name: ex for ex in exercises}
    rows = []
    for i, m in enumerate(primary):
        rows.append(_row(m, ""))
        base = rows[-1]
        others = [_row(v, "") for v in varied.get(i, [])]
        base["cause"] = explain.cause(m, base, [(by_name[m.exercise].variations[v.setting], v, r)
                                                 for v, r in zip(varied.get(i, []), others)])
        rows += others
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS + DETAIL_COLUMNS)
