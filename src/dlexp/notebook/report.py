"""``dlexp report DIR`` and the reproduction report: folders in, tables, verdicts and documents out.

Everything is recomputed from the run folders (summary.json, metrics.csv,
layer_stats.csv, ...), so a report can be rebuilt at any time, e.g. after a
reproduction was extended with more seeds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import pandas as pd

from dlexp import artifacts
from dlexp.report import stats
from dlexp.report.compare import results_frame, run_folders, write_comparison
from dlexp.report.document import Code, Heading, Image, Para, Table, format_value, to_html, to_markdown
from dlexp.errors import ConfigError
from dlexp.notebook.exercises import Exercise, load

METHOD = """Each claim the notebook makes is turned into a check on a measured quantity (the `quantity` \
column) and the side of a threshold it should lie on (the `claimed` column). \
Every configuration was trained once per seed; seeds change the weight initialization, dropout masks \
and data shuffling, never the data set. dlexp draws a new batch order every epoch; the notebook's \
`fit(shuffle=True)` after `tf.random.set_seed` repeats one order every epoch in Keras 3.15, which changes \
loss curves (`--set trainer.reshuffle=false` trains the notebook's way). For a claim comparing two configurations a and b the quantity \
is, for each seed, the difference a − b of the metric (a paired comparison: both were trained with the \
same seed); for a claim about one configuration it is the metric itself. `mean of quantity` is its mean over the \
`seeds` seeds and `95% CI` a paired bootstrap percentile interval (10,000 resamples, fixed random seed), \
which stays within the per-seed values, so an accuracy's interval stays in [0, 1]; with few seeds it \
is too narrow, so it describes the spread and the test decides. \
**Test:** the exact sign-flip permutation test of the mean (all 2^n sign patterns of n seeds, up to 32 \
seeds; beyond, 100,000 random ones; no normal distribution assumed): `p` is the one-sided p-value of the side the data favour. No p is below 2^-n \
(5 seeds: 0.031). **Many claims at once:** Holm's step-down correction over every tested claim keeps the \
chance of any false verdict among them at 0.05; the `reason` gives each claim's p and the Holm threshold \
it had to meet, and how many seeds could meet it. Claims under variations are a second family. \
**Verdicts:** *supported* / *contradicted* when the corrected p of the claimed / the opposite side is \
<= 0.05; *inconclusive* otherwise (not false: these runs cannot tell); a value that cannot vary with the \
seed (a parameter count, a function value, a no-training simulation) is decided by the value itself, \
at any number of seeds. *Undecidable here*: the data cannot pass or fail the claim: `ceiling` is the \
Bayes-optimal accuracy of the test split (computed exactly from the generator's noise), and when it \
is barely above chance, below the claim's threshold, or every run already sits at it, no network can \
decide an accuracy claim. **Variations** rerun a preset with one setting changed (early stopping off, \
a less noisy data set) and judge the claim again; `cause` says, from the runs, what made a verdict \
(early stopping that kept an early epoch, seeds that collapsed to chance) and what changes under each \
variation."""

# The claims as the reports show them: claims.csv's columns renamed, plus claims.DETAIL_COLUMNS.
CLAIM_VIEW = {"claim": "claim", "setting": "setting", "quantity": "quantity", "claimed": "claimed", "n_seeds": "seeds",
              "mean": "mean of quantity", "95% CI": "95% CI", "ceiling": "ceiling", "verdict": "verdict",
              "reason": "reason", "cause": "cause"}


def _fmt_ci(row) -> str:
    if any(isinstance(row[k], float) and math.isnan(row[k]) for k in ("ci_low", "ci_high")):
        return "-"
    return f"[{stats.short_number(row['ci_low'])}, {stats.short_number(row['ci_high'])}]"


def claims_view(claims: pd.DataFrame, exercise: bool = False) -> pd.DataFrame:
    """The claims table of the reports. ``exercise``: the overview, with the exercise column, the
    notebook's setting only and each variation's verdict in one column; else every setting's row."""
    view = claims.assign(**{"95% CI": claims.apply(_fmt_ci, axis=1) if len(claims) else []})
    if "setting" not in view:
        view = view.assign(setting="notebook", cause="", ceiling=None)
    cols = list(CLAIM_VIEW)
    if exercise:
        others = view[view["setting"] != "notebook"]
        varied = {cid: "; ".join(f"{r.setting}: {r.verdict}" for r in g.itertuples()) for cid, g in others.groupby("claim_id")}
        view = view[view["setting"] == "notebook"].assign(
            **{"under variations": lambda v: [varied.get(c, "") for c in v["claim_id"]]})
        cols = ["exercise"] + [c for c in cols if c not in ("setting", "cause")] + ["under variations"]
    return view[cols].rename(columns=CLAIM_VIEW)


