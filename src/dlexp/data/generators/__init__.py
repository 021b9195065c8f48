"""The generated data sets: one module each, found by its file name (``dataset=NAME``).

A module ``NAME.py`` in this folder is a data set; with ``conf/dataset/NAME.yaml`` (its defaults,
so ``dataset=NAME`` composes) nothing else is needed. It defines:

- ``Config``: a frozen dataclass of its fields, ``name`` defaulting to ``"NAME"``; its
  ``__post_init__`` checks the values with ``dlexp.checks`` (one ConfigError line each). Hydra's
  config is validated into it before anything runs.
- ``shape(cfg) -> (samples, features, classes)``: what ``generate`` returns, without generating it
  (the preflight checks batch and split sizes and estimates memory and work with it).
- ``generate(cfg) -> (x, y)``: features of shape (samples, features) and integer labels 0..K-1 of
  shape (samples,), the same for the same ``cfg`` (seeded by its fields, never by global state).
  Heavy imports (scikit-learn) go inside it: config errors must answer before they load.

and may define:

- ``posterior(cfg, x) -> p``: the Bayes posterior P(class | x) of shape (len(x), K), for a data
  set whose generating distribution is known; callers look it up with
  ``getattr(GENERATORS[name], "posterior", None)``.

The module must not import TensorFlow.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import fields
from types import MappingProxyType, ModuleType
from typing import Mapping

REQUIRED = ("Config", "shape", "generate")


def discover() -> dict[str, ModuleType]:
    """Every data-set module in this package's folders (``__path__``), by name, in name order."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        missing = [attr for attr in REQUIRED if not hasattr(module, attr)]
        if missing:
            raise TypeError(f"{module.__name__} is a data set without {', '.join(missing)}; see {__name__}'s docstring")
        name = next((f.default for f in fields(module.Config) if f.name == "name"), None)
        if name != info.name:
            raise TypeError(f"{module.__name__}.Config's name defaults to {name!r}; "
                            f"it must be the module's name, {info.name!r}")
        found[info.name] = module
    return found


# Read-only: the registry is fixed when the package is imported, never changed by a run.
GENERATORS: Mapping[str, ModuleType] = MappingProxyType(discover())
