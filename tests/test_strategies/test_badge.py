"""BADGE: closed-form gradient embeddings against autograd, and k-means++ seeding
that spreads over gradient directions."""
import numpy as np
import pytest
import torch

from mmal.models import build_loss_adapter
from mmal.registry import STRATEGIES
from mmal.strategies import BADGEStrategy, Candidates, kmeans_plus_plus


@pytest.mark.parametrize('head', [None, dict(
    type='StackedLinearClsHead', num_classes=10, in_channels=64,
    mid_channels=[32], dropout_rate=0.5)])
def test_embedding_is_the_last_layer_gradient_at_the_predicted_label(
        tiny_classifier, head):
    model, inputs, samples = tiny_classifier
    if head is not None:  # hidden layers before the last linear one
        from mmengine.registry import MODELS
        model.head = MODELS.build(head).eval()
    fc = [module for module in model.head.modules()
          if isinstance(module, torch.nn.Linear)][-1]
    with torch.no_grad():
        embedding = build_loss_adapter(model).gradient_embedding(model, inputs,
                                                                 samples)
    assert embedding.shape == (6, fc.out_features * fc.in_features)
    for i in range(len(inputs)):
        model.zero_grad()
        scores = model.head(model.extract_feat(inputs[i:i + 1]))
        torch.nn.functional.cross_entropy(scores, scores.argmax(dim=1)).backward()
        torch.testing.assert_close(embedding[i], fc.weight.grad.flatten(),
                                   rtol=1e-4, atol=1e-6)


def directions():
    """Three tight clusters of near-duplicate embeddings in distinct directions,
    the first with the largest norm."""
    rng = np.random.default_rng(0)
    centers = np.array([[5., 0., 0.], [0., 3., 0.], [0., 0., 3.]])
    points = np.concatenate([center + 0.01 * rng.normal(size=(4, 3))
                             for center in centers])
    return points, np.repeat([0, 1, 2], 4)


@pytest.mark.parametrize('seed', range(5))
def test_kmeans_plus_plus_picks_one_per_cluster(seed):
    points, cluster = directions()
    chosen, distances = kmeans_plus_plus(points, 3, np.random.default_rng(seed))
    assert sorted(cluster[chosen]) == [0, 1, 2]
    # First pick: the largest norm; then squared distances to the picks so far.
    assert chosen[0] == int(np.argmax(np.linalg.norm(points, axis=1)))
    assert distances[0] == pytest.approx(np.sum(points[chosen[0]]**2))
    assert distances[1] == pytest.approx(
        np.sum((points[chosen[1]] - points[chosen[0]])**2))


def test_badge_is_deterministic_for_a_seed_and_never_repeats():
    rng = np.random.default_rng(1)
    keys = [str(i) for i in range(40)]
    candidates = Candidates.from_arrays(keys,
                                        gradient_embedding=rng.normal(size=(40, 8)))
    strategy = STRATEGIES.build(dict(type='BADGEStrategy'))
    first = strategy.select(candidates, 10, np.random.default_rng(3))
    again = strategy.select(candidates, 10, np.random.default_rng(3))
    other = strategy.select(candidates, 10, np.random.default_rng(4))
    assert first == again and first[0] != other[0]
    assert len(set(first[0])) == 10
    # Copies of one point: after it, the rest are drawn, never a pick twice.
    copies = Candidates.from_arrays(list('abc'), gradient_embedding=np.ones((3, 2)))
    chosen, _ = BADGEStrategy().select(copies, 3, np.random.default_rng(0))
    assert sorted(chosen) == ['a', 'b', 'c']
