"""A red team's bad inputs, by class (issue 30): each is one line naming the field, the value and
what is allowed; exit 2; no traceback; nothing written. In-process through cli.main: no TensorFlow."""

import pytest

from dlexp.cli import main as cli


def _refused(args, tmp_path, capsys, starts, says=""):
    before = set(tmp_path.rglob("*"))
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("dlexp: error: " + starts) and "allowed: " in err and says in err, err
    assert set(tmp_path.rglob("*")) == before  # no run folder, no output root


@pytest.mark.parametrize("args,starts,says", [
    # seeds: a string or list where an integer goes was a traceback (int() on the raw value)
    (["trainer.seed=abc"], "trainer.seed: got 'abc'", "integer"),
    (["trainer.seed=[1,2]"], "trainer.seed: got [1, 2]", "integer"),
    # initializer params: types, domains and combinations, as Keras' constructors need them
    (["initializer=random_normal", "initializer.params.stddev=abc"], "initializer.params.stddev: got 'abc'", "a finite number > 0"),
    (["initializer=random_normal", "initializer.params.stddev=true"], "initializer.params.stddev: got True", "a finite number"),
    (["initializer=random_normal", "initializer.params.stddev=[1]"], "initializer.params.stddev: got [1]", "a finite number"),
    (["initializer=random_normal", "initializer.params.mean=abc"], "initializer.params.mean: got 'abc'", "a finite number"),
    (["initializer.name=random_uniform", "+initializer.params={minval:1.0,maxval:-1.0}"],
     "initializer.params.minval: got 1.0", "below params.maxval"),
    (["initializer.name=random_uniform", "+initializer.params={minval:0.1}"], "initializer.params.minval: got 0.1", "below"),
    (["initializer.name=variance_scaling", "+initializer.params={mode:bogus}"], "initializer.params.mode: got 'bogus'", "fan_in"),
    (["initializer.name=variance_scaling", "+initializer.params={distribution:gauss}"],
     "initializer.params.distribution: got 'gauss'", "truncated_normal"),
    (["initializer.name=variance_scaling", "+initializer.params={scale:0}"], "initializer.params.scale: got 0", "> 0"),
    (["initializer.name=constant"], "initializer.params: got {}", "params.value"),
    (["initializer.name=constant", "+initializer.params={value:abc}"], "initializer.params.value: got 'abc'", "finite"),
    (["initializer=orthogonal", "+initializer.params.gain=abc"], "initializer.params.gain: got 'abc'", "finite"),
    # a number where a switch goes: OmegaConf reads any non-zero number as true
    (["trainer.shuffle=2"], "trainer.shuffle: got 2", "true or false"),
    (["trainer.early_stopping.enabled=5"], "trainer.early_stopping.enabled: got 5", "true or false"),
    (["dataset=digits", "dataset.scale=2"], "dataset.scale: got 2", "true or false"),
    (["description=[1,2]"], "description: got [1, 2]", "one line of text"),
    # sizes
    (["trainer.threads=100000"], "trainer.threads: got 100000", "1 to 1024"),
    (["dataset=classification", "dataset.n_redundant=-1"], "dataset.n_redundant: got -1", ">= 0"),
    (["dataset=classification", "dataset.n_informative=1"], "dataset.n_informative: got 1", "2**n_informative"),
    (["dataset=classification", "dataset.n_features=0"], "dataset.n_features: got 0", ">= 1"),
    (["trainer.test_size=0.9999"], "trainer.test_size: got 0.9999", "0 training"),
    (["trainer.test_size=0.001"], "trainer.test_size: got 0.001", "each of the 3 classes"),
    # Hydra's own errors: one line each
    (["trainer=3"], "trainer: got 3", "default"),
    (["=5"], "override: got '=5'", "KEY=VALUE"),
    (["~trainer"], "trainer: got '~trainer'", "cannot be removed"),
    (["~name"], "name: got '~name'", "cannot be removed"),
    (["+name=x"], "+name: got a + for a key the config has", "name=VALUE"),
    (["activation=relu,elu"], "activation: got 'relu,elu'", "-m activation=a,b"),
    (["+exp=shallow_vs_deep", "+exp=batch_norm"], "exp: got more than one value", "one exp="),
    # flags
    (["--cfg", "job", "+exp=nonexistent"], "exp: got 'nonexistent'", "shallow_vs_deep"),
    (["--cfg", "bogus"], "--cfg: got 'bogus'", "job, hydra, all"),
    (["--bogus-flag"], "--bogus-flag: unknown option", "KEY=VALUE"),
    (["--epochs", "5"], "--epochs: unknown option", "trainer.epochs=5"),
    # paths
    (["output_root=/"], "output_root: got '/'", "below the filesystem root"),
    (["output_root=a/../../../../../../../../../.."], "output_root: got ", "below the filesystem root"),
    (["hydra.run.dir=/"], "hydra.run.dir: got '/'", "below the filesystem root"),
    (["name=-rf"], "name: got '-rf'", "starting with a letter or digit"),  # TF's name scopes refuse it
    # interpolations that do not resolve were a traceback
    (["trainer.epochs=${bogus}"], "trainer.epochs: got '${bogus}'", "an interpolation that resolves"),
    (["name=${oc.env:DLEXP_RED_TEAM_UNSET}"], "name: got '${oc.env:DLEXP_RED_TEAM_UNSET}'", "DLEXP_RED_TEAM_UNSET"),
    # generated data beyond float32's reach once squared: it trained, then diverged
    (["dataset=unstable", "dataset.scale=1e300"], "dataset.scale: got 1e+300", "at most 1e+06"),
    (["dataset=moons_circles", "dataset.circles_scale=1e300"], "dataset.circles_scale: got 1e+300", "at most 1e+06"),
    (["dataset.noise=1e30"], "dataset.noise: got 1e+30", "at most 1e+06"),
    (["output_root=/proc/dlexp_red_team"], "output_root: got '/proc/dlexp_red_team'", "a folder you can write to"),
])
def test_train_refuses_in_one_line(args, starts, says, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    root = [] if any(a.startswith("output_root=") for a in args) else [f"output_root={tmp_path / 'out'}"]
    _refused(["train", *root, *args], tmp_path, capsys, starts, says)


def test_paths_too_long_for_the_file_system(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    long = "q" * 300  # looking such a name up raises OSError (ENAMETOOLONG): it was a traceback everywhere
    _refused(["train", f"output_root={tmp_path / long}"], tmp_path, capsys, "output_root: got ", "at most 255 bytes")
    deep = tmp_path.joinpath(*["y" * 200] * 20)
    _refused(["train", f"output_root={deep}"], tmp_path, capsys, "output_root: got ", "a path of at most")
    _refused(["reproduce", "--out", long], tmp_path, capsys, "--out: got ", "at most 255 bytes")
    _refused(["reproduce", "--mnist", f"{long}.npz"], tmp_path, capsys, "--mnist: got ", "File name too long")
    _refused(["train", "dataset=file", f"dataset.path={long}.csv"], tmp_path, capsys, "dataset.path: got ", "too long")
    _refused(["train", f"resume={long}"], tmp_path, capsys, "resume: got ", "a run folder")
    _refused(["report", long], tmp_path, capsys, "folder: got ", "an existing run")


@pytest.mark.parametrize("files,args,starts,says", [
    ({"exp/mine.yaml": "# @package _global_\n- 1\n- 2\n"}, ["+exp=mine"], "exp/mine.yaml: got a list", "a mapping"),
    ({"exp/mine.yaml": "trainer:\n  epochs: 3\n"}, ["+exp=mine"], "exp/mine.yaml: got ", "# @package _global_"),
    ({"mine.yaml": "[1, 2]\n"}, ["-cn", "mine"], "--config-name: got 'mine'", "a mapping"),
])
def test_user_yaml_under_cd(files, args, starts, says, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / "cfg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "cfg" / name).write_text(text)
    _refused(["train", "-cd", str(tmp_path / "cfg"), f"output_root={tmp_path / 'out'}", *args], tmp_path, capsys,
             starts, says)


@pytest.mark.parametrize("args,starts,says", [
    (["--seeds", "abc"], "--seeds: got 'abc'", "an integer from 1 to"),
    (["--epochs", "1e20"], "--epochs: got '1e20'", "an integer from 1 to"),
    (["--progress", "bogus"], "--progress: got 'bogus'", "one of: auto, rich"),
    (["--bogus-flag"], "dlexp reproduce: got unknown arguments '--bogus-flag'", "--seeds"),
    (["--out"], "--out: got no value", "a folder path"),
    (["dead_relu", "--out", "/"], "--out: got '/'", "below the filesystem root"),
    (["dead_relu", "--set", "seeds=[1]"], "--set: got 'seeds=[1]'", "--seeds N"),
    (["dead_relu", "--set", "name=x"], "--set: got 'name=x'", "--out DIR"),
])
def test_reproduce_arguments_in_one_line(args, starts, says, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _refused(["reproduce", *args], tmp_path, capsys, starts, says)


@pytest.mark.parametrize("files,args,starts,says", [
    ({}, [], "folder: got nothing", "dlexp report DIR"),
    ({}, ["a", "b"], "dlexp report: got unknown arguments 'b'", "folder"),
    ({}, ["x", "--bogus"], "dlexp report: got unknown arguments '--bogus'", "folder"),
    ({"empty/.keep": ""}, ["empty"], "folder: got 'empty'", "found neither"),
    ({"rep/0_run/summary.json": "[1, 2]"}, ["rep"], "rep/0_run/summary.json: got 'list'", "as dlexp writes it"),
    ({"rep/0_run/summary.json": '"text"'}, ["rep"], "rep/0_run/summary.json: got 'str'", "as dlexp writes it"),
    ({"rep/reproduction.json": "{bad"}, ["rep"], "rep/reproduction.json: got 'unreadable JSON'", "as dlexp writes it"),
    ({"rep/reproduction.json": "[]"}, ["rep"], "rep/reproduction.json: got 'list'", "as dlexp writes it"),
])
def test_report_arguments_and_files_in_one_line(files, args, starts, says, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    _refused(["report", *args], tmp_path, capsys, starts, says)


def test_good_inputs_next_to_the_bad_ones_still_pass(tmp_path, monkeypatch):
    from dlexp.cli import preflight as train_cmd

    monkeypatch.chdir(tmp_path)
    jobs = train_cmd.preflight_jobs(["name=2024", "trainer.shuffle=1", "initializer.name=constant",
                                     "+initializer.params={value:0.1}", "trainer.threads=4"])
    assert jobs[0].spec.name == "2024" and jobs[0].spec.trainer.shuffle is True  # digits are a folder name
    assert train_cmd.preflight(["initializer.name=variance_scaling",
                                "+initializer.params={scale:2.0,mode:fan_avg,distribution:uniform}"]) == 1
    assert train_cmd.preflight(["initializer.name=random_uniform", "+initializer.params={minval:-1,maxval:1}"]) == 1
    assert list(tmp_path.iterdir()) == []


def test_hydra_gets_the_flags_before_the_overrides():
    from dlexp.cli.preflight import flags_first

    # Hydra's argparse takes overrides as one positional list: `a=1 -cd DIR b=2` left b=2 unrecognized.
    assert flags_first(["a=1", "-cd", "DIR", "b=2", "-m", "--info", "c=3"]) == ["-cd", "DIR", "-m", "--info", "a=1", "b=2", "c=3"]
    assert flags_first(["-c", "job", "x=1"]) == ["-c", "job", "x=1"]


def test_a_constant_initializer_builds(compose):
    from dlexp.config.experiment import expand
    from dlexp.nn import models

    spec = expand(compose(["initializer.name=constant", "+initializer.params={value:0.25}"]))[0].spec
    init = models.kernel_initializer(spec, 0)  # keras.initializers.get("constant") raised KeyError: 'value'
    assert float(init((2, 2))[0, 0]) == 0.25


def test_an_activation_that_exits_is_refused(tmp_path, monkeypatch):
    from dlexp.errors import ConfigError
    from dlexp.nn import activations

    (tmp_path / "exiting_acts.py").write_text("import sys\ndef quits(x):\n    sys.exit(3)\n")
    (tmp_path / "exits_on_import.py").write_text("import sys\nsys.exit(5)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="it raised SystemExit: 3"):
        activations.check_user_activation("exiting_acts:quits")
    with pytest.raises(ConfigError, match="import failed: SystemExit: 5"):
        activations.check_user_activation("exits_on_import:f")


def test_cfg_job_with_a_missing_preset_through_the_installed_command(run_dlexp, tmp_path):
    proc = run_dlexp("train", "--cfg", "job", "+exp=nonexistent", timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("dlexp: error: exp: got 'nonexistent'; allowed: ")
    assert len(proc.stderr.strip().splitlines()) == 1
