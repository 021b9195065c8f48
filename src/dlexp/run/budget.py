"""Memory and work of the runs a command asks for, estimated before anything starts.

The preflights (``dlexp train``, its ``resume=``, ``dlexp reproduce``) call ``check``: a command
whose runs cannot fit in the memory this machine has available, or cannot finish in any
reasonable time, is refused with one ``ConfigError`` line naming the field that makes it too
large, its value and the estimate, before TensorFlow is imported and before any folder exists.

The estimates (``run/estimate.py``) follow what the code holds at its peak and the operations it
runs; this module derives their numbers from validated ``RunSpec``s, groups runs as the runner
will, measures this machine's available memory and words the refusal. No TensorFlow.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from dlexp.config.schema import ModelConfig, RunSpec, TrainerConfig
from dlexp.data import datasets as data
from dlexp.errors import ConfigError
from dlexp.run.estimate import (PREPARED_AHEAD, RUNTIME_BYTES, RunSize, data_bytes, flops, peak_training,
                                training_bytes)
from dlexp.train.stack.groups import plan_groups, trains_with_keras

# ---------------------------------------------------------------- how long it must take at least

# Optimistic rates, not measurements: 100 GFLOP/s is more than the few CPU cores a run gets sustain
# on these small matrix products, and an optimizer step's dozens of TF ops cost at least ~10 us to
# dispatch however small the network. A command that needs more than a day even at these rates
# needs weeks in practice, so it is refused rather than left to run.
PEAK_FLOPS = 1e11
STEP_SECONDS = 1e-5
MAX_SECONDS = 86400.0

MEMORY_ENV = "DLEXP_MEMORY_LIMIT"  # e.g. 8G: plan for at most this much on a machine shared with others


# ---------------------------------------------------------------- a spec's numbers

def run_size(spec: RunSpec, samples: int, features: int, classes: int) -> RunSize:
    t = spec.trainer
    return RunSize(samples=samples, features=features, classes=classes, hidden=tuple(spec.model.hidden),
                   epochs=t.epochs, batch_size=t.batch_size, test_size=t.test_size, validation_split=t.validation_split,
                   diagnostics=t.diagnostics, diagnostics_every=t.diagnostics_every, grid=features == 2 and t.plots,
                   probes=t.probes, batchnorm=spec.normalization.kind == "batchnorm",
                   generated=spec.dataset.name in data.GENERATORS)


# ---------------------------------------------------------------- this machine


def available_memory() -> Optional[float]:
    """Bytes this process may still use: the kernel's MemAvailable, within a container's limit,
    and within ``DLEXP_MEMORY_LIMIT`` when set. None when unknown (then memory is not checked)."""
    found = [_meminfo_available(), _cgroup_room(), _env_limit()]
    known = [b for b in found if b is not None]
    if not known:
        try:
            known = [float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))]
        except (ValueError, OSError, AttributeError):
            return None
    return min(known)


def _meminfo_available() -> Optional[float]:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cgroup_room() -> Optional[float]:
    """A cgroup v2 memory limit minus what the group uses already (None without a limit)."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        return float(limit) - float(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return None


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _env_limit() -> Optional[float]:
    text = os.environ.get(MEMORY_ENV, "").strip()
    if not text:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", text, re.IGNORECASE)
    if not match:
        raise ConfigError(MEMORY_ENV, text, "a size such as 8G or 512M (the memory dlexp may plan to use)")
    return float(match.group(1)) * _UNITS[match.group(2).upper()]


# ---------------------------------------------------------------- the check


@dataclass(frozen=True)
class Blame:
    """The field a refusal names and the value it got."""

    field: str
    value: Any


def check(specs: Sequence[RunSpec], *, runs: Optional[Blame] = None,
          rename: Callable[[str], str] = lambda field: field) -> None:
    """Refuse, with one ConfigError line, runs that cannot fit in this machine's memory or cannot
    finish: each run alone, then all of them as the runner would train them (``runs`` names the
    field that makes them many, e.g. ``seeds``). ``rename`` maps a config field to the name the
    user gave it (``reproduce --epochs``)."""
    if not specs:
        return
    sizes = sizes_of(specs)
    available = available_memory()
    groups = plan_groups(specs)
    keras = {i: trains_with_keras([specs[j] for j in g]) for g in groups for i in g}  # the path each run takes
    distinct = {(_shape_key(spec), keras[i]): i for i, spec in enumerate(specs)}
    for i in distinct.values():
        _check_work(specs[i], sizes[i], flops(sizes[i]), sizes[i].steps, rename)
        if available is not None:
            _check_memory(specs[i], sizes[i], available, rename, keras[i])
    _check_plan(specs, sizes, groups, available,
                runs or Blame(rename("trainer.epochs"), max(s.trainer.epochs for s in specs)))


