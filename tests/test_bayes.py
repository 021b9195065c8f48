"""The Bayes ceilings of the generated data sets: exact posteriors checked against fresh draws."""

import math

import numpy as np
import pytest

from dlexp.data import bayes
from dlexp.data.generators import GENERATORS


def _draw_and_score(name, **fields):
    """Accuracy of the Bayes rule on a fresh draw (all points) vs its expected accuracy there."""
    module = GENERATORS[name]
    cfg = module.Config(**fields)
    x, y = module.generate(cfg)
    post = module.posterior(cfg, x)
    c = bayes.ceiling(post, y)
    return c, math.sqrt(c.accuracy * (1 - c.accuracy) / len(y))


@pytest.mark.parametrize("name,fields", [
    ("spiral", {"noise": 0.2, "seed": 7}),
    ("spiral", {"noise": 0.05, "seed": 8}),
    ("moons_circles", {"seed": 9}),
    ("moons_circles", {"seed": 10, "moons_noise": 0.4, "circles_noise": 0.3}),
])
def test_the_bayes_rule_scores_its_expected_accuracy_on_fresh_draws(name, fields):
    """A wrong noise scale (e.g. the circles' noise not scaled with them) or a wrong standardization
    makes the rule's realized accuracy drift away from the accuracy its posterior expects."""
    c, sd = _draw_and_score(name, **fields)
    assert abs(c.realized - c.accuracy) < 3 * sd, c


def test_the_notebooks_spiral_is_barely_learnable():
    c, _ = _draw_and_score("spiral", noise=0.2, seed=42)
    assert 0.38 < c.accuracy < 0.41 and c.chance == pytest.approx(1 / 3, abs=0.01)


def test_random_labels_have_a_ceiling_of_one_half():
    c, _ = _draw_and_score("unstable", seed=3)
    assert c.accuracy == 0.5


def test_posterior_rows_are_distributions_and_noise_zero_is_certain():
    module = GENERATORS["spiral"]
    cfg = module.Config(noise=0.0, n_samples=300)
    x, y = module.generate(cfg)
    post = module.posterior(cfg, x[5:295])  # away from the shared centre point
    assert np.allclose(post.sum(axis=1), 1.0)
    assert (post.argmax(axis=1) == y[5:295]).mean() > 0.97


def test_data_sets_without_a_known_distribution_have_no_posterior():
    assert not hasattr(GENERATORS["classification"], "posterior")
    assert not hasattr(GENERATORS["digits"], "posterior")
