"""The training progress display (issue 28): one ``runner.Progress`` for every command, drawn in at
most a few lines that fit the terminal, silent per epoch when the output is not a terminal."""

import io
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
from rich.cells import cell_len
from rich.console import Console

from dlexp.run import runner
from dlexp.report.console import progress_lines

CSI = re.compile(r"\x1b\[[0-9;?]*([A-Za-z])")


def _terminal_lines(raw: str) -> list[str]:
    """What a terminal shows, line by line, of everything written: colours dropped, every cursor
    move (the live display redrawing itself) taken as the start of a new line."""
    text = CSI.sub(lambda m: "" if m.group(1) == "m" else "\n", raw)
    return [line for line in re.split(r"[\r\n]", text) if line]


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=80, force_terminal=True, record=True, color_system="standard"), out


LONG = "a_variant_name_long_enough_that_a_stack_title_cannot_fit_in_eighty_columns"


def _drive(progress: runner.Progress, keys: list, epochs: int, title: str, stop_early: dict, barrier) -> None:
    """One lane: a group of runs trains ``epochs`` epochs, its rows going through ``Progress.sink``
    (as the trainers' rows do); run k of ``stop_early`` stops after that epoch."""
    rows: list[dict] = []
    sinks = {k: progress.sink(k, rows.append) for k in keys}
    token = progress.begin_group(title, keys)
    barrier.wait()  # both lanes train at once
    for e in range(1, epochs + 1):
        for k in keys:
            if e <= stop_early.get(k, epochs):
                sinks[k]({"epoch": e, "loss": 0.5, "accuracy": 0.5, "val_loss": 0.5, "val_accuracy": 0.5})
        if progress.display is not None:
            progress.display.refresh()  # a frame per epoch, besides the auto-refresh thread's
    progress.end_group(token, keys)
    for k in keys:
        progress.finished(f"run {k}", {"status": "completed", "test_accuracy": 0.5, "epochs_run": epochs,
                                       "timings": {"total_seconds": 1.0}, "trainer": "stack"})
    assert len(rows) == sum(min(stop_early.get(k, epochs), epochs) for k in keys)  # the writers got every row


def test_display_from_two_lanes_fits_80_columns_and_shows_runs_and_epochs():
    """Guards the issue's layout: a terminal of 80 columns, two stacks training on two threads with
    titles longer than the screen: every line drawn fits, the top line counts runs done / total and
    epochs trained / planned, each lane shows its epoch, and the last frame (one run stopped early,
    so the plan shrinks to what was trained) reads 100% with every run done."""
    console, out = _console()
    keys_a, keys_b = [0, 1, 2], [3, 4, 5]
    barrier = threading.Barrier(2)
    with ExitStack() as stack:
        progress = runner.Progress("auto", stack, console=console)  # auto: rich on a terminal
        assert progress.mode == "rich"
        progress.start({k: 5 for k in keys_a + keys_b}, runs=7, early_stopping=True)  # 1 run finished before
        with ThreadPoolExecutor(2) as lanes:
            runs = [lanes.submit(_drive, progress, keys_a, 5, f"stack of 3 · exp_a: {LONG}", {}, barrier),
                    lanes.submit(_drive, progress, keys_b, 5, f"stack of 3 · exp_b: {LONG}", {4: 3}, barrier)]
        for run in runs:
            run.result()
    lines = _terminal_lines(out.getvalue())
    too_wide = [line for line in lines if cell_len(line) > 80]
    assert not too_wide, too_wide
    heads = [line for line in lines if line.startswith("runs ")]
    assert any(re.match(r"runs 1/7 .*epochs +\d+/30 · ETA ≤", h) for h in heads), heads[:3]  # the skipped run counts
    assert re.match(r"runs 7/7 ━+ 100% · epochs 28/28 · \d:\d\d:\d\d *$", heads[-1]), heads[-1]
    for name in ("exp_a", "exp_b"):
        epochs = {int(m.group(1)) for line in lines if name in line for m in [re.search(r"epoch (\d)/5$", line)] if m}
        assert 5 in epochs and len(epochs) > 1, (name, epochs)  # each lane's epoch, advancing
    assert "runs 7/7" in console.export_text()  # the recorded text holds the same frames


@pytest.mark.parametrize("width", [20, 40, 60, 80, 132])
def test_every_line_fits_any_width(width):
    """Guards narrow terminals: the bar gives way first, then the epoch counts, then titles shorten."""
    lanes = [(f"stack of 12 · shallow_vs_deep, shallow_vs_deep_depth: {LONG}", 12, 50), ("x: y seed=1", 3, 3)]
    for done in (False, True):
        for line in progress_lines(width, 123, 456, 9876, 54321, 3725.0, 80.0, done, True, lanes):
            assert line.cell_len <= width, (width, line.plain)


def test_eta_is_an_upper_bound_only_when_runs_may_stop_early():
    """Guards the ETA's wording: ``≤`` with early stopping, a plain estimate without, elapsed once done."""
    text = lambda *a: progress_lines(80, 3, 33, 120, 1650, 41.0, 10.0, *a, lanes=[])[0].plain
    assert "ETA ≤0:00:41" in text(False, True)
    assert "ETA 0:00:41" in text(False, False)
    assert text(True, True).rstrip().endswith("· 0:00:10") and "ETA" not in text(True, True)
    trained = progress_lines(80, 3, 4, 104, 104, 0.0, 10.0, False, True, lanes=[])[0].plain
    assert trained.rstrip().endswith("epochs 104/104 · saving")  # not "ETA 0:00:00" while files are written
    assert len({len(t) for t in (text(False, True), text(True, True), trained)}) == 1  # the bar keeps its length


