"""The Bayes ceiling of each run's test split, and when it makes an accuracy claim undecidable.

A claim about accuracy can only be judged where accuracy can vary: when the best possible
classifier (data/bayes.py) is not clearly above chance on the test split, or when every run
already sits at that ceiling, no network can pass or fail it and the verdict is
``undecidable here``, with the numbers that show why.
"""

from __future__ import annotations

import json
from typing import Optional

from dlexp.data import bayes
from dlexp.notebook.metrics import RunRecord

# How many test-split sampling sds apart two accuracies must be to be told apart (about 95%).
RESOLUTION_SDS = 2.0


class Ceilings:
    """The ceilings of runs' test splits, computed once per data set setting (one report's lifetime)."""

    def __init__(self) -> None:
        self._known: dict[str, Optional[bayes.Ceiling]] = {}

    def of_run(self, record: RunRecord) -> Optional[bayes.Ceiling]:
        """The ceiling of the run's test split, or None when its data set's distribution is unknown."""
        cfg = record.config
        if not cfg.get("dataset") or not cfg.get("trainer"):
            return None
        t = cfg["trainer"]
        key = json.dumps([cfg["dataset"], t.get("test_size"), t.get("split_seed"), t.get("stratify")], sort_keys=True)
        if key not in self._known:
            self._known[key] = _ceiling(cfg["dataset"], t.get("test_size"), t.get("split_seed"), t.get("stratify"))
        return self._known[key]


def _ceiling(dataset: dict, test_size: float, split_seed: int, stratify: bool) -> Optional[bayes.Ceiling]:
    from dlexp.data import datasets

    module = datasets.GENERATORS.get(dataset.get("name"))
    posterior = getattr(module, "posterior", None)
    if posterior is None:
        return None
    dcfg = datasets.DATASETS[dataset["name"]](**dataset)
    data = datasets.load(dcfg, test_size, split_seed, stratify)
    return bayes.ceiling(posterior(dcfg, data.x_test), data.y_test)


def describe(c: bayes.Ceiling) -> str:
    return (f"the best possible classifier scores {c.accuracy:.3f} on this test split "
            f"({c.n_test} points, chance {c.chance:.3f}, sd {c.sd:.3f})")


def undecidable_reason(metric_is_accuracy: bool, op: str, threshold: Optional[float],
                       a: list[float], b: Optional[list[float]], c: Optional[bayes.Ceiling]) -> str:
    """Why the claim cannot be decided on this data set ("" when it can).

    ``a``/``b``: the per-seed accuracies of the configurations (b None for a claim about one);
    ``threshold``: the value a one-configuration claim compares with.
    """
    if not metric_is_accuracy or c is None:
        return ""
    resolution = RESOLUTION_SDS * c.sd
    if c.headroom < resolution:
        return (f"{describe(c)}: only {c.headroom:.3f} above chance, less than the {resolution:.3f} "
                "this test split can resolve; no network can pass or fail this claim here")
    if b is None and threshold is not None:
        if op in (">", ">=") and threshold >= c.accuracy:
            return f"{describe(c)}: no network can exceed {threshold:g} here"
        return ""
    floor = c.accuracy - resolution
    if a and b and min(a + b) >= floor:
        return (f"{describe(c)}: every run of both configurations is within {resolution:.3f} of it "
                "(at the ceiling), so the data leave no room for one to beat the other")
    return ""
