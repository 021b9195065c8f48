"""The claims and settings tables of report.md / report.html and the verdict table on the terminal,
on a synthetic reproduction folder (run folders written by hand, nothing trained; ~1 s).

``make_reproduction`` is also what tests/test_report_html.py renders in a browser.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dlexp import artifacts
from dlexp.notebook import claims
from dlexp.notebook import report
from dlexp.report.document import Table, format_value, md_text, to_html, to_markdown

HOSTILE = "<b>x</b>|y"  # a variant name with HTML and a Markdown column break in it
LONG = "learning_rate=0.0003,batch_size=256,depth1,with_a_rather_long_suffix_for_the_table"


def _config(variant: str, hidden: list[int], seed: int) -> dict:
    return {
        "name": "shallow_vs_deep", "variant": variant,
        "dataset": {"name": "spiral"}, "model": {"kind": "mlp", "hidden": hidden, "dropout": 0.0},
        "activation": {"name": "relu"}, "initializer": {"name": "glorot_uniform"},
        "normalization": {"kind": "batchnorm", "placement": "post_activation"},
        "clipping": {"kind": "global_norm", "value": 1.0},
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "trainer": {"epochs": 20, "batch_size": 32, "validation_split": 0.2, "seed": seed,
                    "early_stopping": {"enabled": True, "patience": 10}},
    }


def _run(preset: Path, folder: str, variant: str, seed: int, acc: float, params: int, hidden: list[int]) -> None:
    run = preset / "runs" / folder / f"seed{seed}"
    run.mkdir(parents=True)
    artifacts.write_yaml(run / artifacts.CONFIG, _config(variant, hidden, seed))
    artifacts.write_json(run / artifacts.SUMMARY, {
        "kind": "run", "name": preset.name, "variant": variant, "seed": seed, "status": "completed",
        "test_accuracy": acc, "test_loss": 1 - acc, "param_count": params, "epochs_run": 20,
        "subdir": str(run.relative_to(preset))})
    epochs = np.arange(1, 21)
    pd.DataFrame({"epoch": epochs, "loss": 1 / epochs, "accuracy": acc * (1 - 0.5 / epochs) + 0.02,
                  "val_loss": 1.1 / epochs, "val_accuracy": acc * (1 - 0.5 / epochs)}).to_csv(
        run / artifacts.METRICS, index=False)


def _png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2.5))
    ax.plot([0, 1, 2], [1, 0.5, 0.25])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=60)
    plt.close(fig)


def make_reproduction(root: Path) -> Path:
    """A reproduction folder of shallow_vs_deep (two seeds of deep, shallow and two variants with awkward
    names) and vanishing_gradients' analysis (a 17-column table with long headers, a figure)."""
    artifacts.write_json(root / "reproduction.json", {
        "kind": "reproduction", "exercises": ["shallow_vs_deep", "vanishing_gradients"], "seeds": [42, 43],
        "epochs_override": None, "overrides": [], "provenance": {"dlexp": "test"}})
    preset = root / "shallow_vs_deep" / "shallow_vs_deep"
    preset.mkdir(parents=True)
    (preset / artifacts.CONFIG).write_text(yaml.safe_dump(
        {"name": "shallow_vs_deep", "variants": {"shallow": {}, "deep": {}}}, sort_keys=False))
    for seed, (deep, shallow) in zip((42, 43), ((0.91, 0.80), (0.93, 0.81))):
        _run(preset, "deep", "deep", seed, deep, 20803, [100, 100, 100])
        _run(preset, "shallow", "shallow", seed, shallow, 6003, [1000])
        _run(preset, "hostile", HOSTILE, seed, 0.5, 1234, [8])
        _run(preset, "long", LONG, seed, 0.6, 4321, [64] * 10)
    analysis = root / "vanishing_gradients" / "analysis"
    cols = ["variant", "activation", "layer", "mean_abs_gradient", "q05", "q25", "q50", "q75", "q95",
            "fraction_zero", "rms_gradient", "expected_mean_abs_gradient", "expected_rms_gradient",
            "z_std", "weight_std", "weight_gain", "n_simulations"]
    rng = np.random.default_rng(0)
    rows = [[f"weight_std={s}", act, 20, *(rng.random(9) * 10.0 ** -rng.integers(0, 30, 9)), 0.0, 1.0, s, 2.0, 100]
            for s in (0.5, 1.41) for act in ("sigmoid", "tanh", "relu", "leaky_relu")]
    for seed in (42, 43):
        artifacts.write_dataframe(analysis / f"seed{seed}" / "init_variants.csv", pd.DataFrame(rows, columns=cols))
        artifacts.write_json(analysis / f"seed{seed}" / "metrics.json",
                             {"input_gradient.sigmoid": 1e-14 * (seed - 40), "input_gradient.tanh": 1e-5,
                              "input_gradient.relu": 0.0})
    _png(analysis / "plots" / "gradient_flow.png")
    return root


