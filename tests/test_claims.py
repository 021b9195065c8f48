"""Claims: every claim in the YAML refers to runs and metrics that exist; each verdict on synthetic runs."""

import json

import pytest

from dlexp import artifacts
from dlexp.notebook import claims
from dlexp.config import experiment
from dlexp.report import stats
from dlexp.notebook.exercises import Exercise, Variation, all_exercises
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
            bs = [claim["b"]] if isinstance(claim.get("b"), str) else claim.get("b", [])
            assert set(bs) <= variants, (claim["id"], bs)
            for name in claim.get("variations", []):
                assert name in ex.variations, (claim["id"], name)
    assert n >= 20


SPIRAL = {"name": "spiral", "n_samples": 1000, "n_classes": 3, "noise": 0.2, "seed": 42}


def _fake_run(root, variant, seed, folder="preset", history=None, config=None, **summary):
    run = root / "ex" / folder / "runs" / variant / f"seed{seed}"
    run.mkdir(parents=True)
    artifacts.write_json(run / "summary.json", {"kind": "run", "variant": variant, "seed": seed,
                                                "status": "completed", **summary})
    if history is not None:
        (run / "metrics.csv").write_text("epoch,loss,val_accuracy\n" + "".join(
            f"{e + 1},{loss},{acc}\n" for e, (loss, acc) in enumerate(history)))
    if config is not None:
        artifacts.write_yaml(run / "config.yaml", config)
    return run


def _evaluate(root, *claim_list, variations=None):
    ex = Exercise(name="ex", order=1, title="ex", notebook="", presets=("preset",), analysis=None,
                  claims=tuple(claim_list), variations=variations or {})
    frame = claims.evaluate(root, [ex])
    assert list(frame.columns) == claims.CLAIM_COLUMNS + claims.DETAIL_COLUMNS
    return frame


def _claim(**kw):
    return {"id": "c", "claim": "A beats B", "preset": "preset", "metric": "test_accuracy", "a": "A", "op": ">",
            "b": "B", **kw}


@pytest.mark.parametrize("a_acc,b_acc,expected", [
    ([0.90, 0.91, 0.92, 0.93, 0.90, 0.91], [0.80, 0.80, 0.81, 0.8, 0.82, 0.8], stats.SUPPORTED),
    ([0.70, 0.71, 0.72, 0.70, 0.71, 0.72], [0.80, 0.80, 0.81, 0.8, 0.82, 0.8], stats.CONTRADICTED),
    ([0.80, 0.85, 0.75, 0.8, 0.85, 0.75], [0.80, 0.80, 0.80, 0.8, 0.8, 0.8], stats.INCONCLUSIVE),
])
def test_paired_claim_verdicts_on_synthetic_runs(tmp_path, a_acc, b_acc, expected):
    """Six seeds: the exact sign-flip test can reach 1/64 < 0.05 for a single claim."""
    for seed, (a, b) in enumerate(zip(a_acc, b_acc)):
        _fake_run(tmp_path, "A", seed, test_accuracy=a)
        _fake_run(tmp_path, "B", seed, test_accuracy=b)
    row = _evaluate(tmp_path, _claim()).iloc[0]
    assert row["verdict"] == expected and row["n_seeds"] == 6 and row["setting"] == "notebook"
    assert row["check"] == "A.test_accuracy > B.test_accuracy"
    assert json.loads(row["values"])["0"]["diff"] == pytest.approx(a_acc[0] - b_acc[0])
    assert 0 <= row["p_value"] <= 1


def test_holm_corrects_over_all_claims_of_a_report(tmp_path):
    """Alone, 6 seeds all in favour decide a claim (p = 1/64); among four such claims Holm's first
    threshold is 0.05 / 4 = 0.0125 < 1/64, so none is decided."""
    for seed in range(6):
        _fake_run(tmp_path, "A", seed, test_accuracy=0.9 + seed / 100)
        _fake_run(tmp_path, "B", seed, test_accuracy=0.8)
    one = _evaluate(tmp_path, _claim())
    four = _evaluate(tmp_path, *[_claim(id=f"c{i}") for i in range(4)])
    assert one["verdict"].tolist() == [stats.SUPPORTED]
    assert four["verdict"].tolist() == [stats.INCONCLUSIVE] * 4
    assert "p(> 0) = 0.016 > Holm threshold 0.013 (4 claims)" in four["reason"].iloc[0]


