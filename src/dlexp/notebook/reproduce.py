"""``dlexp reproduce``: run the notebook's exercises over several seeds and write the report.

Layout of the output folder (default ``outputs/reproduce``)::

    reproduction.json              what was asked (exercises, seeds, overrides)
    claims.csv, report.md, report.html
    <exercise>/analysis/seed<k>/   the no-training exercises (tables, metrics.json)
    <exercise>/<preset>/runs/<variant>/seed<k>/   one complete run folder per run

Re-running the same command skips every run whose summary says it finished
with the same settings, so an interrupted reproduction continues where it
stopped and ``--seeds 10`` after ``--seeds 5`` only trains the new seeds.
A lock file keeps two reproductions from writing the same folder.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from dlexp import artifacts
from dlexp.run import startup
from dlexp.errors import ConfigError, DlexpError
from dlexp.notebook.exercises import Exercise, load, names, variation_folder

MANIFEST = "reproduction.json"
FIRST_SEED = 42  # the notebook's seed; seed k of N is 42 + k


MAX_SEEDS = 1000  # beyond this, planning alone takes minutes; split the work instead
MAX_EPOCHS = 100_000
# Keys --set may not change: each preset's folder (name, output_root), its runs (seeds, exp).
RESERVED_SET = ("seeds", "name", "output_root", "exp")


def parse_args(argv: list[str]) -> argparse.Namespace:
    from dlexp.arguments import OneLineParser

    p = OneLineParser(prog="dlexp reproduce", description="Run the notebook's exercises and write a report.",
                      allowed={"--seeds": f"an integer from 1 to {MAX_SEEDS}", "--epochs": f"an integer from 1 to {MAX_EPOCHS}",
                               "--out": "a folder path (new or a reproduction folder)", "--mnist": "an MNIST .npz file",
                               "--set": "KEY=VALUE, a config override for every preset"})
    p.add_argument("exercises", nargs="*", help="exercise names (default: all); see `dlexp list`")
    p.add_argument("--seeds", type=int, default=10, help="seeds per configuration (default 10: with fewer, the exact tests cannot decide a claim after Holm's correction)")
    p.add_argument("--out", default="outputs/reproduce", help="output folder (default outputs/reproduce)")
    p.add_argument("--epochs", type=int, default=None, help="override every preset's epochs (a smoke budget)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override applied to every preset (repeatable)")
    p.add_argument("--mnist", default=None, metavar="NPZ", help="also run real_dataset on this MNIST .npz")
    p.add_argument("--progress", default="auto", choices=["auto", "rich", "plain", "none"])
    p.add_argument("--no-report", action="store_true", help="train only; `dlexp report DIR` writes it later")
    p.add_argument("--diagnostics", action="store_true",
                   help="per-layer stats (dead units, gradient norms) for every exercise, not only those whose report uses them")
    p.add_argument("--no-variations", action="store_true",
                   help="skip the claims' variations (presets rerun with one setting changed, e.g. early stopping off)")
    p.add_argument("--run-plots", action="store_true",
                   help="also draw each run's own PNGs (the report's figures aggregate the seeds either way)")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:  # --help
        raise SystemExit(2 if exc.code else 0) from None
    known = names()
    for name in args.exercises:
        if name not in known:
            raise ConfigError("exercise", name, "one of: " + ", ".join(known))
    args.exercises = list(dict.fromkeys(args.exercises))  # a name given twice runs once
    for override in args.overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key.split(".")[0] in RESERVED_SET:  # the reproduction's layout and seeds are its own options
            raise ConfigError("--set", override, f"an override of any key but {', '.join(RESERVED_SET)} "
                                                 "(use --seeds N, --out DIR and exercise names)")
    if not 1 <= args.seeds <= MAX_SEEDS:
        raise ConfigError("--seeds", args.seeds, f"an integer from 1 to {MAX_SEEDS}")
    if args.epochs is not None and not 1 <= args.epochs <= MAX_EPOCHS:
        raise ConfigError("--epochs", args.epochs, f"an integer from 1 to {MAX_EPOCHS}")
    if not args.out.strip():
        raise ConfigError("--out", args.out, "a folder path (new or a reproduction folder)")
    artifacts.check_writable_folder("--out", args.out)  # first: it refuses names too long to look up
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ConfigError("--out", args.out, "a folder path (new or a reproduction folder)")
    if args.mnist is not None:  # checked even when real_dataset is not selected: a typo should not pass silently
        from dlexp.data import datasets

        try:
            datasets.locate(args.mnist)
        except ConfigError as err:
            raise ConfigError("--mnist", args.mnist, err.allowed) from None
    return args


def seeds_for(n: int) -> list[int]:
    return [FIRST_SEED + k for k in range(n)]


def preset_overrides(preset: str, seeds: list[int], args: argparse.Namespace, layer_stats: bool = True,
                     layer_stats_every: int = 1, grad_norm_every: int | None = None) -> list[str]:
    # Reproductions continue at run granularity (finished runs are skipped), so the
    # per-epoch backup that `dlexp train resume=` needs is not worth its cost here.
    over = [f"+exp={preset}", f"seeds=[{','.join(map(str, seeds))}]", f"trainer.progress={args.progress}",
            "trainer.checkpoint=false", f"trainer.plots={str(args.run_plots).lower()}"]
    if not any(o.lstrip("+~").split("=")[0].split(".")[0] == "logger" for o in args.overrides):
        # The report is the reproduction's view; per-run trackers are opt-in (--set logger=tensorboard).
        over.append("logger=none")
    if args.epochs is not None:
        over.append(f"trainer.epochs={args.epochs}")
    if not (layer_stats or args.diagnostics):
        over.append("trainer.diagnostics=false")
    elif not args.diagnostics:
        if layer_stats_every != 1:
            over.append(f"trainer.diagnostics_every={layer_stats_every}")
        if grad_norm_every is not None:
            over.append(f"trainer.grad_norm_every={grad_norm_every}")
    return over + list(args.overrides)


def compose_jobs(exercises: list[Exercise], seeds: list[int], args: argparse.Namespace) -> list[tuple]:
    """(exercise, preset, plain config, jobs) for every preset, all validated before anything runs."""
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from dlexp.data import datasets as data
    from dlexp.config import experiment
    from dlexp.config.compose import hydra_message, merge_message, register_resolvers, unknown_key_message

    register_resolvers()
    plans = []
    with initialize_config_module("dlexp.conf", version_base="1.3"):
        for ex in exercises:
            presets = [(p, [], None) for p in ex.presets]
            if ex.name == "real_dataset" and args.mnist:
                presets.append(("real_dataset", ["dataset=mnist", f"dataset.path={args.mnist}", "name=real_dataset_mnist"], None))
            if not args.no_variations:
                for name, on in ex.variation_presets().items():
                    presets += [(p, [*ex.variations[name].overrides, f"name={variation_folder(p, name)}"], set(variants))
                                for p, variants in on.items()]
            for preset, extra, only in presets:
                try:
                    cfg = compose("config", preset_overrides(preset, seeds, args, ex.layer_stats, ex.layer_stats_every,
                                                               ex.grad_norm_every) + extra)
                except (HydraException, OmegaConfBaseException) as err:
                    base = compose("config", [])
                    raise DlexpError(unknown_key_message(err, base) or merge_message(err, base)
                                     or hydra_message(err)) from None
                plain = experiment.plain_config(cfg)
                jobs = [_tsne_for_first_seed(job, seeds[0]) for job in experiment.expand(plain)
                        if only is None or job.spec.variant in only]
                data.check_sizes([j.spec for j in jobs])
                plans.append((ex, plain["name"], plain, jobs))
    check_budget(plans, args)
    return plans


def check_budget(plans: list[tuple], args: argparse.Namespace) -> None:
    """All presets' runs, as they will train together, must fit in memory and be able to finish
    (run/budget.py); the message names --epochs or --seeds, the options that make them large."""
    from dlexp.run import budget

    runs = budget.Blame("--epochs", args.epochs) if args.epochs is not None else budget.Blame("--seeds", args.seeds)
    budget.check([job.spec for *_, jobs in plans for job in jobs], runs=runs,
                 rename=lambda field: "--epochs" if field == "trainer.epochs" and args.epochs is not None else field)


def _tsne_for_first_seed(job, first_seed: int):
    """The report shows the first seed's t-SNE panels only; the other seeds keep their probe
    tables (the report plots probe accuracy over all seeds) but skip t-SNE, which is CPU-heavy."""
    spec = job.spec
    if not spec.trainer.probes or spec.trainer.seed == first_seed or not spec.trainer.tsne:
        return job
    return replace(job, spec=replace(spec, trainer=replace(spec.trainer, tsne=False)))


def analysis_outputs(ex: Exercise, seeds: list[int], out: Path) -> list[tuple[str, Path, object]]:
    """The files of a no-training exercise (tables and metrics per seed, figures once), computed and
    rendered but not written (``write_analysis`` does): (kind, path under ``out``, content), kind
    "csv" (a DataFrame), "png" (bytes) or "json" (a dict). A seed's metrics.json comes last, so it
    marks the seed done; seeds already done are skipped."""
    from dlexp.notebook.analysis import exercises as analysis

    fn = getattr(analysis, f"{ex.analysis}_analysis")
    base = Path(ex.name) / "analysis"
    outputs: list[tuple[str, Path, object]] = []
    draw = True  # only the first seed computed here may draw: nothing is written before all are computed
    for i, seed in enumerate(seeds):
        folder = base / f"seed{seed}"
        if (out / folder / "metrics.json").exists():
            continue
        result = fn(seed=seed) if "seed" in fn.__code__.co_varnames else fn()
        tables, figures, metrics = (_field(result, k) for k in ("tables", "figures", "metrics"))
        outputs += [("csv", folder / f"{name}.csv", frame) for name, frame in tables.items()]
        if draw and (i == 0 or not (out / base / "plots").exists()):
            outputs += [("png", base / "plots" / f"{name}.png", artifacts.figure_png(fig))
                        for name, fig in figures.items()]
        draw = False
        outputs.append(("json", folder / "metrics.json", {k: float(v) for k, v in metrics.items()}))
    return outputs


def write_analysis(out: Path, outputs: list[tuple[str, Path, object]]) -> None:
    writers = {"csv": artifacts.write_dataframe, "png": artifacts.atomic_write_bytes, "json": artifacts.write_json}
    for kind, path, content in outputs:
        writers[kind](out / path, content)


def _all_analysis_outputs(exercises: list[Exercise], seeds: list[int], out: Path) -> list[list]:
    return [analysis_outputs(ex, seeds, out) for ex in exercises]


def _field(result, key: str):
    return result[key] if isinstance(result, dict) else getattr(result, key)


def _lock(out: Path):
    from filelock import FileLock, Timeout

    lock = FileLock(str(out / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise DlexpError(f"--out: got {str(out)!r}; another dlexp reproduce is writing there; "
                         "allowed: wait for it to finish, or choose another --out") from None
    return lock


def update_manifest(out: Path, exercises: list[str], seeds: list[int], args: argparse.Namespace) -> dict:
    path = out / MANIFEST
    old = artifacts.read_json(path) if path.exists() else {}
    done = list(dict.fromkeys((old.get("exercises") or []) + exercises))
    manifest = {"kind": "reproduction", "exercises": [n for n in names() if n in done],
                "seeds": sorted(set(old.get("seeds") or []) | set(seeds)),
                "epochs_override": args.epochs, "overrides": list(args.overrides), "mnist": args.mnist,
                "provenance": artifacts.provenance()}
    artifacts.write_json(path, manifest)
    return manifest


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    selected = [load(n) for n in (args.exercises or names())]
    seeds = seeds_for(args.seeds)
    out = Path(args.out).resolve()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ log level: read at its import, just below
    # Config and data errors surface here, before any file is written. The presets compose and the
    # data sets load in a child process while this one imports TensorFlow (startup.py).
    # The no-training analyses (numpy and their figures) follow in the same child once it has sent
    # those, so they run on the core the import leaves idle and off this process' GIL.
    analyses = (_all_analysis_outputs, ([ex for ex in selected if ex.analysis], seeds, out))
    if any(ex.presets for ex in selected):
        (plans, datasets), later = startup.beside_tf_import(prepare, selected, seeds, args, then=analyses)
    else:  # only no-training exercises: nothing imports TF
        plans, datasets = prepare(selected, seeds, args)
        later = startup.Later(*analyses)
    try:  # whatever happens, the child's analyses are not left running
        out.mkdir(parents=True, exist_ok=True)
        lock = _lock(out)
        try:
            return _run(selected, plans, datasets, seeds, out, args, later)
        finally:
            lock.release()
    finally:
        later.cancel()


def prepare(selected: list[Exercise], seeds: list[int], args: argparse.Namespace) -> tuple[list[tuple], dict]:
    """Every preset's jobs (``compose_jobs``) and the data sets they train on (``runner.load_data``)."""
    from dlexp.run import runner

    plans = compose_jobs(selected, seeds, args)
    return plans, runner.load_data([job for *_, jobs in plans for job in jobs])


