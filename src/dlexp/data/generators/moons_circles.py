"""Exercise 4's 4-class set: two moons (classes 0, 1) plus two circles moved to (2, 2) (classes 2, 3)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from dlexp.checks import MAX_DATA_SCALE, check, data_scale


@dataclass(frozen=True)
class Config:
    name: str = "moons_circles"
    n_samples: int = 500  # per part: 500 moons + 500 circles
    moons_noise: float = 0.15
    circles_noise: float = 0.1
    factor: float = 0.5
    circles_scale: float = 2.0  # the notebook moves the circles: X * 2 + 2
    circles_offset: float = 2.0
    standardize: bool = True
    seed: int = 42

    def __post_init__(self) -> None:
        check(self.n_samples >= 4, "n_samples", self.n_samples, "an integer >= 4")
        check(0 < self.factor < 1, "factor", self.factor, "a number in (0, 1)")
        data_scale("moons_noise", self.moons_noise)
        data_scale("circles_noise", self.circles_noise)
        data_scale("circles_scale", self.circles_scale, low=-MAX_DATA_SCALE)
        data_scale("circles_offset", self.circles_offset, low=-MAX_DATA_SCALE)


def shape(cfg: Config) -> tuple[int, int, int]:
    return 2 * cfg.n_samples, 2, 4


def generate(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Moons plus moved circles, standardized. Like the notebook, the scaler is fit on all
    1,000 points before the split."""
    from sklearn.datasets import make_circles, make_moons  # scikit-learn loads only when data is built
    from sklearn.preprocessing import StandardScaler

    x1, y1 = make_moons(n_samples=cfg.n_samples, noise=cfg.moons_noise, random_state=cfg.seed)
    x2, y2 = make_circles(n_samples=cfg.n_samples, noise=cfg.circles_noise, factor=cfg.factor, random_state=cfg.seed)
    x2 = x2 * cfg.circles_scale + cfg.circles_offset
    x = np.vstack([x1, x2])
    y = np.hstack([y1, y2 + 2])
    if cfg.standardize:
        x = StandardScaler().fit_transform(x)
    return x, y


def posterior(cfg: Config, x: np.ndarray) -> np.ndarray:
    """Exact P(class | x): each class is Gaussian noise around its noise-free points (the circles'
    noise scaled with them), then the same standardization as the data."""
    from dlexp.data import bayes

    centres, labels = generate(replace(cfg, moons_noise=0.0, circles_noise=0.0, standardize=False))
    noise = np.where(labels < 2, cfg.moons_noise, cfg.circles_noise * abs(cfg.circles_scale))
    sigma = np.repeat(np.maximum(noise, 1e-9)[:, None], centres.shape[1], axis=1)
    noisy = generate(replace(cfg, standardize=False))[0] if cfg.standardize else None
    centres, sigma = bayes.standardized(centres, sigma, noisy)
    return bayes.mixture_posterior(x, centres, labels, sigma, 4)