def test_threshold_claim_and_unfinished_runs(tmp_path):
    _fake_run(tmp_path, "A", 1, param_count=100)
    _fake_run(tmp_path, "A", 2, param_count=100)
    _fake_run(tmp_path, "A", 3, param_count=None, **{"status": "failed"})
    claim = {k: v for k, v in _claim(metric="param_count", op="<", value=200).items() if k != "b"}
    row = _evaluate(tmp_path, claim).iloc[0]
    assert row["verdict"] == stats.SUPPORTED and row["n_seeds"] == 2
    assert "A/seed3" in row["note"]


def test_a_deterministic_value_is_decided_with_one_seed(tmp_path):
    _fake_run(tmp_path, "A", 1, param_count=100)
    _fake_run(tmp_path, "B", 1, param_count=300)
    row = _evaluate(tmp_path, _claim(metric="param_count", op="<")).iloc[0]
    assert row["verdict"] == stats.SUPPORTED and row["n_seeds"] == 1


def test_single_seed_of_a_varying_metric_is_inconclusive(tmp_path):
    _fake_run(tmp_path, "A", 1, test_accuracy=0.9)
    _fake_run(tmp_path, "B", 1, test_accuracy=0.1)
    row = _evaluate(tmp_path, _claim()).iloc[0]
    assert row["verdict"] == stats.INCONCLUSIVE and "one seed" in row["reason"]


def test_analysis_claims_are_decided_by_their_values(tmp_path):
    for seed, v in ((42, 1e-14), (43, 2e-14)):
        artifacts.write_json(tmp_path / "ex" / "analysis" / f"seed{seed}" / "metrics.json", {"input_gradient.sigmoid": v})
    claim = {"id": "s", "claim": "vanishes", "analysis": "x", "metric": "input_gradient.sigmoid", "op": "<", "value": 1e-6}
    row = _evaluate(tmp_path, claim).iloc[0]
    assert row["verdict"] == stats.SUPPORTED and row["n_seeds"] == 2


def test_a_run_that_never_reaches_the_target_is_censored_not_fast(tmp_path):
    """The old metric measured each run against its own final value: a run stuck at 0.55 'reached
    90%' at epoch 1. With a fixed target it counts as the budget + 1, slower than any run that got there."""
    cfg = {"trainer": {"epochs": 50}}
    for seed in range(6):
        _fake_run(tmp_path, "A", seed, history=[(1.0, 0.55)] * 14, config=cfg)  # stopped early, never at 0.9
        _fake_run(tmp_path, "B", seed, history=[(1.0, 0.5)] * 9 + [(0.5, 0.91)] * 5, config=cfg)
    row = _evaluate(tmp_path, _claim(id="fast", metric="epochs_to_val_accuracy_0.9", op="<")).iloc[0]
    assert row["mean"] == pytest.approx(51 - 10)
    assert row["verdict"] == stats.CONTRADICTED
    assert "censored" in row["note"] and "A/seed0" in row["note"]


def _spiral_config(noise=0.2):
    return {"dataset": {**SPIRAL, "noise": noise}, "trainer": {"test_size": 0.2, "split_seed": 42, "stratify": True,
                                                               "epochs": 50}}


def test_accuracy_claims_under_the_spiral_ceiling_are_undecidable(tmp_path):
    """Noise 0.2: the best possible classifier scores about 0.40 against chance 0.335 on 200 test points."""
    for seed in range(6):
        _fake_run(tmp_path, "A", seed, test_accuracy=0.36 + seed / 200, config=_spiral_config())
        _fake_run(tmp_path, "B", seed, test_accuracy=0.35, config=_spiral_config())
    above = {k: v for k, v in _claim(id="above", op=">", value=0.5).items() if k != "b"}
    frame = _evaluate(tmp_path, _claim(), above)
    assert frame["verdict"].tolist() == [stats.UNDECIDABLE, stats.UNDECIDABLE]
    assert frame["ceiling"].iloc[0] == pytest.approx(0.396, abs=0.005)
    assert "best possible classifier scores 0.396" in frame["reason"].iloc[0]


def test_a_claim_is_decidable_where_the_data_allow(tmp_path):
    for seed in range(6):
        _fake_run(tmp_path, "A", seed, test_accuracy=0.8 + seed / 100, config=_spiral_config(0.05))
        _fake_run(tmp_path, "B", seed, test_accuracy=0.6, config=_spiral_config(0.05))
    row = _evaluate(tmp_path, _claim()).iloc[0]
    assert row["verdict"] == stats.SUPPORTED and row["ceiling"] == pytest.approx(0.869, abs=0.005)


