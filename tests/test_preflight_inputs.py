"""Bad numbers and names are answered before training: one line naming the field (issue 30's classes)."""

import pytest

from dlexp.cli import main as cli


@pytest.mark.parametrize("override,field,allowed", [
    ("activation=leaky_relu activation.alpha=inf", "activation.alpha", "a finite number"),
    ("activation=relu activation.alpha=0.2", "activation.alpha", "null with relu (alpha applies to: elu, leaky_relu; activation=relu starts"),
    ("optimizer=adam optimizer.momentum=0.5", "optimizer.momentum", "0 with adam (momentum applies to: rmsprop, sgd; optimizer=adam starts"),
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
    from dlexp.cli import preflight as train_cmd

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


@pytest.mark.parametrize("name", ["os:system", "builtins:eval", "subprocess:call", "sys:exit"])
def test_standard_library_functions_are_not_activations(name, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", f"activation.name={name}"]) == 2
    err = capsys.readouterr().err
    assert "not one of Python's standard library" in err and list(tmp_path.iterdir()) == []


def test_a_user_activation_must_map_a_tensor_to_its_shape(tmp_path, monkeypatch):
    from dlexp.errors import ConfigError
    from dlexp.nn import activations

    (tmp_path / "odd_acts.py").write_text(
        "import keras\n"
        "def good(x):\n    return keras.ops.tanh(x)\n"
        "def summed(x):\n    return keras.ops.sum(x)\n"
        "def boom(x):\n    raise RuntimeError('nope')\n"
        "class Klass:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    activations.check_user_activation("odd_acts:good")
    for name, says in (("odd_acts:summed", "of its input's shape"), ("odd_acts:boom", "it raised RuntimeError: nope"),
                       ("odd_acts:Klass", "a plain Python function")):
        with pytest.raises(ConfigError, match=says):
            activations.check_user_activation(name)


def _write_run_config(folder, compose, overrides):
    import yaml
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(compose(overrides), resolve=True)
    cfg.pop("hydra", None)
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))


def test_resume_with_a_user_activation_asks_for_trust_code(tmp_path, compose, capsys):
    _write_run_config(tmp_path / "run", compose, ["activation.name=someones_pkg.acts:fn"])
    assert cli.main(["train", f"resume={tmp_path / 'run'}"]) == 2
    assert "trust_code=true" in capsys.readouterr().err
    # with the flag, the module must still exist (found without importing it)
    assert cli.main(["train", f"resume={tmp_path / 'run'}", "trust_code=true"]) == 2
    assert "someones_pkg" in capsys.readouterr().err


@pytest.mark.parametrize("text,says", [
    ("[1, 2]\n", "got 'list'; allowed: a mapping"),
    ("a: !!python/object/apply:os.system ['echo hi']\n", "line 1: got \"could not determine a constructor"),
    ("a:\n\tb: 1\n", "line 2: got \"found character '\\\\t'"),
])
def test_resume_reads_config_yaml_safely_with_one_line(text, says, tmp_path, capsys):
    (tmp_path / "config.yaml").write_text(text)
    assert cli.main(["train", f"resume={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err, err


def test_a_broken_preset_of_the_user_is_one_line_naming_file_and_line(tmp_path, capsys):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "mine.yaml").write_text("# @package _global_\nname: x\n\tdescription: tab\n")
    assert cli.main(["train", "-cd", str(tmp_path), "+exp=mine"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "mine.yaml: line 3" in err, err


def test_a_run_whose_process_is_gone_reads_as_interrupted(tmp_path):
    import json
    import socket
    import subprocess
    import sys

    from dlexp import artifacts

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    base = {"kind": "run", "status": "running", "provenance": {"host": socket.gethostname()}}
    (tmp_path / "dead.json").write_text(json.dumps({**base, "pid": gone.pid, "pid_started": 1.0}))
    (tmp_path / "alive.json").write_text(json.dumps({**base, **artifacts.process_identity()}))
    (tmp_path / "elsewhere.json").write_text(json.dumps({**base, "pid": gone.pid, "provenance": {"host": "other"}}))
    assert artifacts.read_summary(tmp_path / "dead.json")["status"] == "interrupted"
    assert artifacts.read_summary(tmp_path / "alive.json")["status"] == "running"
    assert artifacts.read_summary(tmp_path / "elsewhere.json")["status"] == "running"  # cannot know: assume alive


def test_report_names_the_corrupt_summary(tmp_path, capsys):
    run = tmp_path / "sweep" / "0_activation=relu"
    run.mkdir(parents=True)
    (run / "summary.json").write_text('{"kind": "run", "status": "compl')
    assert cli.main(["report", str(tmp_path / "sweep")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "0_activation=relu/summary.json" in err, err


def test_reproduce_set_names_the_closest_key(tmp_path):
    from dlexp.errors import DlexpError
    from dlexp.notebook import reproduce
    from dlexp.notebook.exercises import load

    args = reproduce.parse_args(["shallow_vs_deep", "--set", "trainer.epoch=2", "--out", str(tmp_path / "r")])
    with pytest.raises(DlexpError, match=r"trainer.epoch: unknown key \(did you mean trainer.epochs\?\)"):
        reproduce.compose_jobs([load("shallow_vs_deep")], [42], args)


def test_output_root_that_is_a_file_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_text("a file")
    for root in ("taken", "taken/below"):
        assert cli.main(["train", f"output_root={root}"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("dlexp: error: output_root: got ") and "is a file" in err, err
    assert cli.main(["reproduce", "dead_relu", "--out", "taken/x"]) == 2
    assert "--out: got 'taken/x'; allowed: a folder" in capsys.readouterr().err
