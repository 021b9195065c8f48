"""Exercise 1's spiral: ``n_classes`` arms of ``n_samples // n_classes`` points each."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from dlexp.checks import check, data_scale


@dataclass(frozen=True)
class Config:
    name: str = "spiral"
    n_samples: int = 1000
    n_classes: int = 3
    noise: float = 0.2
    seed: int = 42

    def __post_init__(self) -> None:
        check(self.n_classes >= 2, "n_classes", self.n_classes, "an integer >= 2")
        check(self.n_samples >= 2 * self.n_classes, "n_samples", self.n_samples,
              f"an integer >= 2 * n_classes ({2 * self.n_classes})")
        data_scale("noise", self.noise)


def shape(cfg: Config) -> tuple[int, int, int]:
    return cfg.n_samples // cfg.n_classes * cfg.n_classes, 2, cfg.n_classes


def generate(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """The arms: radius 0..1, angle 0..4pi plus the class offset, Gaussian noise."""
    rng = np.random.RandomState(cfg.seed)
    n_per_class = cfg.n_samples // cfg.n_classes
    xs, ys = [], []
    for k in range(cfg.n_classes):
        theta = np.linspace(0, 4 * np.pi, n_per_class) + k * 2 * np.pi / cfg.n_classes
        radius = np.linspace(0, 1, n_per_class)
        x1 = radius * np.cos(theta) + rng.randn(n_per_class) * cfg.noise
        x2 = radius * np.sin(theta) + rng.randn(n_per_class) * cfg.noise
        xs.append(np.column_stack([x1, x2]))
        ys.append(np.full(n_per_class, k))
    return np.vstack(xs), np.hstack(ys)


def posterior(cfg: Config, x: np.ndarray) -> np.ndarray:
    """Exact P(class | x): each class is Gaussian noise (sd ``noise``) around its noise-free arm points."""
    from dlexp.data import bayes

    centres, labels = generate(replace(cfg, noise=0.0))
    sigma = np.full_like(centres, max(cfg.noise, 1e-9))  # noise 0: the nearest arm point decides
    return bayes.mixture_posterior(x, centres, labels, sigma, cfg.n_classes)
