"""``train(cfg, run_dir)``: the one training entrypoint the CLI, the tests and ``reproduce`` call.

Read it top to bottom: validate and list the runs, load each data set once, group runs that
can share one vectorized fit (``plan``), train the groups on a lane per core (``execute_tasks``),
each run writing its own folder (``writer.RunWriter``) while a display shows progress
(``progress.Progress``). A failing run is recorded in its own ``summary.json`` and does not
stop the others.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional

from dlexp import artifacts
from dlexp.run import budget, estimate, native_log
from dlexp.config import schema as config
from dlexp.data import datasets as data
from dlexp.config import experiment
from dlexp.errors import DlexpError, WriteError, is_disk_error
from dlexp.config.experiment import Job
from dlexp.run.prefetch import StackPrefetch
from dlexp.run.progress import Progress, group_title, run_names  # noqa: F401 (Progress: part of the runner's API)
from dlexp.train.stack import groups
from dlexp.run.writer import BACKUP, RunWriter, is_finished, resume_epoch, spec_hash, spec_to_dict  # noqa: F401


def load_data(jobs: list[Job]) -> dict[Any, data.Dataset]:
    """Each distinct data set once; also the checks that need its size. Raises before anything is written."""
    cache: dict[Any, data.Dataset] = {}
    for job in jobs:
        key = data_key(job.spec)
        if key not in cache:
            t = job.spec.trainer
            cache[key] = data.load(job.spec.dataset, t.test_size, t.split_seed, t.stratify)
        data.check_against_data(job.spec, cache[key].n_samples)
    return cache


def data_key(spec: config.RunSpec):
    t = spec.trainer
    return (repr(spec.dataset), t.test_size, t.split_seed, t.stratify)


def plan(jobs: list[Job]) -> list[list[Job]]:
    """Groups of jobs to train together: compatible runs share a vectorized stack, the rest go alone."""
    return [[jobs[i] for i in g] for g in groups.plan_groups([j.spec for j in jobs])]


def uses_keras_fit(group: list[Job]) -> bool:
    """A group of one goes through plain ``model.fit`` when asked to (backend=keras), when it cannot
    stack, or when it keeps per-epoch backups (only the Keras path resumes mid-run). Otherwise the
    stack engine trains it too: a stack of one runs a whole epoch per call, much faster than
    Keras' per-step loop."""
    return groups.trains_with_keras([job.spec for job in group])


def _fit_group(group: list[Job], dataset: data.Dataset, writers: list[RunWriter], progress: Progress,
               owner: list[int], shared_cores: bool = False, prepared: Any = None,
               on_training: Callable[[], None] = lambda: None) -> list:
    """Train a group; returns one FitResult (or None on failure) per job. A stack trains each
    distinct run once (``owner``: ``identical_runs(group)``); ``on_training()`` runs after its first
    epoch. ``shared_cores``: other stacks train at the same time. ``prepared``: its engine from
    ``stack.prepare`` (``_stack_specs``), or None."""
    if uses_keras_fit(group):
        from dlexp.run import trackers as loggers
        from dlexp.train import keras_fit as training

        w, job = writers[0], group[0]
        backup = w.folder / BACKUP if job.spec.trainer.checkpoint else None
        cut = data.validation_cut(len(dataset.x_train), job.spec.trainer.validation_split)
        extra = loggers.keras_callbacks(job.spec, w.logger, dataset.x_train[:cut])
        try:
            return [training.fit_one(job.spec, dataset, on_epoch=progress.sink(id(job), w.on_epoch),
                                     on_layer_rows=w.on_layers, progress=extra, backup_dir=backup)]
        except (KeyboardInterrupt, DlexpError):
            raise
        except Exception as err:  # one bad run must not take the sweep down; its folder says why
            if is_disk_error(err):
                raise  # not the run's fault: stop, resumable (execute_tasks)
            w.fail(err)
            return [None]
    from dlexp.train.stack.fit import fit_stack

    trained = sorted(set(owner))
    sinks = [progress.sink(id(job), w.on_epoch) for job, w in zip(group, writers)]
    on_epoch = [_fan_out([s for s, o in zip(sinks, owner) if o == t], dict) for t in trained]
    on_layers = [_fan_out([w.on_layers for w, o in zip(writers, owner) if o == t], lambda rows: [dict(r) for r in rows])
                 for t in trained]
    on_epoch[-1] = _then_once(on_epoch[-1], on_training)
    try:
        results = fit_stack(_stack_specs(group, owner), dataset, on_epoch=on_epoch, on_layer_rows=on_layers,
                            shared_cores=shared_cores, prepared=prepared)
        by_run = dict(zip(trained, results))
        return [by_run[o] for o in owner]
    except (KeyboardInterrupt, DlexpError):
        raise
    except Exception as err:
        if is_disk_error(err):
            raise
        for w in writers:
            w.fail(err)
        return [None] * len(group)