def _run(selected: list[Exercise], plans: list[tuple], datasets: dict, seeds: list[int], out: Path, args,
         later: startup.Later) -> int:
    update_manifest(out, [e.name for e in selected], seeds, args)
    # One background thread writes the no-training analyses' files (computed by the start-up
    # child), then does each trained group's post-training work while the lanes train
    # (runner.execute_tasks): numpy/matplotlib overlap the training.
    background = ThreadPoolExecutor(1, thread_name_prefix="dlexp-background")
    try:
        return _train_and_report(selected, plans, datasets, seeds, out, args, background, later)
    finally:
        background.shutdown(wait=True)


class _EarlyOutputs:
    """Writes a preset's comparison as soon as its last run is complete, and draws an exercise's
    report figures as soon as its last run is complete.

    Called by ``runner.execute_tasks`` on its one background thread (so no lock), this moves the
    comparisons and the figures of all but the last preset / exercise off the serial tail after
    training (matplotlib's rendering is most of the report's time; the comparisons are cheap).
    ``figures=False`` (``--no-report``): comparisons only.
    A preset with a run that failed is never complete here; ``write_remaining`` then writes it.
    """

    def __init__(self, exercises: list[Exercise], tasks: list, out: Path, plans: list[tuple] = (),
                 figures: bool = True) -> None:
        self.exercises = {ex.name: ex for ex in exercises}
        self.exercise_of = [t.meta["exercise"] for t in tasks]
        self.left = Counter(self.exercise_of)
        self.out, self.figures, self.plans = out, figures, list(plans)
        self.drawn: dict[str, list] = {}
        preset_of_job = {id(job): i for i, (*_, jobs) in enumerate(self.plans) for job in jobs}
        self.preset_of = [preset_of_job.get(id(t.job)) for t in tasks]
        self.preset_left = Counter(self.preset_of)
        self.compared: set[int] = set()

    def __call__(self, task_index: int) -> None:
        preset = self.preset_of[task_index]
        if preset is not None:
            self.preset_left[preset] -= 1
            if self.preset_left[preset] == 0:
                self._compare(preset)
        name = self.exercise_of[task_index]
        self.left[name] -= 1
        if self.left[name] == 0 and self.figures:
            from dlexp.notebook.figures import exercise_figures

            self.drawn[name] = exercise_figures(self.exercises[name], self.out / name)

    def _compare(self, preset: int) -> None:
        from dlexp.report import compare

        ex, name, plain, jobs = self.plans[preset]
        self.compared.add(preset)
        if len(jobs) > 1:  # a single run's folder is the preset's folder: its summary.json must stay the run's
            compare.write_comparison(plain, jobs, self.out / ex.name / name)

    def write_remaining(self) -> None:
        """The comparisons not written yet (after training: nothing else is writing)."""
        for preset in range(len(self.plans)):
            if preset not in self.compared:
                self._compare(preset)