def test_best_means_better_than_every_other_variant(tmp_path):
    for seed in range(6):
        _fake_run(tmp_path, "A", seed, test_accuracy=0.90 + seed / 1000)
        _fake_run(tmp_path, "B", seed, test_accuracy=0.80)
        _fake_run(tmp_path, "C", seed, test_accuracy=0.95)
    row = _evaluate(tmp_path, _claim(b=["B", "C"])).iloc[0]
    assert row["verdict"] == stats.CONTRADICTED
    assert row["quantity"] == "A.test_accuracy − C.test_accuracy"
    assert row["check"] == "A.test_accuracy > each of {B, C}.test_accuracy"


def test_configurations_that_trained_identically_cannot_show_an_effect(tmp_path):
    """Clipping that never binds: the clipped and unclipped runs have the same loss at every epoch."""
    for seed in range(6):
        history = [(1.0 / (e + 1), 0.5) for e in range(5)]
        _fake_run(tmp_path, "A", seed, history=history)
        _fake_run(tmp_path, "B", seed, history=history)
    row = _evaluate(tmp_path, _claim(metric="max_loss_rise", op="<")).iloc[0]
    assert row["verdict"] == stats.UNDECIDABLE and "trained identically in every seed" in row["reason"]


def test_variations_are_judged_and_the_cause_is_named(tmp_path):
    es = {"trainer": {"epochs": 50, "early_stopping": {"enabled": True, "patience": 10, "restore_best": True}}}
    off = {"trainer": {"epochs": 50, "early_stopping": {"enabled": False}}}
    for seed in range(6):
        _fake_run(tmp_path, "A", seed, test_accuracy=0.50, epochs_run=13 + seed % 2, best_epoch=3,
                  history=[(1.0, 0.5)] * 3 + [(0.9, 0.6 + e / 100) for e in range(10 + seed % 2)], config=es)
        _fake_run(tmp_path, "B", seed, test_accuracy=0.90, epochs_run=50, config=es)
        _fake_run(tmp_path, "A", seed, folder="preset__no_es", test_accuracy=0.93 + seed / 1000, epochs_run=50, config=off)
        _fake_run(tmp_path, "B", seed, folder="preset__no_es", test_accuracy=0.90, epochs_run=50, config=off)
    variation = Variation("no_es", "early stopping off", (("trainer.early_stopping.enabled", False),))
    frame = _evaluate(tmp_path, _claim(variations=["no_es"]), variations={"no_es": variation})
    assert frame["setting"].tolist() == ["notebook", "no_es"]
    assert frame["verdict"].tolist() == [stats.CONTRADICTED, stats.SUPPORTED]
    cause = frame["cause"].iloc[0]
    assert "early stopping (patience 10) stopped A at epoch 13-14 of 50 in all 6 seeds" in cause
    assert "keeping the weights of epoch 3 while validation accuracy was still rising" in cause
    assert "with early stopping off: A 0.5 -> 0.933, B 0.9 -> 0.9; the verdict becomes supported" in cause


@pytest.mark.parametrize("noise,named", [(0.05, True), (0.2, False)])
def test_a_collapse_is_named_only_where_the_data_can_be_learnt(tmp_path, noise, named):
    """On the notebook's spiral every run is 'at chance' because the data allow no more: saying so
    would blame the networks for the data."""
    for seed in range(6):
        _fake_run(tmp_path, "A", seed, test_accuracy=0.34 if seed == 3 else 0.8, config=_spiral_config(noise))
        _fake_run(tmp_path, "B", seed, test_accuracy=0.6, config=_spiral_config(noise))
    cause = _evaluate(tmp_path, _claim())["cause"].iloc[0]
    assert ("A ended at chance (0.34) in 1 of 6 seeds (3) (test accuracy 0.340)" in cause) == named, cause


def test_the_cause_says_how_often_clipping_acted(tmp_path):
    for seed in range(6):
        for variant, share in (("A", 0.25), ("B", None)):
            run = _fake_run(tmp_path, variant, seed, test_accuracy=0.5,
                            config={"clipping": {"kind": "value" if share else "none", "value": 1.0}})
            (run / "metrics.csv").write_text("epoch,loss,val_accuracy,clipped_share\n"
                                             f"1,1.0,0.5,{share or 0.0}\n2,0.9,0.5,{share or 0.0}\n")
    cause = _evaluate(tmp_path, _claim(metric="max_loss_rise", op="<"))["cause"].iloc[0]
    assert "clipping changed A's gradient in 25.0% of its steps" in cause
    assert "B's gradient" not in cause  # B does not clip
