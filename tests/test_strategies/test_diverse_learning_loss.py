import numpy as np
import pytest
import torch

from mmal.registry import STRATEGIES
from mmal.strategies import (Candidates, DiverseLearningLossStrategy,
                             LearningLossStrategy)

RNG = np.random.default_rng(0)


def clusters():
    """Three tight pairs of near-duplicates; each pair's losses are adjacent."""
    keys = ['a1', 'a2', 'b1', 'b2', 'c1', 'c2', 'd']
    loss = np.array([9.0, 8.9, 8.0, 7.9, 7.0, 6.9, 1.0])
    centers = {'a': [0., 0.], 'b': [10., 0.], 'c': [0., 10.], 'd': [10., 10.]}
    features = np.array([np.add(centers[key[0]], [0.01 * i, 0.])
                         for i, key in enumerate(keys)])
    return keys, loss, features


def test_near_duplicates_are_not_chosen_together():
    keys, loss, features = clusters()
    candidates = Candidates.from_arrays(keys, predicted_loss=loss, features=features)
    plain, _ = LearningLossStrategy().select(candidates, 3, RNG)
    assert plain == ['a1', 'a2', 'b1']  # spends two of three on one digit
    chosen, scores = DiverseLearningLossStrategy(beta=2).select(candidates, 3, RNG)
    # The top loss first, then one of each other pair in the top 6.
    assert chosen[0] == 'a1'
    assert sorted(key[0] for key in chosen) == ['a', 'b', 'c']
    assert scores == [loss[keys.index(key)] for key in chosen]


def test_shortlist_bounds_the_loss_and_features_are_read_only_for_it():
    keys, loss, features = clusters()
    asked = []

    def feature_source(positions):
        asked.append(positions)
        return features if positions is None else features[positions]

    candidates = Candidates(keys, dict(predicted_loss=lambda p: loss,
                                       features=feature_source))
    chosen, _ = DiverseLearningLossStrategy(beta=1.5).select(candidates, 2, RNG)
    # ceil(1.5 * 2) = 3: a1, a2, b1 by loss; 'd' is far away but never shortlisted.
    assert asked == [[0, 1, 2]]
    assert chosen == ['a1', 'b1']


def test_beta_one_is_learning_loss():
    rng = np.random.default_rng(1)
    keys = [str(i) for i in range(50)]
    candidates = Candidates.from_arrays(keys, predicted_loss=rng.normal(size=50),
                                        features=rng.normal(size=(50, 4)))
    plain, plain_scores = LearningLossStrategy().select(candidates, 10, RNG)
    chosen, scores = DiverseLearningLossStrategy(beta=1).select(candidates, 10, RNG)
    assert sorted(chosen) == sorted(plain)
    assert sorted(scores) == sorted(plain_scores)


def test_registered_needs_the_head_and_a_valid_beta():
    strategy = STRATEGIES.build(dict(type='DiverseLearningLossStrategy', beta=3))
    assert strategy.beta == 3
    with pytest.raises(TypeError, match='LearningLossModel'):
        strategy.check_model(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match='beta must be at least 1'):
        DiverseLearningLossStrategy(beta=0.5)
