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


@pytest.mark.parametrize("args,starts", [
    (["+bogus_top=1"], "bogus_top: unknown key, got 1; allowed: dataset, model"),
    (["+_target_=os.system"], "_target_: unknown key, got 'os.system'"),
    (["+variants={a: {bogus: 1}}"], "variants.a.bogus: unknown key, got 1"),
    (["+grid={bogus.key: [1, 2]}"], "grid.bogus.key: unknown key, got [1, 2]"),
    (["trainer.early_stopping.patience=-1"], "trainer.early_stopping.patience: got -1; allowed: an integer >= 0"),
    (["trainer.shuffle=maybe"], "trainer.shuffle: got 'maybe'; allowed: true or false"),
    (["model.hidden=abc"], "model.hidden: got 'abc'; allowed: a list"),
    (["variants=[1,2]"], "variants: got '[1,2]'; allowed: a mapping"),
    (["trainer.early_stopping=3"], "trainer.early_stopping: got '3'; allowed: a mapping of enabled, monitor"),
    (["-cn", "nonexistent"], "--config-name: got 'nonexistent'"),
])
def test_keys_and_types_are_named(args, starts, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("dlexp: error: " + starts), err
    assert list(tmp_path.iterdir()) == []


def test_reproduce_arguments(tmp_path):
    from dlexp.errors import ConfigError
    from dlexp.notebook import reproduce

    args = reproduce.parse_args(["dead_relu", "batch_norm", "dead_relu", "--out", str(tmp_path / "r")])
    assert args.exercises == ["dead_relu", "batch_norm"]  # a name given twice runs once
    (tmp_path / "afile").write_text("x")
    for bad, field in ((["--mnist", str(tmp_path / "none.npz")], "--mnist"), (["--out", ""], "--out"),
                       (["--out", str(tmp_path / "afile")], "--out"), (["--seeds", "100000"], "--seeds"),
                       (["--epochs", "0"], "--epochs")):
        with pytest.raises(ConfigError) as err:
            reproduce.parse_args(["dead_relu", *bad])
        assert err.value.field == field
