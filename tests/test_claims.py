"""Claims: every claim in the YAML refers to runs and metrics that exist; each verdict on synthetic runs."""

import json

import pytest

from dlexp import artifacts
from dlexp.notebook import claims
from dlexp.config import experiment
from dlexp.report import stats
from dlexp.notebook.exercises import all_exercises
from dlexp.notebook.metrics import METRICS


def _analysis_metric_names():
    from dlexp.notebook.analysis import exercises as analysis

    return {
        "vanishing_gradients": set(analysis.vanishing_gradients_analysis(n_simulations=10)["metrics"]),
        "modern_activations": set(analysis.modern_activations_analysis()["metrics"]),
    }


@pytest.mark.slow
def test_every_claim_refers_to_existing_runs_and_metrics(compose):
    analysis_metrics = _analysis_metric_names()
    n = 0
    for ex in all_exercises():
        for claim in ex.claims:
            n += 1
            assert {"id", "claim", "metric", "op"} <= claim.keys(), claim
            assert claim["op"] in stats.OPS
            assert ("b" in claim) != ("value" in claim), f"{claim['id']}: compare with b or a value"
            if "analysis" in claim:
                assert claim["metric"] in analysis_metrics[claim["analysis"]], claim["id"]
                continue
            assert claim["preset"] in ex.presets, claim["id"]
            assert claim["metric"] in METRICS, claim["id"]
            variants = {j.spec.variant for j in experiment.expand(compose([f"+exp={claim['preset']}"]))}
            assert claim["a"] in variants, (claim["id"], claim["a"], variants)
            if "b" in claim:
                assert claim["b"] in variants, (claim["id"], claim["b"])
    assert n >= 20


def _fake_run(root, variant, seed, **summary):
    folder = root / "ex" / "preset" / "runs" / variant / f"seed{seed}"
    folder.mkdir(parents=True)
    artifacts.write_json(folder / "summary.json", {"kind": "run", "variant": variant, "seed": seed,
                                                   "status": "completed", **summary})
    return folder


@pytest.mark.parametrize("a_acc,b_acc,expected", [
    ([0.90, 0.91, 0.92], [0.80, 0.80, 0.81], stats.SUPPORTED),
    ([0.70, 0.71, 0.72], [0.80, 0.80, 0.81], stats.CONTRADICTED),
    ([0.80, 0.85, 0.75], [0.80, 0.80, 0.80], stats.INCONCLUSIVE),
])
def test_paired_claim_verdicts_on_synthetic_runs(tmp_path, a_acc, b_acc, expected):
    for seed, (a, b) in enumerate(zip(a_acc, b_acc)):
        _fake_run(tmp_path, "A", seed, test_accuracy=a)
        _fake_run(tmp_path, "B", seed, test_accuracy=b)
    claim = {"id": "c", "claim": "A beats B", "preset": "preset", "metric": "test_accuracy", "a": "A", "op": ">", "b": "B"}
    result = claims.evaluate_claim(tmp_path, "ex", claim)
    assert result.verdict == expected
    assert result.estimate.n == 3
    assert result.check == "A.test_accuracy > B.test_accuracy"
    row = result.row()
    assert json.loads(row["values"])["0"]["diff"] == pytest.approx(a_acc[0] - b_acc[0])


def test_threshold_claim_and_unfinished_runs(tmp_path):
    _fake_run(tmp_path, "A", 1, param_count=100)
    _fake_run(tmp_path, "A", 2, param_count=100)
    _fake_run(tmp_path, "A", 3, param_count=None, **{"status": "failed"})
    claim = {"id": "p", "claim": "small", "preset": "preset", "metric": "param_count", "a": "A", "op": "<", "value": 200}
    result = claims.evaluate_claim(tmp_path, "ex", claim)
    assert result.verdict == stats.SUPPORTED and result.estimate.n == 2
    assert "A/seed3" in result.note


def test_single_seed_of_a_varying_metric_is_inconclusive(tmp_path):
    _fake_run(tmp_path, "A", 1, test_accuracy=0.9)
    _fake_run(tmp_path, "B", 1, test_accuracy=0.1)
    claim = {"id": "c", "claim": "A > B", "preset": "preset", "metric": "test_accuracy", "a": "A", "op": ">", "b": "B"}
    result = claims.evaluate_claim(tmp_path, "ex", claim)
    assert result.verdict == stats.INCONCLUSIVE and "one seed" in result.note


def test_analysis_claims_read_per_seed_metrics(tmp_path):
    for seed, v in ((42, 1e-14), (43, 2e-14)):
        artifacts.write_json(tmp_path / "ex" / "analysis" / f"seed{seed}" / "metrics.json", {"input_gradient.sigmoid": v})
    claim = {"id": "s", "claim": "vanishes", "analysis": "x", "metric": "input_gradient.sigmoid", "op": "<", "value": 1e-6}
    result = claims.evaluate_claim(tmp_path, "ex", claim)
    assert result.verdict == stats.SUPPORTED and result.estimate.n == 2
