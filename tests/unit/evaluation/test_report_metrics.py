from __future__ import annotations

import numpy as np
import pytest

from mmedrag.evaluation.closed import auroc
from mmedrag.evaluation.open_answers import exact_match, normalize_answer, open_metrics, token_recall
from mmedrag.evaluation.retrieval_metrics import ndcg_at_k, reciprocal_rank, retrieval_metrics
from mmedrag.evaluation.stats import approximate_randomization, bootstrap_ci, paired_bootstrap_ci


@pytest.mark.parametrize(
    ("prediction", "gold", "em", "recall"),
    [
        ("The left lung.", "left lung", 1.0, 1.0),
        ("Right lower lobe", "left lower lobe", 0.0, 2 / 3),
        ("MRI", "mri", 1.0, 1.0),
        ("", "axial", 0.0, 0.0),
    ],
)
def test_open_answer_metrics(prediction: str, gold: str, em: float, recall: float) -> None:
    assert exact_match(prediction, gold) == em and token_recall(prediction, gold) == pytest.approx(recall)


def test_open_metrics_average_and_normalisation() -> None:
    assert normalize_answer("An X-ray, the chest!") == ["x", "ray", "chest"]
    m = open_metrics(["left lung", "ct"], ["left lung", "mri"])
    assert m == {"n": 2, "exact_match": 0.5, "token_recall": 0.5}


def test_auroc_matches_sklearn_including_ties() -> None:
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the oracle: pip install 'mmedrag[dev]'")
    roc_auc_score = metrics.roc_auc_score
    rng = np.random.default_rng(0)
    golds = ["yes" if g else "no" for g in rng.integers(0, 2, 200)]
    probs = np.round(rng.random(200), 1).tolist()  # rounding creates ties
    expected = roc_auc_score([g == "yes" for g in golds], probs)
    assert auroc(probs, golds) == pytest.approx(expected)
    assert auroc([0.2, 0.9], ["yes", "yes"]) is None


def test_retrieval_metrics_by_hand() -> None:
    assert reciprocal_rank(["a", "b", "c"], {"c"}) == pytest.approx(1 / 3)
    assert ndcg_at_k(["x", "a"], {"a"}, 2) == pytest.approx((1 / np.log2(3)) / 1.0)
    m = retrieval_metrics([["a", "b"], ["c", "d"], ["e"]], [{"b"}, {"z"}, set()], ks=(1, 2))
    assert m["n"] == 2 and m["recall@1"] == 0.0 and m["recall@2"] == 0.5 and m["mrr"] == pytest.approx(0.25)


def test_bootstrap_interval_contains_the_mean_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(1)
    small, large = rng.random(50), rng.random(5000)
    point, low, high = bootstrap_ci(small)
    assert low < point < high and point == pytest.approx(small.mean())
    _, low2, high2 = bootstrap_ci(large)
    assert high2 - low2 < high - low


def test_paired_tests_detect_a_real_difference_and_not_a_null_one() -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(0, 2, 400).astype(float)
    better = np.where(rng.random(400) < 0.2, 1.0, a)  # flips some wrong answers to right
    diff, p = approximate_randomization(a, better, samples=2000)
    assert diff > 0 and p < 0.01
    _, low, high = paired_bootstrap_ci(a, better)
    assert low > 0
    same_diff, same_p = approximate_randomization(a, a.copy(), samples=500)
    assert same_diff == 0 and same_p == 1.0
    with pytest.raises(ValueError, match="same questions"):
        approximate_randomization([1.0, 0.0], [1.0])