def variant_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per variant: finished runs, mean test accuracy with its 95% CI, parameters, epochs."""
    rows = []
    for variant, g in frame.groupby("variant", sort=False):
        acc = stats.mean_ci(g.loc[g["status"].isin(["completed", "diverged"]), "test_accuracy"].astype(float))
        statuses = ", ".join(f"{k} {v}" for k, v in g["status"].value_counts().items())
        rows.append({"variant": variant, "runs": statuses, "test_accuracy": acc.mean,
                     "95% CI": "-" if math.isnan(acc.ci_low) else f"[{acc.ci_low:.3f}, {acc.ci_high:.3f}]",
                     "params": int(g["param_count"].dropna().iloc[0]) if g["param_count"].notna().any() else None,
                     "epochs_run": float(g["epochs_run"].mean())})
    return pd.DataFrame(rows)


def _layers(hidden: list) -> str:
    """Hidden layer widths: "100-100-100", or "50 × 32" for many layers of one width."""
    if len(hidden) > 5 and len(set(hidden)) == 1:
        return f"{len(hidden)} × {hidden[0]}"
    return "-".join(map(str, hidden))


def settings_table(preset_dir: Path) -> pd.DataFrame:
    """What each variant ran with, from the first seed's config.yaml."""
    rows, seen = [], set()
    for folder in run_folders(preset_dir):
        cfg_path = folder / artifacts.CONFIG
        if not cfg_path.exists():
            continue
        c = artifacts.read_yaml(cfg_path)
        if c.get("variant") in seen:
            continue
        seen.add(c.get("variant"))
        t, m = c["trainer"], c["model"]
        es = t["early_stopping"]
        rows.append({
            "variant": c.get("variant"), "dataset": c["dataset"]["name"],
            "hidden": ("residual " if m["kind"] == "residual" else "") + _layers(m["hidden"]),
            "activation": c["activation"]["name"], "init": c["initializer"]["name"],
            "norm": c["normalization"]["kind"] + ("" if c["normalization"]["kind"] == "none" else f" ({c['normalization']['placement']})"),
            "dropout": str(m["dropout"]), "clipping": c["clipping"]["kind"] + ("" if c["clipping"]["kind"] == "none" else f" {c['clipping']['value']}"),
            "optimizer": f"{c['optimizer']['name']} lr={c['optimizer']['learning_rate']}",
            "epochs": t["epochs"], "batch": t["batch_size"], "val split": str(t["validation_split"]),
            "early stop": f"patience {es['patience']}" if es["enabled"] else "no",
        })
    return pd.DataFrame(rows)


def _claims_blocks(claims: pd.DataFrame) -> list:
    if claims.empty:
        return []
    return [Heading("Claims: the notebook vs the measurements", 3), Table(claims_view(claims))]


def exercise_blocks(out: Path, ex: Exercise, claims: pd.DataFrame, seeds: list[int],
                    figures: Optional[list] = None) -> list:
    """The report section of one exercise; ``figures``: its figures if already drawn (else drawn here)."""
    from dlexp.notebook.figures import exercise_figures

    ex_dir = out / ex.name
    blocks: list = [Heading(ex.title, 2), Para(f"Notebook: {ex.notebook}.")]
    analysis_plots = sorted((ex_dir / "analysis" / "plots").glob("*.png"))
    if analysis_plots:
        blocks.append(Para("Computed without training (numpy), as in the notebook; the simulation is repeated "
                           f"for seeds {', '.join(map(str, seeds))}."))
        blocks += [Image(p, p.stem.replace("_", " ")) for p in analysis_plots]
        blocks += _analysis_tables(ex_dir)
    for preset in ex.presets:
        preset_dir = ex_dir / preset
        if not preset_dir.exists():
            continue
        seeds_arg = f" seeds=[{','.join(map(str, seeds))}]" if len(seeds) > 1 else ""
        blocks += [Heading(f"Preset `{preset}`", 3), Para("Rerun with:"), Code(f"dlexp train +exp={preset}{seeds_arg}")]
        settings = settings_table(preset_dir)
        if not settings.empty:
            blocks += [Para("Settings:"), Table(settings)]
        frame = results_frame(preset_dir)
        if not frame.empty:
            blocks += [Para("Results (test accuracy: mean over seeds, 95% CI):"), Table(variant_table(frame))]
        for name, caption in (("learning_curves", "learning curves, first seed of each variant (train solid, validation dashed)"),
                              ("decision_boundaries", "decision boundaries on the test points, first seed of each variant")):
            path = preset_dir / artifacts.PLOTS / f"{name}.png"
            if path.exists():
                blocks.append(Image(path, f"{preset}: {caption}"))
    for path, caption in exercise_figures(ex, ex_dir) if figures is None else figures:
        blocks.append(Image(path, caption))
    blocks += _claims_blocks(claims[claims["exercise"] == ex.name] if not claims.empty else claims)
    return blocks


