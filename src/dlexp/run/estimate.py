"""How much memory and work one run (or a stack of runs) takes, from plain numbers.

The arithmetic behind the preflight's budget (``run/budget.py``): a ``RunSize`` holds the numbers a
run's cost depends on; ``flops`` counts its floating-point operations, ``data_bytes`` and
``training_bytes`` what it holds, following the trainers' own chunks. Rough, within a factor of
about two. No TensorFlow, no config objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlexp.data import datasets as data

# ---------------------------------------------------------------- what the code holds (bytes)

FLOAT = 4  # the networks and the split data are float32
# Per feature value while a generator's data is made and split: float64 as generated, a float64
# copy some generators make (make_classification shuffles its columns), float32 copies for the split.
GENERATED_VALUE_BYTES = 28
FILE_VALUE_BYTES = 20  # a data file's array as stored, its float32 copy, the split and scaled copies
# Per sample while the data is made and split: int64 labels, the stratified split's index arrays,
# the generators' per-sample temporaries.
SAMPLE_BYTES = 100
# Per feature value while training: the float32 train/test arrays and the tensors a trainer copies them into.
RESIDENT_VALUE_BYTES = 8
RESIDENT_SAMPLE_BYTES = 16  # the labels and their tensor copy
# Per parameter and run: weights, gradients, Adam's two slots, early stopping's best weights and
# the stack's frozen copy of stopped members.
PARAM_COPIES = 6
BATCH_COPIES = 4  # per unit and row of a training batch: pre-activation, activation, dropout mask, gradient
FORWARD_COPIES = 2  # per unit and row of an inference pass: a layer's output and the next one's, alive together
BACKWARD_COPIES = 4  # per unit and row of the diagnostics' gradient pass, as in a training batch
HISTORY_EPOCH_BYTES = 1000  # one epoch's metrics row (a dict of floats), Keras' History lists, the display's state
LAYER_ROW_BYTES = 700  # one layer's diagnostics row of one epoch (a dict of a dozen numbers)
RUNTIME_BYTES = 2**29  # TensorFlow, Keras and the other libraries once imported

# The trainers' chunks, mirrored here (tests/test_budget.py checks them against their sources).
KERAS_EVAL_ROWS = 65536  # keras_fit.predict_proba / evaluate
KERAS_DIAG_ROWS = 8192  # callbacks.LayerDiagnostics' forward chunk
GRAD_ROWS = 1024  # the rows the layer diagnostics take gradients on (both trainers)
STACK_CHUNK_FLOATS = 1 << 23  # stack engine: rows per inference chunk x members x widest layer
STACK_DIAG_FLOATS = 1 << 22  # stack engine: rows per diagnostics chunk x members x all units
GRID_ROWS = 200 * 200  # data.mesh_grid's decision-boundary points
PREPARED_AHEAD = 1  # runner.PREFETCH_DEPTH: stacks built and traced while the lanes train

@dataclass(frozen=True)
class RunSize:
    """The plain numbers of one run that its memory and work depend on."""

    samples: int
    features: int
    classes: int
    hidden: tuple[int, ...]
    epochs: int = 1
    batch_size: int = 32
    test_size: float = 0.2
    validation_split: float = 0.2
    diagnostics: bool = False
    diagnostics_every: int = 1
    grid: bool = False  # draws the decision boundary (2-D data, plots on)
    probes: bool = False
    batchnorm: bool = False
    generated: bool = True  # made by a generator (float64) rather than read from a file

    @property
    def n_test(self) -> int:
        return math.ceil(self.test_size * self.samples)  # train_test_split's rounding

    @property
    def n_fit(self) -> int:
        return data.validation_cut(self.samples - self.n_test, self.validation_split)

    @property
    def n_val(self) -> int:
        return self.samples - self.n_test - self.n_fit

    @property
    def outputs(self) -> int:
        return 1 if self.classes == 2 else self.classes  # nn.models.output_units

    @property
    def macs(self) -> int:
        """Multiply-adds of one sample's forward pass."""
        sizes = (self.features, *self.hidden, self.outputs)
        return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))

    @property
    def params(self) -> int:
        """As nn.models.count_params."""
        sizes = (self.features, *self.hidden, self.outputs)
        return self.macs + sum(sizes[1:]) + (4 * sum(self.hidden) if self.batchnorm else 0)

    @property
    def steps(self) -> int:
        return self.epochs * -(-self.n_fit // self.batch_size)


def diagnosed_epochs(every: int, epochs: int) -> int:
    """How many of epochs 1..``epochs`` ``schema.diagnostics_due`` measures after (without early
    stopping): counted, not looped over, so a huge epoch budget costs nothing here."""
    if every <= 0:
        return 1  # the last one only
    return epochs // every + (epochs % every != 0)


def flops(size: RunSize) -> float:
    """Floating-point operations of one run: training (forward + backward, ~6 per multiply-add and
    sample), validation every epoch, the layer diagnostics, the test set, the grid and the probes."""
    m = float(size.macs)
    total = (6 * size.n_fit + 2 * size.n_val) * m * size.epochs + 2 * m * size.n_test
    if size.diagnostics:
        total += (1 + diagnosed_epochs(size.diagnostics_every, size.epochs)) * m * (
            2 * size.n_fit + 6 * min(GRAD_ROWS, size.n_fit))
    if size.grid:
        total += 2 * m * GRID_ROWS
    if size.probes:
        total += 2 * m * (size.n_fit + size.n_test)
    return total


def data_bytes(size: RunSize) -> tuple[float, float]:
    """(peak while the data set is made and split, what stays while its runs train)."""
    per_value = GENERATED_VALUE_BYTES if size.generated else FILE_VALUE_BYTES
    load = size.samples * (size.features * per_value + SAMPLE_BYTES)
    resident = size.samples * (size.features * RESIDENT_VALUE_BYTES + RESIDENT_SAMPLE_BYTES)
    return float(load), float(resident)


def training_bytes(size: RunSize, members: int = 1, keras: bool = True) -> dict[str, float]:
    """What a group of ``members`` runs of this size holds while it trains, data set aside:
    {what: bytes}. The passes through the network ("a training batch", ...) come one at a time;
    "the weights and optimizer state" and "the per-epoch history" stay throughout."""
    units, widest = sum(size.hidden), max(size.hidden)
    history = size.epochs * HISTORY_EPOCH_BYTES
    if size.diagnostics:
        history += diagnosed_epochs(size.diagnostics_every, size.epochs) * len(size.hidden) * LAYER_ROW_BYTES
    passes = {"a training batch": size.batch_size * units * BATCH_COPIES}
    if keras:  # row chunks of fixed length, one run
        eval_rows, grid_rows = KERAS_EVAL_ROWS, KERAS_EVAL_ROWS
        diag = min(size.n_fit, KERAS_DIAG_ROWS) * units * FORWARD_COPIES + min(size.n_fit, GRAD_ROWS) * units * BACKWARD_COPIES
    else:  # the stack engine sizes its chunks by floats over all members
        eval_rows = grid_rows = max(256, STACK_CHUNK_FLOATS // (members * widest))
        diag_rows = min(size.n_fit, GRAD_ROWS, max(32, STACK_DIAG_FLOATS // (members * units)))
        diag = diag_rows * units * BACKWARD_COPIES + min(size.n_fit, eval_rows) * widest * FORWARD_COPIES
    if size.diagnostics:
        passes["the layer diagnostics"] = diag
    passes["evaluation"] = min(max(size.n_val, size.n_test), eval_rows) * widest * FORWARD_COPIES
    if size.grid:
        passes["the decision-boundary plot"] = min(GRID_ROWS, grid_rows) * widest * FORWARD_COPIES
    if size.probes:  # every layer's output on the training and test parts, kept whole
        passes["the probes' representations"] = (size.n_fit + size.n_test) * units
    parts = {"the weights and optimizer state": size.params * PARAM_COPIES, "the per-epoch history": history}
    parts.update(passes)
    return {what: float(members * n * (1 if what == "the per-epoch history" else FLOAT)) for what, n in parts.items()}


def peak_training(parts: dict[str, float]) -> float:
    """What a group holds at once: the lasting parts and its largest pass."""
    lasting = ("the weights and optimizer state", "the per-epoch history")
    return sum(parts[k] for k in lasting) + max(v for k, v in parts.items() if k not in lasting)

