"""Entropy and per-image losses of dense heads whose outputs are not class-logit
maps: YOLOv3 (box, objectness and classes packed per anchor) and CenterNet
(sigmoid heatmaps), from mmdet's own configs on 64x64 inputs."""
import math

import pytest
import torch
from mmengine.hub import get_config

import mmal.models.adapters.detection  # noqa: F401  (registers the adapters)
from mmal.models import build_loss_adapter

NUM_CLASSES = 4
CASES = {
    # Every output 0: objectness and class sigmoids 1/2, binary entropy log 2 each.
    'yolov3': ('yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py',
               lambda head: head.convs_pred, (1 + NUM_CLASSES) * math.log(2)),
    # Heatmap logits 0: every class sigmoid 1/2.
    'centernet': ('centernet/centernet_r18_8xb16-crop512-140e_coco.py',
                  lambda head: [head.heatmap_head[-1]], NUM_CLASSES * math.log(2)),
}


def detector_and_batch(name, training=True):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    register_all_modules()
    model = get_config('mmdet::' + CASES[name][0]).model
    model.backbone.init_cfg = None
    model.bbox_head.num_classes = NUM_CLASSES
    torch.manual_seed(0)
    detector = MODELS.build(model)
    data = detector.data_preprocessor(
        demo_mm_inputs(batch_size=2, image_shapes=(3, 64, 64), num_items=[1, 3],
                       num_classes=NUM_CLASSES), training)
    return detector, data['inputs'], data['data_samples']


@pytest.mark.parametrize('name', list(CASES))
def test_entropy(name):
    detector, inputs, samples = detector_and_batch(name, training=False)
    detector.eval()
    adapter = build_loss_adapter(detector)
    _, layers, uniform = CASES[name]
    with torch.no_grad():
        entropy = adapter.entropy(detector, inputs, samples)
        assert entropy.shape == (2, ) and torch.isfinite(entropy).all()
        assert (entropy > 0).all() and (entropy < uniform).all()
        for layer in layers(detector.bbox_head):
            for param in layer.parameters():
                param.zero_()
        flat = adapter.entropy(detector, inputs, samples)
    torch.testing.assert_close(flat, torch.full((2, ), uniform))


@pytest.mark.parametrize('name', list(CASES))
def test_per_image_losses_are_each_image_alone(name):
    detector, inputs, samples = detector_and_batch(name)
    # Eval mode: batch norm does not mix the images.
    detector.eval()
    with torch.no_grad():
        _, per_image = build_loss_adapter(detector).loss(detector, inputs, samples)
        alone = torch.stack([detector.parse_losses(
            detector.loss(inputs[i:i + 1], samples[i:i + 1]))[0] for i in range(2)])
    torch.testing.assert_close(per_image, alone, rtol=1e-4, atol=1e-6)
    assert per_image[0] != per_image[1]
