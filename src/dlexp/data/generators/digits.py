"""scikit-learn's bundled 8x8 digits: 1,797 images of 10 classes, shipped offline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLES = 1797


@dataclass(frozen=True)
class Config:
    name: str = "digits"
    scale: bool = True  # divide pixel values (0..16) by 16


def shape(cfg: Config) -> tuple[int, int, int]:
    return SAMPLES, 64, 10  # 8x8 images of the digits 0-9


def generate(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # scikit-learn loads only when data is built

    bunch = load_digits()
    x = bunch.data / 16.0 if cfg.scale else bunch.data
    return x, bunch.target
