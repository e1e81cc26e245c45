"""BALD: mutual information from MC dropout passes, masks fixed per seed and
sample, the model unchanged after scoring."""
import copy

import numpy as np
import pytest
import torch

from mmal.models import build_loss_adapter
from mmal.models.adapters import posteriors
from mmal.strategies import BALDStrategy, Candidates


def test_zero_when_passes_agree_positive_when_they_disagree():
    agree = torch.tensor([[0.7, 0.2, 0.1]]).repeat(5, 1)[None]
    disagree = torch.tensor([[[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]]])
    assert posteriors.mutual_information(agree).item() == pytest.approx(0, abs=1e-6)
    # Two confident passes that disagree: entropy of the mean minus the mean
    # entropy, computed here directly.
    mean = disagree.mean(dim=1)
    expected = (-(mean * mean.log()).sum() +
                (disagree * disagree.log()).sum() / 2).item()
    assert posteriors.mutual_information(disagree).item() == pytest.approx(expected)
    assert 0.4 < expected < np.log(2)  # two passes: at most log 2


def test_bald_ranks_disagreement_and_draws_its_seed_from_the_rng():
    seeds = []

    def mutual_information(positions, passes, seed, head_dropout):
        seeds.append((passes, seed))
        return np.array([0.0, 0.4, 0.1])

    candidates = Candidates(list('abc'), dict(mutual_information=mutual_information))
    chosen, scores = BALDStrategy(passes=7).select(candidates, 2,
                                                   np.random.default_rng(0))
    assert chosen == ['b', 'c'] and scores == [0.4, 0.1]
    BALDStrategy(passes=7).select(candidates, 2, np.random.default_rng(0))
    BALDStrategy(passes=7).select(candidates, 2, np.random.default_rng(1))
    # The same seed again is the cached output; another seed is scored anew.
    assert len(seeds) == 2 and seeds[0] != seeds[1]
    assert seeds[0][0] == seeds[1][0] == 7
    with pytest.raises(ValueError, match='passes must be at least 2'):
        BALDStrategy(passes=1)
    with pytest.raises(ValueError, match='head_dropout must be in'):
        BALDStrategy(head_dropout=1.0)


def test_head_dropout_is_seeded_per_sample_and_leaves_the_model(tiny_classifier):
    model, inputs, samples = tiny_classifier
    adapter = build_loss_adapter(model)
    before = copy.deepcopy(model.state_dict())
    modules = [(name, type(module), module.training)
               for name, module in model.named_modules()]
    with torch.no_grad():
        plain = model.head(model.extract_feat(inputs))
        probs = adapter.mc_probabilities(model, inputs, samples, 20, seed=5)
        again = adapter.mc_probabilities(model, inputs, samples, 20, seed=5)
        other = adapter.mc_probabilities(model, inputs, samples, 20, seed=6)
        # Each sample alone, in another batch: the same masks (world-size free).
        split = torch.cat([adapter.mc_probabilities(model, inputs[i:i + 1],
                                                    samples[i:i + 1], 20, seed=5)
                           for i in reversed(range(6))]).flip(0)
    assert probs.shape == (6, 20, 10)
    torch.testing.assert_close(probs, again, rtol=0, atol=0)
    torch.testing.assert_close(probs, split)
    assert not torch.allclose(probs, other)
    mi = posteriors.mutual_information(probs)
    assert (mi > 0).all()
    # Unchanged: weights, modules, modes, and its plain output.
    after = model.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert [(name, type(module), module.training)
            for name, module in model.named_modules()] == modules
    with torch.no_grad():
        assert torch.equal(model.head(model.extract_feat(inputs)), plain)


def test_model_dropout_layers_are_used_and_restored(tiny_classifier):
    model, inputs, samples = tiny_classifier
    # A head with its own dropout: mmpretrain's StackedLinearClsHead.
    from mmengine.registry import MODELS
    model.head = MODELS.build(dict(
        type='StackedLinearClsHead', num_classes=10, in_channels=64,
        mid_channels=[32], dropout_rate=0.3))
    model.eval()
    adapter = build_loss_adapter(model)
    dropout = [module for module in model.modules()
               if isinstance(module, torch.nn.Dropout)]
    assert len(dropout) == 1 and 'forward' not in vars(dropout[0])
    with torch.no_grad():
        probs = adapter.mc_probabilities(model, inputs, samples, 4, seed=0)
        again = adapter.mc_probabilities(model, inputs, samples, 4, seed=0)
        plain = model.head(model.extract_feat(inputs)).softmax(dim=1)
    torch.testing.assert_close(probs, again, rtol=0, atol=0)
    assert not torch.allclose(probs[:, 0], probs[:, 1])  # the layer drops
    # Afterwards it is an eval-mode dropout again: the plain pass is deterministic.
    assert 'forward' not in vars(dropout[0]) and not dropout[0].training
    torch.testing.assert_close(plain, model.head(model.extract_feat(
        inputs)).softmax(dim=1).detach())


def test_samples_without_their_index_are_refused(tiny_classifier):
    model, inputs, samples = tiny_classifier
    for sample in samples:
        del sample.sample_idx
    with pytest.raises(ValueError, match='sample_idx'):
        build_loss_adapter(model).mc_probabilities(model, inputs, samples, 2, 0)