def sizes_of(specs: Sequence[RunSpec]) -> list[RunSize]:
    """Each spec's RunSize; each distinct data set is counted once (a data file is read once)."""
    counts: dict[str, tuple[int, int, int]] = {}
    out = []
    for spec in specs:
        key = repr(spec.dataset)
        if key not in counts:
            counts[key] = data.shape(spec.dataset)
        out.append(run_size(spec, *counts[key]))
    return out


def _shape_key(spec: RunSpec) -> str:
    """Runs that differ only in what changes neither memory nor work are checked once."""
    t = spec.trainer
    return repr((spec.dataset, spec.model.hidden, spec.normalization.kind, t.epochs, t.batch_size, t.test_size,
                 t.validation_split, t.diagnostics, t.diagnostics_every, t.plots, t.probes, t.backend, t.checkpoint,
                 spec.activation.name))


def _check_work(spec: RunSpec, size: RunSize, ops: float, steps: float, rename, runs: int = 1,
                blame: Optional[Blame] = None) -> None:
    seconds = ops / PEAK_FLOPS + steps * STEP_SECONDS
    if seconds <= MAX_SECONDS:
        return
    blame = blame or _work_blame(spec, size)
    which = "a run that can finish (this one needs" if runs == 1 else f"fewer or shorter runs (these {runs:,} runs need"
    raise ConfigError(rename(blame.field), blame.value,
                      f"{which} about {ops:.1e} floating-point operations in {steps:.1e} optimizer steps: at least "
                      f"{duration(seconds)} of CPU time even at {PEAK_FLOPS / 1e9:.0f} GFLOP/s and "
                      f"{STEP_SECONDS * 1e6:.0f} microseconds a step)")


def _work_blame(spec: RunSpec, size: RunSize) -> Blame:
    """The field furthest above its default among those the work grows with."""
    t0, ds0 = TrainerConfig(), _default_dataset(spec)
    default_macs = RunSize(1, size.features, size.classes, ModelConfig().hidden).macs
    ratios = [(spec.trainer.epochs / t0.epochs, Blame("trainer.epochs", spec.trainer.epochs)),
              (size.macs / max(1, default_macs), Blame("model.hidden", list(spec.model.hidden)))]
    ratios += [(getattr(spec.dataset, k) / getattr(ds0, k), Blame(f"dataset.{k}", getattr(spec.dataset, k)))
               for k in ("n_samples", "n_features") if ds0 is not None and getattr(ds0, k, None)]
    return max(ratios, key=lambda r: r[0])[1]


def _default_dataset(spec: RunSpec):
    try:
        return type(spec.dataset)()
    except TypeError:
        return None


def _check_memory(spec: RunSpec, size: RunSize, available: float, rename, keras: bool) -> None:
    load, resident = data_bytes(size)
    parts = training_bytes(size, 1, keras=keras)
    total = RUNTIME_BYTES + max(load, resident + peak_training(parts))
    if total <= available:
        return
    if load >= resident + peak_training(parts):
        what, need, blame = "making and splitting the data set", load, _data_blame(spec, size)
    else:
        what, need = max(parts.items(), key=lambda kv: kv[1])
        blame = _part_blame(spec, size, what)
    raise ConfigError(rename(blame.field), blame.value, _memory_text(total, what, need, available))


def _memory_text(total: float, what: str, need: float, available: float, allowed: str = "sizes that fit in memory",
                 runs: str = "") -> str:
    return (f"{allowed} ({runs}about {gigabytes(total)} needed, {gigabytes(need)} of it for {what}; "
            f"{_room(available)})")


def _room(available: float) -> str:
    limit = _env_limit()
    if limit is not None and limit <= available:
        return f"{MEMORY_ENV} allows {gigabytes(available)}"
    return f"this machine has {gigabytes(available)} available"


def _data_blame(spec: RunSpec, size: RunSize) -> Blame:
    ds, ds0 = spec.dataset, _default_dataset(spec)
    if getattr(ds, "path", None) is not None and not hasattr(ds, "n_samples"):
        return Blame("dataset.path", ds.path)
    ratios = [(getattr(ds, k) / getattr(ds0, k), Blame(f"dataset.{k}", getattr(ds, k)))
              for k in ("n_samples", "n_features") if ds0 is not None and getattr(ds0, k, None)]
    return max(ratios, key=lambda r: r[0])[1] if ratios else Blame("dataset.name", ds.name)


def _part_blame(spec: RunSpec, size: RunSize, what: str) -> Blame:
    if what == "the per-epoch history":
        return Blame("trainer.epochs", spec.trainer.epochs)
    if what == "a training batch":
        return Blame("trainer.batch_size", spec.trainer.batch_size)
    first = size.features * size.hidden[0]
    if what == "the weights and optimizer state" and hasattr(spec.dataset, "n_features") and first > size.macs - first:
        return Blame("dataset.n_features", spec.dataset.n_features)
    return Blame("model.hidden", list(spec.model.hidden))