def write_report(root: Path) -> dict:
    """report.md / report.html of ``make_reproduction(root)``, without the exercises' own figures
    (matplotlib on real runs: the browser test's slow case covers them)."""
    return report.write_reproduction_report(root, figures={"shallow_vs_deep": [], "vanishing_gradients": []})


@pytest.fixture(scope="module")
def repro(tmp_path_factory) -> tuple[Path, dict]:
    root = make_reproduction(tmp_path_factory.mktemp("repro"))
    return root, write_report(root)


def _md_tables(md: str) -> list[list[list[str]]]:
    """Every Markdown table as rows of cells, split at unescaped pipes as GFM does."""
    tables, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            current.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
        elif current:
            tables.append(current)
            current = []
    return tables


# -- integers print as integers -------------------------------------------------------------------


def test_integers_print_as_integers_in_markdown_and_html():
    """A row of ints and floats went through iterrows, which made every value a float: epochs 20 -> 20.000."""
    frame = pd.DataFrame({"variant": ["a"], "epochs": [20], "acc": [0.5], "epochs_run": [20.0]})
    md = to_markdown([Table(frame)], Path("."))
    assert "| a | 20 | 0.500 | 20 |" in md
    html = to_html([Table(frame)], "t")
    assert "20.000" not in html and re.search(r">20<", html)
    assert [format_value(v) for v in (3, np.int64(7), 14800.0, -1.0, 0.25, 2.5e-14, None, float("nan"))] == \
        ["3", "7", "14800", "-1", "0.250", "2.50e-14", "-", "-"]


def test_report_tables_have_no_integer_with_decimals(repro):
    root, paths = repro
    md = paths["md"].read_text()
    for table in _md_tables(md):
        header = table[0]
        for row in table[2:]:
            for col, cell in zip(header, row):
                if col in ("epochs", "batch", "params", "epochs_run", "seeds", "n_simulations", "layer"):
                    assert re.fullmatch(r"-?\d+", cell), (col, cell)
    assert "14800" in md and "14800.000" not in md  # deep - shallow parameters, a whole number
    assert "[14800, 14800]" in md


# -- Markdown escapes what HTML escapes ---------------------------------------------------------------


def test_markdown_cells_are_escaped():
    assert md_text(HOSTILE) == r"&lt;b&gt;x&lt;/b&gt;\|y"
    assert md_text("a < b and c > d") == "a < b and c > d"  # no tag can start there: left readable
    assert md_text("`x` *y* _z_ &amp; R&D") == r"\`x\` \*y\* \_z\_ &amp;amp; R&D"
    assert md_text("batchnorm_dropout") == "batchnorm_dropout"  # intraword _ is no emphasis
    assert md_text("two\nlines") == "two lines"


def test_hostile_variant_name_is_escaped_in_both_reports(repro):
    root, paths = repro
    md, html = paths["md"].read_text(), paths["html"].read_text()
    assert "<b>" not in md and "<b>" not in html
    assert r"&lt;b&gt;x&lt;/b&gt;\|y" in md
    assert "&lt;b&gt;x&lt;/b&gt;|y" in html
    # the pipe does not break the row: every row of every table has as many cells as its header
    tables = _md_tables(md)
    assert any(any(r"&lt;b&gt;x&lt;/b&gt;\|y" in c for c in row) for t in tables for row in t)
    for table in tables:
        assert all(len(row) == len(table[0]) for row in table), table[0]


# -- the claims tables say what the number is and why the verdict ----------------------------------------


