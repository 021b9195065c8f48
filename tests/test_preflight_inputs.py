"""Bad numbers and names are answered before training: one line naming the field (issue 30's classes)."""

import pytest

from dlexp.cli import main as cli


@pytest.mark.parametrize("override,field,allowed", [
    ("activation.alpha=inf", "activation.alpha", "a finite number"),
    ("clipping.value=inf", "clipping.value", "a finite number"),
    ("dataset.noise=inf", "dataset.noise", "a finite number"),
    ("dataset.noise=nan", "dataset.noise", "a number >= 0"),
    ("initializer=random_normal initializer.params.stddev=inf", "initializer.params.stddev", "a finite number"),
    ("optimizer.learning_rate=nan", "optimizer.learning_rate", "a number in (0, 10]"),
    ("trainer.seed=-1", "trainer.seed", "an integer from 0 to 4294967295"),
    ("trainer.split_seed=4294967296", "trainer.split_seed", "an integer from 0 to 4294967295"),
    ("dataset.seed=-5", "dataset.seed", "an integer from 0 to 4294967295"),
    ("seeds=[1,-2]", "seeds", "a list of distinct integers from 0 to 4294967295"),
    ("seeds=[true]", "seeds", "a list of distinct integers from 0 to 4294967295"),
    ("output_root=", "output_root", "a folder path"),
    ("name=", "name", "1 to 100 ASCII letters"),
    ("name=" + "x" * 101, "name", "1 to 100 ASCII letters"),
    ("name=café", "name", "a value in Hydra's override grammar"),
    ("name='café'", "name", "1 to 100 ASCII letters"),
])
def test_one_line_exit_2_no_folder(override, field, allowed, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", *override.split()]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"dlexp: error: {field}: got ") and f"allowed: {allowed}" in err, err
    assert list(tmp_path.iterdir()) == []


def test_good_edges_still_compose(tmp_path, monkeypatch):
    from dlexp.cli import train as train_cmd

    monkeypatch.chdir(tmp_path)
    assert train_cmd.preflight(["trainer.seed=0", "trainer.split_seed=4294967295", "name=a-b_c", "seeds=[0,1]"]) == 2
