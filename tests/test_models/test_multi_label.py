"""Multi-label classification: mmpretrain's CSRA config (``CSRAClsHead``, a
``MultiLabelClsHead``), shrunk to ResNet-18, 5 classes and 32x32 images."""
import copy
import math

import pytest
import torch
from mmengine.hub import get_config
from mmengine.registry import init_default_scope

from mmal.models import LearningLossModel, build_loss_adapter

NUM_CLASSES = 5
LABELS = [[0, 3], [1], [2, 3, 4]]


def small_csra() -> dict:
    cfg = get_config('mmpretrain::csra/resnet101-csra_1xb16_voc07-448px.py')
    model = cfg.model.to_dict()
    model['backbone'].update(depth=18, init_cfg=None)
    model['head'].update(num_classes=NUM_CLASSES, in_channels=512)
    model['data_preprocessor'] = dict(cfg.data_preprocessor.to_dict(),
                                      type='ClsDataPreprocessor',
                                      num_classes=NUM_CLASSES)
    return model


def multi_label_batch(model, training=True):
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    batch = dict(
        inputs=[torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
                for _ in LABELS],
        data_samples=[DataSample().set_gt_label(labels) for labels in LABELS])
    data = model.data_preprocessor(batch, training)
    return data['inputs'], data['data_samples']


@pytest.fixture
def wrapped():
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = LearningLossModel(
        target=small_csra(), taps=['backbone.layer3', 'backbone.layer4'],
        head=dict(in_channels=[256, 512], mid_channels=16))
    model.init_weights()
    return model


def test_per_sample_losses_are_each_sample_alone(wrapped):
    target = wrapped.target.eval()  # batch norm: samples do not mix
    inputs, samples = multi_label_batch(target)
    with torch.no_grad():
        losses, per_sample = build_loss_adapter(target).loss(target, inputs,
                                                             copy.deepcopy(samples))
        alone = torch.stack([target.loss(inputs[i:i + 1], samples[i:i + 1])['loss']
                             for i in range(len(LABELS))])
    torch.testing.assert_close(per_sample, alone)
    # mmpretrain divides the batch's summed label losses by the batch size.
    torch.testing.assert_close(per_sample.mean(), losses['loss'])
    assert per_sample.std() > 0


def test_loss_step_scores_entropy_and_pooled_features(wrapped):
    wrapped.train()
    inputs, samples = multi_label_batch(wrapped)
    losses = wrapped(inputs, samples, mode='loss')
    assert set(losses) == {'loss', 'loss_lpm'}
    losses['loss_lpm'].backward()
    assert wrapped.loss_predictor.fc.weight.grad.abs().sum() > 0

    wrapped.eval()
    inputs, samples = multi_label_batch(wrapped, training=False)
    adapter, target = wrapped.adapter, wrapped.target
    with torch.no_grad():
        assert wrapped.predict_loss(inputs).shape == (len(LABELS), )
        predictions = wrapped(inputs, copy.deepcopy(samples), mode='predict')
        assert predictions[0].pred_score.shape == (NUM_CLASSES, )
        features = adapter.features(target, inputs, samples)
        feature_map = target.backbone(inputs)[-1]
        entropy = adapter.entropy(target, inputs, samples)
    # CSRA pools by itself: the core-set features are its input map, pooled.
    torch.testing.assert_close(features, feature_map.mean(dim=(2, 3)))
    # Independent sigmoids, as mmpretrain predicts them: each label's binary
    # entropy, summed (up to log 2 per label).
    scores = torch.stack([sample.pred_score for sample in predictions])
    binary = -(scores * scores.log() + (1 - scores) * (1 - scores).log())
    torch.testing.assert_close(entropy, binary.sum(dim=1))
    assert ((entropy > 0) & (entropy < NUM_CLASSES * math.log(2))).all()


def test_margin_per_label_and_softmax_strategies_refused(wrapped):
    from mmal.models.adapters import posteriors
    target = wrapped.target.eval()
    inputs, samples = multi_label_batch(target, training=False)
    adapter = wrapped.adapter
    with torch.no_grad():
        margin = adapter.uncertainty(target, inputs, samples, posteriors.margin)
        scores = target.head(target.extract_feat(inputs)).sigmoid()
    # Each label's two-way margin 1 - |p - (1 - p)|, summed over the labels.
    torch.testing.assert_close(margin, (1 - (2 * scores - 1).abs()).sum(dim=1))
    with pytest.raises(NotImplementedError, match='BADGEStrategy.*own sigmoid'):
        adapter.gradient_embedding(target, inputs, samples)
    with pytest.raises(NotImplementedError, match='BALDStrategy.*own sigmoid'):
        adapter.mc_probabilities(target, inputs, samples, 2, 0)