def _stack_specs(group: list[Job], owner: list[int]) -> list[config.RunSpec]:
    """The specs a stack of ``group`` trains: each distinct run once (``owner``: ``identical_runs``)."""
    return [group[t].spec for t in sorted(set(owner))]


def _once(hook: Callable[[], None]) -> Callable[[], None]:
    """``hook()`` on the first call, nothing after."""
    waiting = [True]

    def call() -> None:
        if waiting[0]:
            waiting[0] = False
            hook()

    return call


def _then_once(fn: Callable[[Any], None], hook: Callable[[], None]) -> Callable[[Any], None]:
    """``fn``, then ``hook()`` after its first call."""
    hook = _once(hook)

    def call(arg) -> None:
        fn(arg)  # first: the hook may count on what fn did (the epoch on disk)
        hook()

    return call


def identical_runs(group: list[Job]) -> list[int]:
    """For each job, the index of the first job in ``group`` that computes the same run: specs equal
    but for name and variant (e.g. Exercise 1's deep net is also the depth sweep's 3 layers and the
    width sweep's 100 units). A stack member is a function of its spec alone, so such runs are
    trained once and their numbers written to each folder."""
    first: dict[str, int] = {}
    return [first.setdefault(spec_hash(replace(j.spec, name="", variant="")), i) for i, j in enumerate(group)]


def share_cores(groups: list[list[Job]], lanes: int, cost: Callable[[list[Job]], float]) -> list[list[Job]]:
    """``groups`` with each stack whose work is more than a lane's fair share (all the stacks' work
    over ``lanes``) cut into halves of its distinct runs, until none is: a stack trained alone, or
    one much longer than the others, then keeps several cores busy instead of one while the other
    lanes idle. Members of a stack are independent, so a run's numbers do not depend on the cut
    (beyond float rounding). A cut that would send a half through Keras' fit is not made."""
    if lanes < 2:
        return groups
    share = sum(cost(g) for g in groups if not uses_keras_fit(g)) / lanes
    out: list[list[Job]] = []
    todo = list(groups)
    while todo:
        group = todo.pop(0)
        halves = _halves(group) if not uses_keras_fit(group) and cost(group) > share else None
        if halves is None or any(uses_keras_fit(h) for h in halves):
            out.append(group)
        else:
            todo[:0] = halves
    return out