@pytest.mark.parametrize("mode", ["auto", "line", "none"])
def test_no_per_epoch_output_when_not_a_terminal(mode, capsys):
    """Guards clean logs: with stdout and stderr captured (not terminals, as in pipes and CI), ``auto``
    draws nothing live and prints nothing per epoch: one line per finished run at most (none for
    ``none``), without colour codes or carriage returns."""
    barrier = threading.Barrier(2)
    with ExitStack() as stack:
        progress = runner.Progress(mode, stack)
        assert progress.display is None
        progress.start({k: 4 for k in range(4)}, runs=4)
        with ThreadPoolExecutor(2) as lanes:
            runs = [lanes.submit(_drive, progress, keys, 4, "stack of 2 · e: v", {}, barrier) for keys in ([0, 1], [2, 3])]
        for run in runs:
            run.result()
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == (0 if mode == "none" else 4), lines
    assert all(line.startswith("[dlexp] run ") for line in lines)
    assert "epoch " not in captured.err and "\x1b" not in captured.err and "\r" not in captured.err


def test_plain_mode_prints_one_line_per_epoch(capsys):
    """``trainer.progress=plain`` (asked for) still logs every epoch, on stderr, named by the run."""
    with ExitStack() as stack:
        progress = runner.Progress("plain", stack)
        progress.start({"k": 2}, runs=1, labels={"k": "exp/v seed=1"})
        sink = progress.sink("k", lambda row: None)
        token = progress.begin_group("exp: v seed=1", ["k"])
        for e in (1, 2):
            sink({"epoch": e, "loss": 0.25})
        progress.end_group(token, ["k"])
    err = capsys.readouterr().err.splitlines()
    assert err == ["[exp/v seed=1] epoch 1/2 loss=0.2500", "[exp/v seed=1] epoch 2/2 loss=0.2500"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["auto", "keras"])  # a stack of four; four Keras fits
def test_train_in_a_pipe_prints_no_progress_garbage(run_dlexp, backend):
    """Guards the CLI end to end, output not a terminal (as in CI): no live display (no ANSI codes,
    no carriage returns, no bar), no per-epoch lines from dlexp or Keras, one line per finished run."""
    proc = run_dlexp("train", "+exp=batch_norm", "trainer.epochs=2", "trainer.plots=false", f"trainer.backend={backend}",
                     timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    both = proc.stdout + proc.stderr
    assert "\r" not in both and "\x1b[" not in both
    for garbage in ("ETA", "epoch 1/2", "epoch 2/2", "Epoch 1/2", "step - loss"):
        assert garbage not in both, garbage
    assert "━" not in proc.stderr and not re.search(r"^runs \d", both, re.M)  # (the table on stdout draws with ━)
    finished = [line for line in proc.stderr.splitlines() if line.startswith("[dlexp] ")]
    assert len(finished) == 4 and all(": completed " in line for line in finished), finished
    assert "batch_norm: completed" in proc.stdout  # the summary table still comes


@pytest.mark.slow
def test_both_trainers_feed_the_display(compose, tmp_path, monkeypatch):
    """Guards the wiring: a real stack (two runs) and a real Keras fit drive the one display: their
    epochs reach the lane lines and the totals, every line within 80 columns."""
    monkeypatch.setattr(runner, "share_cores", lambda groups, lanes, cost: groups)  # the stack of two stays whole
    base = ["trainer.epochs=2", "trainer.checkpoint=false", "trainer.plots=false", "trainer.diagnostics=false",
            "dataset=moons_circles", "dataset.n_samples=120", "model.hidden=[8]"]
    tasks = []
    for name, extra in (("stacked", ["seeds=[0,1]"]), ("fitted", ["trainer.backend=keras"])):
        plain = runner.experiment.plain_config(compose(base + extra + [f"name={name}"]))
        tasks += [runner.Task(job, tmp_path / name, {}) for job in runner.experiment.expand(plain)]
    datasets = runner.load_data([t.job for t in tasks])
    console, out = _console()
    with ExitStack() as stack:
        progress = runner.Progress("rich", stack, console=console)
        epoch = progress.epoch

        def epoch_then_draw(key, row):  # a frame per epoch: 2-epoch runs end before the 4/s refresh
            epoch(key, row)
            progress.display.refresh()

        progress.epoch = epoch_then_draw
        summaries = runner.execute_tasks(tasks, datasets, progress)
    assert [s["status"] for s in summaries] == ["completed"] * 3
    lines = _terminal_lines(out.getvalue())
    assert all(cell_len(line) <= 80 for line in lines)
    assert any(re.search(r"stack of 2 · stacked: default +epoch 2/2$", line) for line in lines), lines
    assert any(re.search(r"fitted: default seed=42 +epoch 2/2$", line) for line in lines), lines
    assert re.match(r"runs 3/3 ━+ 100% · epochs 6/6 · ", [line for line in lines if line.startswith("runs ")][-1])
