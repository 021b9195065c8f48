"""The notebook's gradient-flow simulation (Exercise 2), seeded, vectorized and tabulated.

Model: a chain of scalar layers. The gradient is 1.0 at the output; each step
back multiplies it by f'(z), z ~ N(0, z_std^2) drawn afresh for every layer and
path (the notebook: z_std = 1, no weights). To show "what happens if you
initialize differently" each step can also multiply by a weight factor: a
constant ``weight_gain`` and/or w ~ N(0, weight_std^2).

Because the factors are independent, expectations are exact:
E|g_k| = (E|w f'(z)|)^k and E[g_k^2] = (E[(w f'(z))^2])^k. The tables report
them next to the simulated statistics, because 100 paths cannot show a mean
that rare paths dominate (ReLU: E g_20 = 0.5^20, reached by ~1 path in a million).

Example:
    >>> g = simulate_gradient_flow("sigmoid", n_layers=3, n_simulations=2, seed=0)
    >>> g.shape, bool((g[:, 0] == 1.0).all())
    ((2, 4), True)
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from dlexp.notebook.analysis.activation_fns import get
from dlexp.errors import ConfigError

Seed = Union[int, np.random.Generator]
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
CLASSIC: tuple[str, ...] = ("sigmoid", "tanh", "relu", "leaky_relu")


def _check(n_layers: int, n_simulations: int, z_std: float, weight_std: Optional[float]) -> None:
    if int(n_layers) != n_layers or n_layers < 1:
        raise ConfigError("n_layers", n_layers, "an integer >= 1")
    if int(n_simulations) != n_simulations or n_simulations < 1:
        raise ConfigError("n_simulations", n_simulations, "an integer >= 1")
    if not z_std > 0:
        raise ConfigError("z_std", z_std, "a number > 0")
    if weight_std is not None and not weight_std > 0:
        raise ConfigError("weight_std", weight_std, "a number > 0, or None for no random weight")


def _draw(rng: np.random.Generator, n_layers: int, n_simulations: int, z_std: float,
          weight_std: Optional[float]) -> tuple[np.ndarray, Optional[np.ndarray]]:
    # shapes: (n_simulations, n_layers); column j is the j-th layer back from the output
    z = z_std * rng.standard_normal((n_simulations, n_layers))
    w = None if weight_std is None else weight_std * rng.standard_normal((n_simulations, n_layers))
    return z, w


def _chain(dz: np.ndarray, w: Optional[np.ndarray], weight_gain: float) -> np.ndarray:
    factors = weight_gain * dz if w is None else weight_gain * w * dz
    ones = np.ones((dz.shape[0], 1))
    return np.concatenate([ones, np.cumprod(factors, axis=1)], axis=1)  # (n_simulations, n_layers + 1)


def _derivative(activation: Union[str, Callable]) -> Callable:
    return get(activation).derivative if isinstance(activation, str) else activation


def simulate_gradient_flow(activation: Union[str, Callable], n_layers: int = 20, n_simulations: int = 100,
                           seed: Seed = 42, *, z_std: float = 1.0, weight_std: Optional[float] = None,
                           weight_gain: float = 1.0) -> np.ndarray:
    """Gradients along simulated paths, shape (n_simulations, n_layers + 1); column 0 is the output (1.0).

    Args:
        activation: a registry name or a derivative function f'(z) that accepts arrays.
        seed: an int or a ``np.random.Generator`` (a Generator is advanced, not reset).
        z_std: std of the pre-activations (the notebook uses 1.0).
        weight_std: if given, each step also multiplies by w ~ N(0, weight_std^2).
        weight_gain: a constant factor per step (e.g. 2.0, He's gain for ReLU).

    Values are signed; with random weights they can be negative, so summaries use |g|.
    """
    _check(n_layers, n_simulations, z_std, weight_std)
    z, w = _draw(np.random.default_rng(seed), n_layers, n_simulations, z_std, weight_std)
    return _chain(np.asarray(_derivative(activation)(z), dtype=float), w, weight_gain)


def factor_moments(activation: Union[str, Callable], z_std: float = 1.0, weight_std: Optional[float] = None,
                   weight_gain: float = 1.0, n_cells: int = 400_000) -> tuple[float, float]:
    """(E|w f'(z)|, E[(w f'(z))^2]) for one step, by quadrature over z ~ N(0, z_std^2).

    Midpoint rule with z = 0 on a cell edge, so the kink of ReLU-like derivatives
    at 0 is integrated exactly; |z| beyond 12 std carries no mass in float64.
    """
    derivative = _derivative(activation)
    try:
        m1, m2 = _derivative_moments(derivative, z_std, n_cells)
    except TypeError:  # an unhashable callable
        m1, m2 = _derivative_moments.__wrapped__(derivative, z_std, n_cells)
    w1 = 1.0 if weight_std is None else weight_std * np.sqrt(2.0 / np.pi)  # E|w| for w ~ N(0, s^2)
    w2 = 1.0 if weight_std is None else weight_std**2
    return abs(weight_gain) * w1 * m1, weight_gain**2 * w2 * m2


@lru_cache(maxsize=256)
def _derivative_moments(derivative: Callable, z_std: float, n_cells: int) -> tuple[float, float]:
    """(E|f'(z)|, E[f'(z)^2]) by quadrature; cached per derivative function (the tables ask again per depth
    and variant)."""
    edges = np.linspace(-12.0 * z_std, 12.0 * z_std, n_cells + 1)  # n_cells even: 0 is an edge
    mid = 0.5 * (edges[:-1] + edges[1:])
    pdf_dz = np.exp(-0.5 * (mid / z_std) ** 2) / (z_std * np.sqrt(2 * np.pi)) * np.diff(edges)
    d = np.asarray(derivative(mid), dtype=float)
    return float(np.sum(np.abs(d) * pdf_dz)), float(np.sum(d**2 * pdf_dz))


def _summaries(g: np.ndarray, quantiles: Sequence[float]) -> dict[str, np.ndarray]:
    a = np.abs(g)
    out = {"mean_abs_gradient": a.mean(axis=0)}
    for q, vals in zip(quantiles, np.quantile(a, quantiles, axis=0)):
        out[f"q{round(100 * q):02d}"] = vals
    out["fraction_zero"] = (a == 0).mean(axis=0)
    out["rms_gradient"] = np.sqrt((a**2).mean(axis=0))
    return out


def gradient_flow_table(names: Sequence[str] = CLASSIC, n_layers: int = 20, n_simulations: int = 100,
                        seed: Seed = 42, *, z_std: float = 1.0, weight_std: Optional[float] = None,
                        weight_gain: float = 1.0, quantiles: Sequence[float] = QUANTILES) -> pd.DataFrame:
    """One row per (activation, layer): simulated |gradient| statistics and exact expectations.

    Layer 0 is the output, layer ``n_layers`` the input. All activations see the
    same draws of z (and w), so differences between them are not sampling noise.

    Columns: activation, layer, mean_abs_gradient, q05 ... q95 (quantiles of |g|),
    fraction_zero, rms_gradient, expected_mean_abs_gradient, expected_rms_gradient,
    z_std, weight_std, weight_gain, n_simulations.

    Example:
        >>> t = gradient_flow_table(["relu"], n_layers=2, n_simulations=10)
        >>> list(t["layer"])
        [0, 1, 2]
    """
    _check(n_layers, n_simulations, z_std, weight_std)
    z, w = _draw(np.random.default_rng(seed), n_layers, n_simulations, z_std, weight_std)
    layers = np.arange(n_layers + 1)
    frames = []
    for name in names:
        g = _chain(np.asarray(get(name).derivative(z), dtype=float), w, weight_gain)
        m1, m2 = factor_moments(name, z_std, weight_std, weight_gain)
        frame = pd.DataFrame({"activation": name, "layer": layers, **_summaries(g, quantiles)})
        frame["expected_mean_abs_gradient"] = m1**layers
        frame["expected_rms_gradient"] = np.sqrt(m2**layers)
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["z_std"], out["weight_std"], out["weight_gain"] = z_std, weight_std, weight_gain
    out["n_simulations"] = n_simulations
    return out


def input_gradient_vs_depth(names: Sequence[str] = CLASSIC, depths: Sequence[int] = (5, 10, 20, 30, 50),
                            n_simulations: int = 100, seed: Seed = 42, **init) -> pd.DataFrame:
    """The input-layer row of :func:`gradient_flow_table` for each depth, with a ``depth`` column.

    Each depth is a separate simulation with the same seed (an int seed gives
    every depth a fresh generator; a Generator is advanced from depth to depth).
    ``init`` takes z_std, weight_std, weight_gain.
    """
    rows = []
    for depth in depths:
        t = gradient_flow_table(names, depth, n_simulations, seed, **init)
        rows.append(t[t["layer"] == depth].assign(depth=depth))
    return pd.concat(rows, ignore_index=True).drop(columns="layer")


def init_variants(z_stds: Sequence[float] = (0.5, 1.0, 2.0), weight_stds: Sequence[float] = (),
                  weight_gains: Sequence[float] = ()) -> dict[str, dict]:
    """Named initialization variants: one per pre-activation std, then weight variants at z_std = 1.

    Example:
        >>> list(init_variants((1.0,), weight_gains=(2.0,)))
        ['z_std=1', 'weight_gain=2']
    """
    variants = {f"z_std={s:g}": {"z_std": float(s)} for s in z_stds}
    variants.update({f"weight_std={s:.3g}": {"weight_std": float(s)} for s in weight_stds})
    variants.update({f"weight_gain={g:g}": {"weight_gain": float(g)} for g in weight_gains})
    return variants


def init_variants_table(variants: Mapping[str, dict], names: Sequence[str] = CLASSIC, n_layers: int = 20,
                        n_simulations: int = 100, seed: Seed = 42) -> pd.DataFrame:
    """The input-layer row of :func:`gradient_flow_table` per variant, with a ``variant`` column."""
    rows = []
    for variant, init in variants.items():
        t = gradient_flow_table(names, n_layers, n_simulations, seed, **init)
        rows.append(t[t["layer"] == n_layers].assign(variant=variant))
    out = pd.concat(rows, ignore_index=True)
    return out[["variant"] + [c for c in out.columns if c != "variant"]]
