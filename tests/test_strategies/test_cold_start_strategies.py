"""TypiClust and ProbCover on constructed features: dense clusters, outliers and
a small far-away group, where the right answer is known."""
import numpy as np
import pytest

from mmal.strategies import Candidates, ProbCoverStrategy, TypiClustStrategy
from mmal.strategies.clustering import kmeans
from mmal.strategies.probcover import purity_delta

# Cluster centres along 5 of 8 axes: apart as points and as directions (ProbCover
# normalises the features).
CENTERS = 10 * np.eye(5, 8)


def blobs(seed=0, per_cluster=30, outliers=6):
    """Dense clusters around ``CENTERS`` (std 0.5) and outliers scattered in
    between them; returns the points and each point's cluster (-1: outlier)."""
    rng = np.random.default_rng(seed)
    points = [c + rng.normal(scale=0.5, size=(per_cluster, 8)) for c in CENTERS]
    labels = [np.full(per_cluster, i) for i in range(len(CENTERS))]
    points.append(rng.uniform(-1, 8, size=(outliers, 8)))
    labels.append(np.full(outliers, -1))
    points, labels = np.concatenate(points), np.concatenate(labels)
    # Outliers are at least 3 away from every cluster centre.
    far = np.linalg.norm(points[:, None] - CENTERS[None], axis=2).min(1) > 3
    keep = (labels >= 0) | far
    order = rng.permutation(int(keep.sum()))  # no help from the order
    return points[keep][order], labels[keep][order]


def candidates(points):
    return Candidates.from_arrays([f'k{i}' for i in range(len(points))],
                                  features=points)


def positions(keys):
    return [int(key[1:]) for key in keys]


def mean_knn_distance(points, i, members, k):
    dist = np.sort(np.linalg.norm(points[members] - points[i], axis=1))
    return dist[1:k + 1].mean()  # itself at distance 0 first


def test_typiclust_takes_the_most_typical_point_of_each_dense_cluster():
    points, labels = blobs()
    assert (labels == -1).sum() >= 2
    keys, scores = TypiClustStrategy().select(candidates(points), len(CENTERS),
                                              np.random.default_rng(0))
    chosen = positions(keys)
    assert sorted(labels[chosen]) == list(range(len(CENTERS)))  # one each, no outlier
    # The same clusters as the strategy's (same features, same stream).
    clusters = kmeans(points, len(CENTERS), np.random.default_rng(0))
    for i, score in zip(chosen, scores):
        members = np.flatnonzero(clusters == clusters[i])
        k = min(20, len(members) // 2)
        typical = [1 / mean_knn_distance(points, j, members, k) for j in members]
        assert i == members[int(np.argmax(typical))]
        assert score == pytest.approx(max(typical), rel=1e-6)


def test_typiclust_skips_a_small_cluster():
    points, labels = blobs(seed=1, outliers=0)
    # A tight pair far away: its own k-means cluster, and very typical.
    pair = np.zeros((2, 8))
    pair[:, 7] = [60.0, 60.1]
    points = np.concatenate([points, pair])
    labels = np.concatenate([labels, [-2, -2]])
    keys, _ = TypiClustStrategy().select(candidates(points), len(CENTERS) + 1,
                                         np.random.default_rng(0))
    chosen = labels[positions(keys)]
    assert -2 not in chosen and set(chosen) == set(range(len(CENTERS)))
    # Without enough dense clusters it still meets the budget.
    keys, _ = TypiClustStrategy(min_cluster_size=100).select(
        candidates(points), 3, np.random.default_rng(0))
    assert len(set(keys)) == 3


def brute_force_purity(points, pseudo, delta):
    """Share of balls {x' : |x - x'| < delta} that hold one pseudo-label only."""
    dist = np.linalg.norm(points[:, None] - points[None], axis=2)
    return np.mean([(pseudo[dist[i] < delta] == pseudo[i]).all()
                    for i in range(len(points))])


def test_probcover_auto_delta_follows_the_purity_rule():
    points, _ = blobs(seed=2)
    normalised = points / np.linalg.norm(points, axis=1, keepdims=True)
    strategy = ProbCoverStrategy(num_classes=len(CENTERS))
    keys, scores = strategy.select(candidates(points), len(CENTERS),
                                   np.random.default_rng(5))
    pseudo = kmeans(normalised, len(CENTERS), np.random.default_rng(5))
    delta = strategy.last_delta
    assert delta == pytest.approx(purity_delta(normalised, pseudo))
    assert brute_force_purity(normalised, pseudo, delta) >= 0.95
    # The largest such radius: a little more and too many balls mix.
    assert brute_force_purity(normalised, pseudo, delta * 1.001 + 1e-9) < 0.95
    assert scores == sorted(scores, reverse=True) and scores[0] > 1


def test_probcover_covers_every_cluster():
    points, labels = blobs(seed=3)
    keys, _ = ProbCoverStrategy(delta=0.3).select(
        candidates(points), len(CENTERS), np.random.default_rng(0))
    assert set(labels[positions(keys)]) == set(range(len(CENTERS)))
    keys, _ = ProbCoverStrategy().select(candidates(points), 2 * len(CENTERS),
                                         np.random.default_rng(0))
    assert set(range(len(CENTERS))) <= set(labels[positions(keys)])


@pytest.mark.parametrize('strategy', [TypiClustStrategy(), ProbCoverStrategy()])
def test_cold_start_strategies_are_deterministic_for_a_seed(strategy):
    points, _ = blobs(seed=4)
    first = strategy.select(candidates(points), 7, np.random.default_rng(11))
    again = strategy.select(candidates(points), 7, np.random.default_rng(11))
    assert first == again and len(set(first[0])) == 7


def test_probcover_refuses_a_bad_delta():
    with pytest.raises(ValueError, match="delta must be 'auto'"):
        ProbCoverStrategy(delta=-1)
