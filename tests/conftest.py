"""Shared fixtures. TF's C++ logging is silenced before anything can import TensorFlow."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def compose():
    """compose(overrides) -> the composed DictConfig, exactly as `dlexp train` would build it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from dlexp.config.compose import register_resolvers

    register_resolvers()

    def _compose(overrides=(), config_name="config"):
        with initialize_config_module("dlexp.conf", version_base="1.3"):
            return hydra_compose(config_name, list(overrides))

    return _compose


def dlexp_cmd() -> list[str]:
    exe = shutil.which("dlexp", path=str(Path(sys.executable).parent)) or shutil.which("dlexp")
    return [exe] if exe else [sys.executable, "-m", "dlexp"]


@pytest.fixture
def run_dlexp(tmp_path):
    """Run the installed `dlexp` in a subprocess with cwd=tmp_path; returns CompletedProcess."""

    def _run(*args, timeout=300, cwd=None, env=None):
        full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
        return subprocess.run(dlexp_cmd() + list(args), cwd=cwd or tmp_path, capture_output=True, text=True,
                              timeout=timeout, env=full_env)

    return _run