def _halves(group: list[Job]) -> Optional[list[list[Job]]]:
    """The group's distinct runs in two halves, each run with its copies (``identical_runs``); None for one run."""
    owner = identical_runs(group)
    distinct = sorted(set(owner))
    if len(distinct) < 2:
        return None
    first = set(distinct[:len(distinct) // 2])
    return [[j for j, o in zip(group, owner) if o in first], [j for j, o in zip(group, owner) if o not in first]]


def _fan_out(targets: list[Callable], copy: Callable) -> Callable:
    """One callback calling each of ``targets`` with its own copy of the argument."""
    if len(targets) == 1:
        return targets[0]

    def call_each(arg) -> None:
        for target in targets:
            target(copy(arg))

    return call_each


@dataclass(frozen=True)
class Task:
    """A job and the experiment folder it belongs to (``reproduce`` trains many experiments at once)."""

    job: Job
    base_dir: Path
    meta: dict

    @property
    def folder(self) -> Path:
        return self.base_dir / self.job.subdir


def execute_tasks(tasks: list[Task], datasets: dict, progress: Progress, skip_finished: bool = False,
                  background: Optional[Executor] = None, lanes: Optional[int] = None,
                  on_done: Optional[Callable[[int], None]] = None) -> list[dict]:
    """Train every task into its folder, grouping compatible runs of all experiments into stacks;
    return the summaries in task order.

    Stacks train on ``lanes`` threads at once (``_start_key``: probes first, then the costliest);
    None: one per usable core, fewer if memory is short (``budget.training_lanes``).
    A group's post-training work (summary, decision grid, probes, plots: Python and matplotlib,
    mostly holding the GIL) runs on one ``background`` thread meanwhile. Pass an executor to queue
    more work on that thread (``reproduce`` queues its analyses first); None makes one here. A
    group that goes through Keras' ``model.fit`` trains alone on this thread (fit_one clears Keras'
    session). ``on_done(i)`` runs on the background thread once task i's folder is complete (at
    once for a task skipped as finished; never for a run that failed or was interrupted).
    """
    from dlexp.train import interrupts

    interrupts.clear()  # an interrupt of an earlier run in this process must not stop this one
    summaries: dict[int, dict] = {}
    todo, skipped = [], []
    for i, task in enumerate(tasks):
        if skip_finished and is_finished(task.folder, task.job.spec):
            summaries[i] = artifacts.read_json(task.folder / artifacts.SUMMARY)
            skipped.append(i)
        else:
            todo.append(i)
    by_job = {id(tasks[i].job): i for i in todo}
    names = run_names(tasks)
    labels = [f"{n}/{w} seed={t.job.spec.seed}" for (n, w), t in zip(names, tasks)]
    progress.start({id(tasks[i].job): tasks[i].job.spec.trainer.epochs for i in todo}, len(tasks),
                   early_stopping=any(tasks[i].job.spec.trainer.early_stopping.enabled for i in todo),
                   labels={id(tasks[i].job): labels[i] for i in todo})
    stop = threading.Event()  # set when one group raises: the others stop at their next epoch
    pending: list[Future] = []  # queued post-training work

    def finish(group: list[Job], writers: list[RunWriter], results: list, dataset: data.Dataset,
               complete: bool = False) -> None:
        try:
            for job, w, r in zip(group, writers, results):
                i = by_job[id(job)]
                summaries[i] = w.finish(dataset, r)
                progress.finished(labels[i], summaries[i])
                if complete and on_done is not None:
                    on_done(i)
        finally:  # the group's files are written: its stack's memory is free for the next ones
            for r in results:
                if r is not None:
                    r.release()

    def train(group: list[Job], pool: Executor, shared: bool = False, ahead: Optional[StackPrefetch] = None,
              index: int = 0) -> None:
        """``shared``: other stacks train beside this one. ``ahead``: the
        batch's preparations (``prefetch``), where this is group ``index``."""
        try:
            train_group(group, pool, shared, ahead, index)
        except BaseException:
            # Set here (also for errors before training), not only where the caller sees the error:
            # this lane's thread takes the next queued group at once, before the caller wakes up.
            stop.set()
            raise

    def train_group(group: list[Job], pool: Executor, shared: bool, ahead: Optional[StackPrefetch],
                    index: int) -> None:
        if stop.is_set():  # a lane picked it up just as another failed: leave it unstarted, no folder
            return
        prepared = ahead.take(index) if ahead is not None else None
        if stop.is_set():  # it stopped while take() waited for this group's preparation
            return
        members = [tasks[by_job[id(job)]] for job in group]
        dataset = datasets[data_key(group[0].spec)]
        trainer = "keras" if uses_keras_fit(group) else "stack"
        owner = identical_runs(group)
        # A copy of an earlier member's run (the same computation) names the folder that trained it.
        copies = [{"same_run_as": os.path.relpath(members[o].folder, t.folder)} if o != i else {}
                  for i, (t, o) in enumerate(zip(members, owner))]
        resumed = [resume_epoch(t.folder) if trainer == "keras" else 0 for t in members]
        try:
            writers = [RunWriter(t.job, t.folder, {**t.meta, "dataset": dataset.name, "subdir": t.job.subdir,
                                                    "trainer": trainer, "stack_size": len(set(owner)), **copy},
                                 resume_from=start, stop=stop)
                       for t, copy, start in zip(members, copies, resumed)]
        except OSError as err:  # a full disk before training: one line, resumable
            if is_disk_error(err):
                raise WriteError(err, members[0].base_dir) from None
            raise
        results: list = [None] * len(group)
        keys = [id(job) for job in group]
        lane = progress.begin_group(group_title([names[by_job[k]] for k in keys], [j.spec.seed for j in group]),
                                    keys, dict(zip(keys, resumed)))
        try:
            try:
                results = _fit_group(group, dataset, writers, progress, owner, shared, prepared,
                                     ahead.top_up if ahead is not None else lambda: None)
            except BaseException:
                progress.end_group(lane, keys, complete=False)  # interrupted: the plan stands
                raise
            progress.end_group(lane, keys)
        except BaseException as err:
            stop.set()  # before the summaries below are written: no other lane starts a group meanwhile
            if is_disk_error(err) or isinstance(err, WriteError):
                # Writing more would fail too: the summaries stay 'running' and read as interrupted
                # once this process is gone; resume continues from the last backup.
                raise err if isinstance(err, WriteError) else WriteError(err, members[0].base_dir) from None
            if isinstance(err, KeyboardInterrupt):
                for t, w in zip(members, writers):
                    w.summary["status"] = "interrupted"
                    w.summary["resume"] = "dlexp train resume=" + str(t.base_dir)
            finish(group, writers, results, dataset)  # every folder still gets its summary
            raise
        pending.append(pool.submit(finish, group, writers, results, dataset, True))

    with ExitStack() as owned:
        pool = background or owned.enter_context(ThreadPoolExecutor(1, thread_name_prefix="dlexp-finish"))
        planned = plan([tasks[i].job for i in todo])
        if lanes is None:
            lanes = budget.training_lanes([tasks[i].job.spec for i in todo])
        planned = share_cores(planned, lanes, lambda g: _estimated_cost(g, datasets[data_key(g[0].spec)]))
        lanes = max(1, min(lanes, len(planned)))
        lane_pool = owned.enter_context(ThreadPoolExecutor(lanes, thread_name_prefix="dlexp-train"))
        if on_done is not None:
            pending += [pool.submit(on_done, i) for i in skipped]
        running: list[Future] = []
        if lanes > 1 and sum(not uses_keras_fit(g) for g in planned) > 1:
            from dlexp.nn import tf_runtime

            tf_runtime.one_thread_per_op()  # the lanes share the cores (why: see there)
        if planned:  # (nothing to train, e.g. only no-training exercises: TF stays unimported)
            native_log.start_devices()  # after the pools are sized
        batches = list(_batches(planned))

        def drain(quiet: bool = False) -> None:
            """Wait for the queued post-training work."""
            _wait_all(pending, quiet=quiet)

        ahead: Optional[StackPrefetch] = None

        def stop_lanes() -> None:
            """Stop every lane at its next epoch and wait for them; groups not started never start."""
            stop.set()
            if ahead is not None:  # nothing more is prepared; one under way ends before this returns
                ahead.close()
            for f in running:
                f.cancel()  # not started yet: no folder is made
            wait(running)

        try:
            for keras_group, groups in batches:
                if keras_group:
                    drain()
                    train(groups[0], pool)
                    continue
                groups.sort(key=lambda g: _start_key(g, datasets[data_key(g[0].spec)]), reverse=True)
                shared = lanes > 1 and len(groups) > 1  # this batch's stacks train side by side
                ahead = owned.enter_context(closing(StackPrefetch(groups, _preparer(datasets, shared), PREFETCH_DEPTH)))
                running = [lane_pool.submit(train, g, pool, shared, ahead, i) for i, g in enumerate(groups)]
                wait(running, return_when=FIRST_EXCEPTION)
                if any(_failed(f) for f in running):
                    # Wait for the others, so that the error that stopped them is the one raised,
                    # not an interrupt it caused on a lane that ended first.
                    stop_lanes()
                _raise_first(running)
                ahead.close()
        except BaseException:
            stop_lanes()
            drain(quiet=True)
            raise
        drain()
    return [summaries[i] for i in range(len(tasks))]


# Stacks prepared ahead of the lanes (``prefetch``), each an engine with its weights and traced
# graphs held until a lane takes it: one is enough, as a second one's tracing competes with the
# lanes for the GIL and the cores, and every prepared stack holds memory.
PREFETCH_DEPTH = 1


def _preparer(datasets: dict, shared: bool) -> Callable[[list[Job]], Any]:
    """A group's engine built and traced as its lane will train it (``stack.prepare``)."""

    def prepare(group: list[Job]):
        from dlexp.train.stack.fit import prepare

        specs = _stack_specs(group, identical_runs(group))
        return prepare(specs, datasets[data_key(specs[0])], shared_cores=shared, trace=True)

    return prepare


def _batches(groups: list[list[Job]]):
    """(True, [group]) for a group that trains through Keras' fit, (False, groups) for each run of stack groups between them."""
    run: list[list[Job]] = []
    for group in groups:
        if uses_keras_fit(group):
            if run:
                yield False, run
                run = []
            yield True, [group]
        else:
            run.append(group)
    if run:
        yield False, run


def _start_key(group: list[Job], dataset: data.Dataset) -> tuple[bool, float]:
    """Groups with probes start first: their post-training work (linear probes, t-SNE: CPU-heavy,
    on the background thread) then overlaps the other stacks' training instead of trailing
    it. Then the costliest first, so that the lanes end together."""
    return any(job.spec.trainer.probes for job in group), _estimated_cost(group, dataset)


def _estimated_cost(group: list[Job], dataset: data.Dataset) -> float:
    """A rough training cost, to start the longest stacks first so that the lanes end together:
    weights x planned steps, plus a per-layer term for the fixed cost of every small op."""
    from dlexp.nn import models

    total = 0.0
    for job in group:
        s = job.spec
        steps = s.trainer.epochs * -(-len(dataset.x_train) // s.trainer.batch_size)
        weights = models.count_params(s, dataset.input_dim, dataset.n_classes)
        total += steps * (weights + 20_000 * len(s.model.hidden)) * (1 + _diagnosed_share(s.trainer))
    return total


def _diagnosed_share(t: config.TrainerConfig) -> float:
    """The share of epochs after which the layer diagnostics measure (each costs about an epoch)."""
    if not t.diagnostics:
        return 0.0
    return estimate.diagnosed_epochs(t.diagnostics_every, t.epochs) / t.epochs  # counted, not looped over


def _failed(f: Future) -> bool:
    return f.done() and not f.cancelled() and f.exception() is not None


def _raise_first(futures: list[Future]) -> None:
    """Re-raise the error of the first finished future that failed, if any; a KeyboardInterrupt
    only when none failed otherwise (a lane meeting another's stop ends with one)."""
    errors = [f.exception() for f in futures if _failed(f)]
    if errors:
        raise next((e for e in errors if not isinstance(e, KeyboardInterrupt)), errors[0])


def _wait_all(futures: list[Future], quiet: bool = False) -> None:
    """Wait for queued post-training work; re-raise its first error unless ``quiet``."""
    errors = [f.exception() for f in futures]
    futures.clear()
    first = next((e for e in errors if e is not None), None)
    if first is not None and not quiet:
        raise first


def train(cfg: Any, run_dir: Path, *, overrides: Optional[list[str]] = None, progress: Optional[str] = None,
          skip_finished: bool = False) -> dict:
    """Run every job of the experiment ``cfg`` into ``run_dir``; return the experiment (or run) summary.

    Raises ConfigError/DataError before writing anything when the config or data is bad.
    """
    return train_many([(cfg, Path(run_dir), list(overrides or []))], progress=progress, skip_finished=skip_finished)[0]


@contextmanager
def _disk_errors(folder: Path):
    """A full disk while writing an experiment's own files: one line (WriteError), resumable."""
    try:
        yield
    except OSError as err:
        if is_disk_error(err):
            raise WriteError(err, folder) from None
        raise


def train_many(experiments: list[tuple[Any, Path, list[str]]], *, progress: Optional[str] = None,
               skip_finished: bool = False) -> list[dict]:
    """Several experiments (config, folder, overrides) trained together: their compatible runs share
    stacks (a ``-m`` sweep's jobs, through the dlexp launcher). One summary per experiment, in order."""
    plans = []
    for cfg, run_dir, overrides in experiments:
        plain = experiment.plain_config(cfg)
        plans.append((plain, experiment.expand(plain), Path(run_dir), overrides))
    datasets = load_data([job for _, jobs, _, _ in plans for job in jobs])  # raises before any file is written
    provenance = artifacts.provenance()
    tasks = []
    for plain, jobs, run_dir, overrides in plans:
        with _disk_errors(run_dir):
            run_dir.mkdir(parents=True, exist_ok=True)
            artifacts.write_yaml(run_dir / artifacts.CONFIG, plain)
        meta = {"overrides": list(overrides), "provenance": provenance}
        tasks += [Task(job, run_dir, meta) for job in jobs]
    with ExitStack() as stack:
        prog = Progress(progress or tasks[0].job.spec.trainer.progress, stack)
        summaries = execute_tasks(tasks, datasets, prog, skip_finished=skip_finished)
    out, start = [], 0
    for plain, jobs, run_dir, _ in plans:
        if len(jobs) > 1:
            from dlexp.report.compare import write_comparison

            with _disk_errors(run_dir):
                out.append(write_comparison(plain, jobs, run_dir))
        else:
            out.append(summaries[start])
        start += len(jobs)
    return out
