"""The best accuracy any classifier can reach on a generated test split (the Bayes ceiling). numpy only.

The spiral, moons+circles and the random-label set are noise added to known points: a class's
inputs are a mixture of Gaussians centred on that class's noise-free points (the generator run
with noise 0). So the posterior p(class | x) is exact, and the Bayes classifier's expected
accuracy on the actual test inputs is the mean over them of max_k p(k | x). A network that
scores near that number has learnt everything the data allows; a claim that needs more cannot
be decided on this data set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Ceiling:
    """The Bayes ceiling of one test split, and what a test split of that size can resolve."""

    accuracy: float  # expected accuracy of the Bayes classifier on these test inputs
    realized: float  # its accuracy on the actual test labels
    chance: float  # the majority class's share of the test labels
    n_test: int

    @property
    def sd(self) -> float:
        """Sampling sd of an accuracy near the ceiling measured on ``n_test`` points."""
        return math.sqrt(self.accuracy * (1 - self.accuracy) / max(self.n_test, 1))

    @property
    def headroom(self) -> float:
        """How far above chance the best possible classifier gets."""
        return self.accuracy - self.chance


def mixture_posterior(x: np.ndarray, centres: np.ndarray, labels: np.ndarray, sigma: np.ndarray,
                      n_classes: int) -> np.ndarray:
    """p(k | x) when class k's inputs are an equal-weight mixture of N(centre, diag(sigma**2)) over its
    centres (``sigma``: one row per centre, per axis). Class priors are the classes' shares of centres."""
    x = np.asarray(x, dtype="float64")
    log_dens = np.full((len(x), n_classes), -np.inf)
    for k in range(n_classes):
        c, s = centres[labels == k], sigma[labels == k]
        if not len(c):
            continue
        z = (x[:, None, :] - c[None]) / s[None]  # (points, centres, axes)
        log_n = -0.5 * (z ** 2).sum(-1) - np.log(s).sum(-1)[None] - 0.5 * x.shape[1] * math.log(2 * math.pi)
        log_dens[:, k] = _logsumexp(log_n, axis=1)  # mixture weights 1/n_k times prior n_k/n: a common factor
    return np.exp(log_dens - _logsumexp(log_dens, axis=1)[:, None])


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return (np.log(np.exp(a - top).sum(axis=axis, keepdims=True)) + top).squeeze(axis)


def ceiling(posterior: np.ndarray, y_test: np.ndarray) -> Ceiling:
    """The ceiling of a test split from the exact posterior of its inputs."""
    y_test = np.asarray(y_test)
    counts = np.bincount(y_test, minlength=posterior.shape[1])
    return Ceiling(accuracy=float(posterior.max(axis=1).mean()),
                   realized=float((posterior.argmax(axis=1) == y_test).mean()),
                   chance=float(counts.max() / len(y_test)), n_test=len(y_test))


def uniform_posterior(n_points: int, n_classes: int) -> np.ndarray:
    """Labels drawn independently of the inputs: no classifier beats guessing."""
    return np.full((n_points, n_classes), 1.0 / n_classes)


def standardized(centres: np.ndarray, sigma: np.ndarray, noisy: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Centres and noise scales after the StandardScaler that was fit on the ``noisy`` data (None: unscaled)."""
    if noisy is None:
        return centres, sigma
    mean, std = noisy.mean(axis=0), noisy.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (centres - mean) / std, sigma / std