def test_claims_tables_label_the_mean_and_give_a_reason(repro):
    root, paths = repro
    md = paths["md"].read_text()
    overview = next(t for t in _md_tables(md) if t[0][:2] == ["exercise", "claim"])
    header = overview[0]
    assert "note" not in header  # always empty in the rendered tables before
    assert {"quantity", "claimed", "mean of quantity", "95% CI", "verdict", "reason"} <= set(header)
    rows = {r[header.index("claim")][:40]: dict(zip(header, r)) for r in overview[2:]}
    fewer = next(r for k, r in rows.items() if k.startswith("Deep networks achieve better performance"))
    assert fewer["quantity"] == "deep.param_count − shallow.param_count"
    assert (fewer["claimed"], fewer["mean of quantity"], fewer["verdict"]) == ("< 0", "14800", "contradicted")
    assert "14800 >= 0" in fewer["reason"]
    chance = next(r for k, r in rows.items() if k.startswith("The deep network learns"))
    assert (chance["quantity"], chance["claimed"]) == ("deep.test_accuracy", "> 0.5")
    # the runs' spiral (noise 0.2): the best possible classifier is within sampling noise of chance
    assert chance["verdict"] == "undecidable here" and chance["reason"].startswith("the best possible classifier scores")
    missing = next(r for r in rows.values() if r["quantity"].startswith("relu_20"))
    assert missing["reason"] == "no finished runs to measure"  # the note, said once
    assert all(r["reason"] for r in rows.values())
    assert "`quantity`" in md and "`mean of quantity`" in md  # the method names the columns


def test_claims_csv_keeps_its_columns(repro):
    root, _ = repro
    frame = pd.read_csv(root / "claims.csv")
    assert list(frame.columns) == claims.CLAIM_COLUMNS
    assert "no finished runs" in " ".join(frame["note"].dropna())


# -- the verdict table on the terminal ------------------------------------------------------------------


def _claim_ids(root: Path) -> list[str]:
    return list(pd.read_csv(root / "claims.csv")["claim_id"])


def test_verdict_table_fits_80_columns(repro):
    from rich.console import Console

    root, paths = repro
    buf = io.StringIO()
    report.print_verdicts(paths["claims"], Console(file=buf, width=80, force_terminal=False))
    out = buf.getvalue()
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "\x1b[" not in out  # plain text when not a terminal
    frame = pd.read_csv(paths["claims"])
    for r in frame[frame["setting"] == "notebook"].itertuples():
        line = next(line for line in lines if line.startswith(r.claim_id + " "))  # whole, not folded
        assert r.verdict.replace("undecidable here", "undecidable") in line and format_value(r.mean) in line, line


def test_verdict_table_longest_claim_ids_are_not_folded_at_80_columns():
    from rich.console import Console

    from dlexp.notebook.exercises import all_exercises

    ids = [c["id"] for ex in all_exercises() for c in ex.claims]
    frame = pd.DataFrame({"claim_id": ids, "mean": -0.000558, "ci_low": -0.000558, "ci_high": 0.000685,
                          "verdict": "inconclusive"})
    buf = io.StringIO()
    report.print_verdicts(frame, Console(file=buf, width=80, force_terminal=False))
    lines = buf.getvalue().splitlines()
    assert max(map(len, lines)) <= 80
    for claim_id in ids:
        assert any(line.startswith(claim_id + " ") and "[-0.000558, 0.000685]" in line for line in lines), claim_id


def test_dlexp_report_prints_the_verdict_table(repro, capsys, monkeypatch):
    """`dlexp report DIR` on a reproduction: the verdict table (plain, as stdout is not a terminal here,
    $COLUMNS wide), then the paths."""
    root, _ = repro
    monkeypatch.setenv("COLUMNS", "80")
    assert report.main([str(root)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[-1] == f"report: {root / 'report.html'}"
    assert re.search(r"^\d+ supported, \d+ contradicted, \d+ inconclusive, \d+ undecidable here \(of \d+ claims\)$", out, re.M)
    for claim_id in _claim_ids(root):
        assert re.search(rf"^{claim_id} +\S", out, re.M), claim_id
    assert re.search(r"^deep_fewer_parameters +14800 +\[14800, 14800\] +contradicted", out, re.M)


def test_every_verdict_row_is_coloured_in_html():
    """'undecidable here' rows had no class, so the overview showed them uncoloured."""
    from dlexp.report import stats

    frame = pd.DataFrame({"claim": ["a", "b", "c", "d"], "verdict": list(stats.VERDICTS)})
    html = to_html([Table(frame)], "t")
    for cls in ("supported", "contradicted", "inconclusive", "undecidable"):
        assert f'<tr class="{cls}">' in html