def usable_cores() -> int:
    """The cores this process may run on (a container's or taskset's share, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _Plan:
    """The memory of all runs as the runner trains them, for a number of stacks trained at once."""

    base: float  # the libraries and every data set loaded at the start
    extra_load: float  # what making the largest data set holds beyond what it keeps (before training)
    stack_peaks: list  # each stack's peak, largest first
    keras_peak: float  # the largest group that trains through Keras (alone)
    largest: tuple  # (the largest part of any run, its bytes)

    def total(self, lanes: int) -> float:
        training = max(self.keras_peak, sum(self.stack_peaks[:lanes + PREPARED_AHEAD]))
        return self.base + max(self.extra_load, training)


def _plan_memory(specs: Sequence[RunSpec], sizes: list[RunSize], groups: list[list[int]]) -> _Plan:
    loads = {repr(s.dataset): data_bytes(z) for s, z in zip(specs, sizes)}
    resident = sum(r for _, r in loads.values())
    extra_load = max(load - r for load, r in loads.values())
    peaks, largest = [], ("", 0.0)
    keras_peak = 0.0
    for g in groups:
        keras = trains_with_keras([specs[i] for i in g])
        members = [training_bytes(sizes[i], len(g), keras=keras) for i in g]
        parts = max(members, key=peak_training)
        peak = peak_training(parts)
        if keras:
            keras_peak = max(keras_peak, peak)
        else:
            peaks.append(peak)
        top = max(parts.items(), key=lambda kv: kv[1])
        largest = max(largest, top, key=lambda kv: kv[1])
    return _Plan(RUNTIME_BYTES + resident, extra_load, sorted(peaks, reverse=True), keras_peak, largest)


def _fitting_lanes(plan: _Plan, cores: int, available: Optional[float]) -> int:
    """One lane per core, fewer while that many stacks would not fit (0: not even one)."""
    lanes = max(1, cores)
    while available is not None and lanes > 0 and plan.total(lanes) > available:
        lanes -= 1
    return lanes


def training_lanes(specs: Sequence[RunSpec], cores: Optional[int] = None) -> int:
    """How many stacks the runner may train at once: one per usable core, as a stack's small ops
    keep about one core busy (docs/performance.md), and fewer when that many of the largest stacks
    would not fit in the available memory beside the one prepared ahead. At least 1 (``check``
    has refused what does not fit even then). Stacks split to share the cores are smaller than
    these, so the estimate holds for them too."""
    if not specs:
        return 1
    sizes = sizes_of(specs)
    plan = _plan_memory(specs, sizes, plan_groups(specs))
    return max(1, _fitting_lanes(plan, usable_cores() if cores is None else cores, available_memory()))


def _check_plan(specs: Sequence[RunSpec], sizes: list[RunSize], groups: list[list[int]], available: Optional[float],
                runs: Blame) -> None:
    """All runs as the runner trains them: the stacks it plans (``groups``, from ``plan_groups``), as
    many at once as ``training_lanes`` allows but at least one, plus the one prepared ahead (a group
    that trains through Keras trains alone), every data set loaded at the start; and the work of all
    of them (a stack's members share its steps)."""
    if len(specs) > 1:
        ops = sum(flops(s) for s in sizes)
        steps = sum(max(sizes[i].steps for i in g) for g in groups)
        _check_work(specs[0], sizes[0], ops, steps, lambda f: f, runs=len(specs), blame=runs)
    if available is None or len(specs) == 1:
        return
    plan = _plan_memory(specs, sizes, groups)
    if _fitting_lanes(plan, 1, available) >= 1:
        return
    total = plan.total(1)
    biggest = max(len(g) for g in groups)
    many = f"{len(specs):,} runs in stacks of up to {biggest:,}, {1 + PREPARED_AHEAD} stacks at once: "
    raise ConfigError(runs.field, runs.value, _memory_text(
        total, plan.largest[0], plan.largest[1], available, "fewer runs, or trainer.backend=keras to train one at a time", many))


# ---------------------------------------------------------------- numbers for people


def gigabytes(n: float) -> str:
    g = n / 2**30
    return f"{g:.1f} GB" if g < 10 else f"{g:,.0f} GB"


def duration(seconds: float) -> str:
    if seconds >= 1e4 * 365 * 86400:
        return f"{seconds / (365 * 86400):.0e} years"
    for unit, length in (("years", 365 * 86400), ("months", 30 * 86400), ("days", 86400), ("hours", 3600)):
        if seconds >= 2 * length:
            return f"{seconds / length:,.0f} {unit}"
    return f"{seconds / 3600:.1f} hours"
