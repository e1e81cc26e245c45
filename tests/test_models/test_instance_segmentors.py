"""mmdet's single-stage instance segmentor without a bbox head: its own SOLOv2-light
R18 config, 5 classes, 64x64 images, no pretrained weights."""
import copy
import math

import pytest
import torch
from mmengine.hub import get_config

import mmal.models.adapters.detection  # noqa: F401  (registers the adapters)
from mmal.models import LearningLossModel, build_loss_adapter

NUM_CLASSES = 5


def small_solov2():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    model = get_config('mmdet::solov2/solov2-light_r18_fpn_ms-3x_coco.py').model
    model['backbone']['init_cfg'] = None
    model['mask_head'].update(num_classes=NUM_CLASSES, feat_channels=32,
                              stacked_convs=1)
    model['mask_head']['mask_feature_head']['feat_channels'] = 32  # GN: 32 groups
    torch.manual_seed(0)
    detector = MODELS.build(model)
    detector.init_weights()
    return detector.eval()  # batch norm: images do not mix


def demo_batch(detector, num_items, training=True):
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(1)
    data = detector.data_preprocessor(
        demo_mm_inputs(batch_size=len(num_items), image_shapes=(3, 64, 64),
                       num_items=num_items, num_classes=NUM_CLASSES,
                       with_mask=True), training)
    return data['inputs'], data['data_samples']


def test_solov2_per_image_losses_are_each_image_alone():
    detector = small_solov2()
    assert detector.bbox_head is None  # the loss is all in the mask head
    inputs, samples = demo_batch(detector, [1, 3])
    with torch.no_grad():
        losses, per_image = build_loss_adapter(detector).loss(
            detector, inputs, copy.deepcopy(samples))
        alone = [detector.parse_losses(detector.loss(inputs[i:i + 1],
                                                     samples[i:i + 1]))[0]
                 for i in range(2)]
    assert {'loss_mask', 'loss_cls'} == set(losses)
    for i in range(2):
        assert per_image[i].item() == pytest.approx(alone[i].item(), rel=1e-5)
    assert per_image[0] != per_image[1]


def test_learning_loss_model_on_solov2():
    model = LearningLossModel(
        target=small_solov2(), taps=[f'neck:{level}' for level in range(5)],
        head=dict(in_channels=[256] * 5, mid_channels=16))
    model.train()
    model.target.eval()
    inputs, samples = demo_batch(model.target, [2, 1])
    losses = model(inputs, samples, mode='loss')
    losses['loss_lpm'].backward()
    assert model.loss_predictor.fc.weight.grad.abs().sum() > 0
    model.eval()
    inputs, samples = demo_batch(model.target, [2, 1], training=False)
    with torch.no_grad():
        assert model.predict_loss(inputs).shape == (2, )
        predictions = model(inputs, samples, mode='predict')
        entropy = model.adapter.entropy(model.target, inputs, samples)
        features = model.adapter.features(model.target, inputs, samples)
    assert 'masks' in predictions[0].pred_instances
    # Per-class sigmoids of each grid cell: at most log 2 per class.
    assert ((entropy > 0) & (entropy <= NUM_CLASSES * math.log(2))).all()
    assert features.shape == (2, 512)
