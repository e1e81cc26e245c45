
import numpy as np
import pytest
import torch

from mmal.strategies import (Candidates, CoreSetStrategy, EntropyStrategy,
                             LearningLossStrategy, RandomStrategy, k_center_greedy)


def test_learning_loss_chooses_top_scored_keys():
    keys = ['a', 'b', 'c', 'd', 'e', 'f']
    scores = np.array([0.1, 2.5, -1.0, 2.5, 7.0, 0.3])
    chosen, chosen_scores = LearningLossStrategy().select(
        Candidates.from_arrays(keys, predicted_loss=scores), 3,
        np.random.default_rng(0))
    # Highest first; the tie between b and d keeps pool order.
    assert chosen == ['e', 'b', 'd']
    assert chosen_scores == [7.0, 2.5, 2.5]


def test_entropy_is_top_score_too():
    candidates = Candidates.from_arrays(['x', 'y', 'z'],
                                        entropy=np.array([0.2, 0.9, 0.5]))
    chosen, _ = EntropyStrategy().select(candidates, 1, np.random.default_rng(0))
    assert chosen == ['y']


def test_random_is_seeded_and_unique():
    candidates = Candidates.from_arrays([str(i) for i in range(100)])
    first, _ = RandomStrategy().select(candidates, 10, np.random.default_rng(3))
    again, _ = RandomStrategy().select(candidates, 10, np.random.default_rng(3))
    other, _ = RandomStrategy().select(candidates, 10, np.random.default_rng(4))
    assert first == again and first != other
    assert len(set(first)) == 10


def brute_force_k_center(points, centers, num):
    """The greedy answer by trying every candidate at every step."""
    chosen = []
    for _ in range(num):
        best, best_dist = None, -1.0
        for i in range(len(points)):
            if i in chosen:
                continue
            all_centers = [c for c in centers] + [points[j] for j in chosen]
            dist = min((np.linalg.norm(points[i] - c) for c in all_centers),
                       default=np.inf)
            if dist > best_dist:
                best, best_dist = i, dist
        chosen.append(best)
    return chosen


@pytest.mark.parametrize('chunk_size', [1, 3, 4096])
def test_k_center_greedy_matches_brute_force(chunk_size):
    rng = np.random.default_rng(0)
    points = rng.normal(size=(12, 3))
    centers = rng.normal(size=(4, 3))
    chosen, distances = k_center_greedy(points, centers, 5, chunk_size)
    assert chosen == brute_force_k_center(points, centers, 5)
    # Each distance is the chosen point's distance to the centers so far.
    expected = np.min(np.linalg.norm(points[chosen[0]] - centers, axis=1))
    assert distances[0] == pytest.approx(expected)
    assert all(a >= b for a, b in zip(distances, distances[1:]))


def test_coreset_without_labeled_centers():
    points = np.array([[0.0], [10.0], [1.0], [5.0]])
    candidates = Candidates.from_arrays(['a', 'b', 'c', 'd'], features=points,
                                        labeled_features=np.zeros((0, 1)))
    chosen, _ = CoreSetStrategy().select(candidates, 3, np.random.default_rng(0))
    assert chosen == brute_force_k_center_keys(points, 3)


def brute_force_k_center_keys(points, num):
    # With no centers the first pick is the first point, then farthest-first.
    order = [0]
    for _ in range(num - 1):
        dists = [min(abs(points[i, 0] - points[j, 0]) for j in order)
                 if i not in order else -1 for i in range(len(points))]
        order.append(int(np.argmax(dists)))
    return ['abcd'[i] for i in order]


def test_learning_loss_needs_the_head():
    with pytest.raises(TypeError, match='LearningLossModel'):
        LearningLossStrategy().check_model(torch.nn.Linear(2, 2))


def test_candidates_compute_each_output_once_and_name_what_is_missing():
    calls = []

    def predicted_loss(positions):
        calls.append(positions)
        values = np.arange(4.)
        return values if positions is None else values[positions]

    candidates = Candidates(list('abcd'), dict(predicted_loss=predicted_loss))
    assert candidates.predicted_loss().tolist() == [0., 1., 2., 3.]
    assert candidates.predicted_loss().tolist() == [0., 1., 2., 3.]
    assert candidates.predicted_loss([3, 1]).tolist() == [3., 1.]
    assert calls == [None, [3, 1]]
    with pytest.raises(KeyError, match="'entropy' is not available.*predicted_loss"):
        candidates.entropy()
