"""scikit-learn's make_classification: informative, redundant and noise features around class clusters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlexp.checks import MAX_DATA_SCALE, check, data_scale


CLUSTERS = 2  # make_classification's n_clusters_per_class (its default)


@dataclass(frozen=True)
class Config:
    name: str = "classification"
    n_samples: int = 1000
    n_features: int = 20
    n_informative: int = 10
    n_redundant: int = 5
    n_classes: int = 3
    class_sep: float = 1.0
    seed: int = 42

    def __post_init__(self) -> None:
        check(self.n_classes >= 2, "n_classes", self.n_classes, "an integer >= 2")
        check(self.n_samples >= 2 * self.n_classes, "n_samples", self.n_samples, "an integer >= 2 * n_classes")
        check(self.n_features >= 1, "n_features", self.n_features, "an integer >= 1")
        check(1 <= self.n_informative <= self.n_features, "n_informative", self.n_informative,
              f"an integer in [1, n_features={self.n_features}]")
        data_scale("class_sep", self.class_sep, low=-MAX_DATA_SCALE)
        check(self.n_redundant >= 0, "n_redundant", self.n_redundant, "an integer >= 0")
        check(self.n_informative + self.n_redundant <= self.n_features, "n_redundant", self.n_redundant,
              f"at most n_features - n_informative = {self.n_features - self.n_informative}")
        # make_classification puts CLUSTERS clusters per class on the corners of an n_informative-cube.
        check(self.n_classes * CLUSTERS <= 2 ** min(self.n_informative, 64), "n_informative", self.n_informative,
              f"an integer with 2**n_informative >= {CLUSTERS} * n_classes = {CLUSTERS * self.n_classes}")


def shape(cfg: Config) -> tuple[int, int, int]:
    return cfg.n_samples, cfg.n_features, cfg.n_classes


def generate(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification  # scikit-learn loads only when data is built

    return make_classification(
        n_samples=cfg.n_samples, n_features=cfg.n_features, n_informative=cfg.n_informative,
        n_redundant=cfg.n_redundant, n_classes=cfg.n_classes, class_sep=cfg.class_sep,
        random_state=cfg.seed,
    )