def _analysis_tables(ex_dir: Path) -> list:
    first = sorted((ex_dir / "analysis").glob("seed*"))
    if not first:
        return []
    blocks = []
    for csv_path in sorted(first[0].glob("*.csv")):
        frame = pd.read_csv(csv_path)
        if len(frame) <= 30:
            frame, same = _fold_constant_columns(frame)
            where = first[0].name + ("; in every row: " + ", ".join(f"`{c}` = {format_value(v, 4)}"
                                                                    for c, v in same.items()) if same else "")
            blocks += [Para(f"{csv_path.stem.replace('_', ' ')} ({where}):"), Table(frame, digits=4)]
    return blocks


def _fold_constant_columns(frame: pd.DataFrame, min_columns: int = 10) -> tuple[pd.DataFrame, dict]:
    """A wide table without its columns that hold one value in every row, and those values: a table of
    ``min_columns`` or more columns fits the page better without them (the first column always stays)."""
    if len(frame.columns) < min_columns or len(frame) < 2:
        return frame, {}
    same = {c: frame[c].iloc[0] for c in frame.columns[1:] if frame[c].nunique(dropna=False) == 1}
    return frame.drop(columns=list(same)), same


def rebuild_comparisons(out: Path, exercises: list[Exercise]) -> list[Path]:
    """Recreate each preset's results.csv and comparison plots from its run folders, where they are stale.

    A comparison is up to date when its summary.json records the fingerprint of the
    run files it was built from (``compare.inputs_fingerprint``: names, sizes and
    modification times) and those files still have it, and its files exist; e.g.
    the ones ``dlexp reproduce`` has just written. Returns the rebuilt preset folders.
    """
    from dlexp.report.compare import is_current

    rebuilt = []
    for ex in exercises:
        for preset_cfg in sorted((out / ex.name).glob(f"*/{artifacts.CONFIG}")):
            if is_current(preset_cfg.parent):
                continue
            cfg = artifacts.read_yaml(preset_cfg)
            runs = run_folders(preset_cfg.parent)
            if cfg and cfg.get("name") and runs and runs != [preset_cfg.parent]:  # not a single run's own folder
                write_comparison(cfg, None, preset_cfg.parent)  # jobs are not used: the folders say what ran
                rebuilt.append(preset_cfg.parent)
    return rebuilt


def write_reproduction_report(out: Path, figures: Optional[dict[str, list]] = None) -> dict:
    """claims.csv, report.md and report.html for a reproduction folder. Returns their paths.

    ``figures``: exercise name -> its figures, for exercises whose figures are already drawn.
    """
    from dlexp.notebook import claims as claims_mod

    out = Path(out)
    manifest = artifacts.read_json(out / "reproduction.json")
    exercises = [load(n) for n in manifest["exercises"]]
    rebuild_comparisons(out, exercises)
    claims = claims_mod.evaluate(out, exercises)
    artifacts.write_dataframe(out / "claims.csv", claims[claims_mod.CLAIM_COLUMNS])
    seeds = manifest.get("seeds") or []
    blocks: list = [Heading("dlexp reproduction: From shallow to deep networks", 1),
                    Para(f"Exercises: {', '.join(e.name for e in exercises)}. Seeds: {', '.join(map(str, seeds))}."
                         + (f" Epoch budget overridden to {manifest['epochs_override']} (a smoke run: numbers are not the notebook's)."
                            if manifest.get("epochs_override") else ""))]
    if not claims.empty:
        blocks += [Heading("Verdicts", 2), Para(verdict_counts(claims) + "."),
                   Table(claims_view(claims, exercise=True))]
    blocks += [Heading("Method", 2), Para(METHOD)]
    for ex in exercises:
        blocks += exercise_blocks(out, ex, claims, seeds, (figures or {}).get(ex.name))
    prov = manifest.get("provenance") or {}
    blocks += [Heading("Provenance", 2),
               Code(json.dumps({k: prov.get(k) for k in ("dlexp", "tensorflow", "keras", "python", "git_commit", "host", "platform", "cpus")}, indent=2))]
    artifacts.atomic_write_text(out / "report.md", to_markdown(blocks, out))
    artifacts.atomic_write_text(out / "report.html", to_html(blocks, "dlexp reproduction report"))
    return {"md": out / "report.md", "html": out / "report.html", "claims": out / "claims.csv"}


