"""A full disk mid-run: one line, exit 1, and resume continues once there is room (issue 30)."""

import json
import os
import subprocess

import pandas as pd
import pytest
from conftest import dlexp_cmd


@pytest.fixture
def small_disk(tmp_path):
    """A 600 KB tmpfs (root only): room for a run's first epochs, not for its backups."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.mark.slow
def test_disk_full_is_one_line_and_resume_continues(small_disk):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = ["train", "trainer.backend=keras", "trainer.epochs=30", "dataset.n_samples=300", "trainer.plots=false",
            "logger=none"]
    proc = subprocess.run([*dlexp_cmd(), *args], cwd=small_disk, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "could not write (No space left on device)" in lines[0], proc.stderr[-2000:]
    (run,) = list((small_disk / "outputs" / "default").iterdir())
    assert f"dlexp train resume={run}" in lines[0]
    done = len(pd.read_csv(run / "metrics.csv"))
    assert 0 < done < 30
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    proc = subprocess.run([*dlexp_cmd(), "train", f"resume={run}"], cwd=small_disk, capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
    assert list(pd.read_csv(run / "metrics.csv")["epoch"]) == list(range(1, 31))
