"""Exercise 7: Gaussian inputs scaled by ``scale`` with random binary labels that carry no signal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlexp.checks import check, data_scale, positive_int


@dataclass(frozen=True)
class Config:
    name: str = "unstable"
    n_samples: int = 1000
    n_features: int = 10
    scale: float = 10.0
    seed: int = 42

    def __post_init__(self) -> None:
        check(self.n_samples >= 10, "n_samples", self.n_samples, "an integer >= 10")
        positive_int("n_features", self.n_features)
        data_scale("scale", self.scale, open_low=True)


def shape(cfg: Config) -> tuple[int, int, int]:
    return cfg.n_samples, cfg.n_features, 2


def generate(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(cfg.seed)
    x = rng.randn(cfg.n_samples, cfg.n_features) * cfg.scale
    y = rng.randint(0, 2, cfg.n_samples)
    return x, y


def posterior(cfg: Config, x: np.ndarray) -> np.ndarray:
    """The labels are coin flips independent of x: no classifier beats guessing."""
    from dlexp.data import bayes

    return bayes.uniform_posterior(len(x), 2)