VERDICT_STYLE = {stats.SUPPORTED: "green", stats.CONTRADICTED: "red", stats.INCONCLUSIVE: "yellow",
                 stats.UNDECIDABLE: "blue"}


def _notebook_rows(claims: pd.DataFrame) -> pd.DataFrame:
    return claims[claims["setting"] == "notebook"] if "setting" in claims else claims


def verdict_counts(claims: pd.DataFrame) -> str:
    """The verdicts under the notebook's setting, counted."""
    main = _notebook_rows(claims)
    counts = main["verdict"].value_counts().to_dict()
    return ", ".join(f"{counts.get(v, 0)} {v}" for v in stats.VERDICTS) + f" (of {len(main)} claims)"


def print_verdicts(claims, console=None) -> None:
    """The verdict table on the terminal: claim id, mean, 95% CI, verdict (``claims``: the claims.csv
    frame or its path). Fits the console's width (80 columns when not a terminal, or $COLUMNS), in
    plain text when stdout is not a terminal."""
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    if not isinstance(claims, pd.DataFrame):
        claims = pd.read_csv(claims, keep_default_na=False, na_values=[""])
    console = console or Console()
    if claims.empty:
        console.print("No claims evaluated (no exercise of this reproduction has results).")
        return
    # A rule under the header and no other lines, no edges, two spaces between columns: the longest
    # claim id (32), a mean (8), a CI (21) and a verdict (12) fit 80 columns (rich folds what does not).
    table = RichTable(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True)
    table.add_column("claim", overflow="fold")
    table.add_column("mean", justify="right", no_wrap=True)
    table.add_column("95% CI", justify="right")
    table.add_column("verdict", no_wrap=True)
    for r in _notebook_rows(claims).itertuples(index=False):
        shown = "undecidable" if r.verdict == stats.UNDECIDABLE else str(r.verdict)  # 80 columns: the legend says "here"
        table.add_row(str(r.claim_id), format_value(r.mean), _fmt_ci(r._asdict()),
                      Text(shown, style=VERDICT_STYLE.get(r.verdict, "")))
    console.print(verdict_counts(claims))
    console.print(table)
    console.print("mean: over the seeds, of a − b for a claim comparing configurations a and b, else of the "
                  "metric; undecidable: undecidable here, on this data. report.md: the quantity, the test, the "
                  "reason, the cause and the verdicts under variations.")


def main(argv: list[str]) -> int:
    from dlexp.arguments import OneLineParser

    p = OneLineParser(
        allowed={"positional": "a run, sweep or reproduction folder: dlexp report DIR"},
        prog="dlexp report",
        description="Tables, plots and the report for a folder that dlexp wrote: a reproduction (dlexp reproduce "
                    "--out DIR: claims.csv, report.md, report.html, verdicts printed), or a run, preset or sweep "
                    "folder (results.csv, comparison plots, a table of every run).")
    p.add_argument("folder", help="e.g. outputs/reproduce, outputs/default/multirun/<stamp>, outputs/batch_norm/<stamp>")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        raise SystemExit(2 if exc.code else 0) from None
    folder = Path(args.folder)
    try:
        found = folder.is_dir()
    except OSError:  # a name longer than the file system allows
        found = False
    if not found:
        raise ConfigError("folder", args.folder, "an existing run, sweep or reproduction folder")
    _check_folder_files(folder, args.folder)
    if (folder / "reproduction.json").exists():
        paths = write_reproduction_report(folder)
        print_verdicts(paths["claims"])
        print(f"claims: {paths['claims']}\nreport: {paths['html']}")
        return 0
    from dlexp.report.sweep import write_sweep_report

    return write_sweep_report(folder)


def _check_folder_files(folder: Path, given: str) -> None:
    """The JSON files the report starts from are whole mappings, and there is something to report:
    otherwise one line naming the file (a cut-off or hand-edited one), not a traceback."""
    manifest = folder / "reproduction.json"
    paths = [manifest] if manifest.exists() else sorted(folder.rglob(artifacts.SUMMARY))
    if not paths:
        raise ConfigError("folder", given, "a folder dlexp wrote: runs with summary.json, or a reproduction "
                                           "with reproduction.json (found neither)")
    for path in paths:
        try:
            content = artifacts.read_json(path)
        except (OSError, UnicodeDecodeError, ValueError):
            content = None
        if not isinstance(content, dict):
            raise ConfigError(str(path), "unreadable JSON" if content is None else type(content).__name__,
                              f"a {path.name} as dlexp writes it (the run may have been cut off: run it again, "
                              "or remove its folder)")