def _train_and_report(selected: list[Exercise], plans: list[tuple], datasets: dict, seeds: list[int], out: Path,
                      args, background: ThreadPoolExecutor, later: startup.Later) -> int:
    from dlexp.run import runner

    for ex in selected:
        if ex.analysis:
            print(f"[dlexp] {ex.name}: analysis ({len(seeds)} seeds)", file=sys.stderr, flush=True)
    # Written by the background thread once the start-up child sends them (without fork, computed there).
    analyses = background.submit(lambda: [write_analysis(out, outputs) for outputs in later.get()])
    meta = {"provenance": artifacts.provenance(), "overrides": list(args.overrides)}
    tasks = []
    for ex, preset, plain, jobs in plans:
        folder = out / ex.name / preset
        artifacts.write_yaml(folder / artifacts.CONFIG, plain)
        tasks += [runner.Task(job, folder, {**meta, "exercise": ex.name}) for job in jobs]
        print(f"[dlexp] {ex.name}/{preset}: {len(jobs)} runs", file=sys.stderr, flush=True)
    early = _EarlyOutputs(selected, tasks, out, plans, figures=not args.no_report)
    # All presets at once: runs of different exercises that can share a stack do (runner.plan).
    with ExitStack() as stack:
        progress = runner.Progress(args.progress, stack)
        runner.execute_tasks(tasks, datasets, progress, skip_finished=True, background=background,
                             on_done=early)
    analyses.result()  # an analysis' error surfaces here
    early.write_remaining()
    if args.no_report:
        return 0
    from dlexp.notebook.report import print_verdicts, write_reproduction_report

    paths = write_reproduction_report(out, figures=early.drawn)
    print_verdicts(paths["claims"])
    print(f"report: {paths['html']}")
    return 0
