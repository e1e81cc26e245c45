"""Margin and least confidence on constructed posteriors, through the one
posterior helper that entropy uses too, on a classifier and a real detector."""
import math

import numpy as np
import pytest
import torch
from mmengine.hub import get_config

from mmal.models import build_loss_adapter
from mmal.models.adapters import posteriors
from mmal.strategies import (Candidates, EntropyStrategy, LeastConfidenceStrategy,
                             MarginStrategy)

RNG = np.random.default_rng(0)
# 'tie': a two-way tie; 'flat': uniform over four; 'sure': one class.
PROBS = {
    'sure': [0.97, 0.01, 0.01, 0.01],
    'tie': [0.49, 0.49, 0.01, 0.01],
    'flat': [0.25, 0.25, 0.25, 0.25],
    'lean': [0.6, 0.3, 0.05, 0.05],
}


def candidates_of(names):
    probs = torch.tensor([PROBS[name] for name in names])
    return Candidates.from_arrays(
        list(names), margin=posteriors.margin(probs).numpy(),
        least_confidence=posteriors.least_confidence(probs).numpy(),
        entropy=posteriors.entropy(probs).numpy())


def test_margin_prefers_the_two_way_tie():
    # Without 'flat' (whose top two also tie), the tie is the unique top margin.
    candidates = candidates_of(['sure', 'lean', 'tie'])
    chosen, scores = MarginStrategy().select(candidates, 1, RNG)
    assert chosen == ['tie'] and scores[0] == pytest.approx(1.0)
    # Least confidence agrees here (0.51 against the lean's 0.4).
    assert LeastConfidenceStrategy().select(candidates, 1, RNG)[0] == ['tie']
    # The order over all three: tie, lean, sure.
    assert MarginStrategy().select(candidates, 3, RNG)[0] == ['tie', 'lean', 'sure']


def test_least_confidence_prefers_the_flat_posterior():
    candidates = candidates_of(['sure', 'tie', 'flat', 'lean'])
    chosen, scores = LeastConfidenceStrategy().select(candidates, 1, RNG)
    assert chosen == ['flat'] and scores[0] == pytest.approx(0.75)
    # Margin cannot tell the tie from the flat posterior (both gaps 0): pool order.
    assert MarginStrategy().select(candidates, 2, RNG)[0] == ['tie', 'flat']
    assert EntropyStrategy().select(candidates, 1, RNG)[0] == ['flat']


def test_measures_match_their_definitions():
    probs = torch.tensor([PROBS[name] for name in PROBS])
    expected = [-sum(p * math.log(p) for p in row) for row in PROBS.values()]
    torch.testing.assert_close(posteriors.entropy(probs), torch.tensor(expected))
    torch.testing.assert_close(posteriors.margin(probs),
                               torch.tensor([0.04, 1.0, 1.0, 0.7]))
    torch.testing.assert_close(posteriors.least_confidence(probs),
                               torch.tensor([0.03, 0.51, 0.75, 0.4]))
    # Independent sigmoids: each class a binary posterior, summed.
    sig = torch.tensor([[0.5, 0.9]])
    torch.testing.assert_close(posteriors.independent(posteriors.margin, sig),
                               torch.tensor([1.0 + 0.2]))
    torch.testing.assert_close(
        posteriors.independent(posteriors.entropy, sig),
        torch.tensor([math.log(2) - 0.9 * math.log(0.9) - 0.1 * math.log(0.1)]))


def test_classifier_scores_are_the_softmax_measures(tiny_classifier):
    model, inputs, samples = tiny_classifier
    adapter = build_loss_adapter(model)
    with torch.no_grad():
        probs = model.head(model.extract_feat(inputs)).softmax(dim=1)
        for measure in (posteriors.margin, posteriors.least_confidence):
            torch.testing.assert_close(
                adapter.uncertainty(model, inputs, samples, measure), measure(probs))
        torch.testing.assert_close(adapter.entropy(model, inputs, samples),
                                   -(probs * probs.log()).sum(dim=1))


def centernet(num_classes=4):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    from mmengine.registry import init_default_scope
    register_all_modules()
    init_default_scope('mmdet')
    # After the scope: its SSD check builds an mmdet head in the default scope.
    import mmal.models.adapters.detection  # noqa: F401  (registers the adapters)
    cfg = get_config('mmdet::centernet/centernet_r18_8xb16-crop512-140e_coco.py')
    cfg.model.backbone.init_cfg = None
    cfg.model.bbox_head.num_classes = num_classes
    torch.manual_seed(0)
    detector = MODELS.build(cfg.model)
    data = detector.data_preprocessor(
        demo_mm_inputs(batch_size=2, image_shapes=(3, 64, 64), num_items=[1, 3],
                       num_classes=num_classes), False)
    return detector.eval(), data['inputs'], data['data_samples']


def test_detector_margin_and_least_confidence_over_its_confident_boxes():
    detector, inputs, samples = centernet()
    adapter = build_loss_adapter(detector)
    with torch.no_grad():
        scores = {measure: adapter.uncertainty(detector, inputs, samples, measure)
                  for measure in (posteriors.margin, posteriors.least_confidence)}
        for measure, value in scores.items():
            assert value.shape == (2, ) and (value > 0).all()
            # Per class at most 1 (margin) or 1/2 (least confidence).
            bound = 4 * (1.0 if measure is posteriors.margin else 0.5)
            assert (value < bound).all()
        for param in detector.bbox_head.heatmap_head[-1].parameters():
            param.zero_()
        # Every class sigmoid 1/2: a tie in every binary posterior.
        torch.testing.assert_close(
            adapter.uncertainty(detector, inputs, samples, posteriors.margin),
            torch.full((2, ), 4.0))
        torch.testing.assert_close(
            adapter.uncertainty(detector, inputs, samples,
                                posteriors.least_confidence), torch.full((2, ), 2.0))
        torch.testing.assert_close(adapter.entropy(detector, inputs, samples),
                                   torch.full((2, ), 4 * math.log(2)))


def test_an_adapter_without_posteriors_names_the_way_out():
    from mmal.models import BaseLossAdapter
    with pytest.raises(NotImplementedError,
                       match='no class posteriors.*margin.*EntropyStrategy'):
        BaseLossAdapter().uncertainty(torch.nn.Linear(2, 2), None, None,
                                      posteriors.margin)
