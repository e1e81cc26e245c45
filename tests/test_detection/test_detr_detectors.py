"""Per-image target losses, entropy and features of mmdet's DETR-family detectors
(the DetectionTransformer adapter), from mmdet's own configs shrunk: ResNet-18,
one encoder and two decoder layers, 10 queries, 64x64 images."""
import pytest
import torch
from mmengine.hub import get_config

import mmal.models.adapters.detection  # noqa: F401  (registers the adapters)
from mmal.models import LearningLossModel, build_loss_adapter

CONFIGS = {
    'detr': 'detr/detr_r18_8xb2-500e_coco.py',
    'deformable_detr':
    'deformable_detr/deformable-detr-refine-twostage_r50_16xb2-50e_coco.py',
    'conditional_detr': 'conditional_detr/conditional-detr_r50_8xb2-50e_coco.py',
    'dab_detr': 'dab_detr/dab-detr_r50_8xb2-50e_coco.py',
    'dino': 'dino/dino-4scale_r50_8xb2-12e_coco.py',
}
# DINO's per-image loss is not the image's alone (see the last test).
ALONE = [name for name in CONFIGS if name != 'dino']
NUM_CLASSES = 5


def small_detr(name):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    model = get_config('mmdet::' + CONFIGS[name]).model
    backbone = model['backbone']
    backbone.update(depth=18, init_cfg=None)
    # ResNet-18's stage i has 64 * 2**i channels.
    model['neck']['in_channels'] = [64 * 2**i for i in backbone['out_indices']]
    model['encoder']['num_layers'] = 1
    model['decoder']['num_layers'] = 2
    model['num_queries'] = 10
    model['bbox_head']['num_classes'] = NUM_CLASSES
    torch.manual_seed(0)
    detector = MODELS.build(model)
    # Some parameters (Deformable DETR's level_embed) are torch.Tensor(...) until
    # init_weights: uninitialized memory, NaN at times.
    detector.init_weights()
    # Dropout off, so an image's outputs are the same in a batch and alone; the
    # detector's own flag stays on, for its training-only branches (the two-stage
    # encoder proposals).
    detector.eval()
    detector.training = True
    return detector


def demo_batch(detector, num_items):
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(1)
    data = detector.data_preprocessor(
        demo_mm_inputs(batch_size=len(num_items), image_shapes=(3, 64, 64),
                       num_items=num_items, num_classes=NUM_CLASSES), True)
    return data['inputs'], data['data_samples']


@pytest.mark.parametrize('name', ALONE)
def test_per_image_losses_are_each_image_alone(name):
    detector = small_detr(name)
    inputs, samples = demo_batch(detector, [1, 4])
    losses, per_image = build_loss_adapter(detector).loss(detector, inputs, samples)
    # Every decoder layer's terms are in mmdet's loss, and so in the per-image one.
    assert {'loss_cls', 'd0.loss_cls', 'loss_iou'} <= set(losses)
    assert per_image.shape == (2, ) and not per_image.requires_grad
    with torch.no_grad():
        alone = [detector.parse_losses(detector.loss(inputs[i:i + 1],
                                                     samples[i:i + 1]))[0]
                 for i in range(2)]
    for i in range(2):
        assert per_image[i].item() == pytest.approx(alone[i].item(), rel=1e-4)
    # mmdet divides by the batch's matched queries (1 + 4); each image by its own.
    assert per_image.mean().item() != pytest.approx(
        detector.parse_losses(losses)[0].item(), rel=1e-3)


@pytest.mark.parametrize('name', ['detr', 'deformable_detr'])
def test_learning_loss_model_entropy_and_features(name):
    target = small_detr(name)
    levels = len(target.neck.convs) + len(target.neck.extra_convs or [])
    model = LearningLossModel(
        target=target, taps=[f'neck:{level}' for level in range(levels)],
        head=dict(in_channels=[256] * levels, mid_channels=16))
    model.train()
    inputs, samples = demo_batch(target, [2, 3])
    losses = model(inputs, samples, mode='loss')
    assert {'loss_cls', 'loss_bbox', 'loss_lpm'} <= set(losses)
    losses['loss_lpm'].backward()
    assert model.loss_predictor.fc.weight.grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        # The neck taps need no data samples.
        predicted = model.predict_loss(inputs)
        entropy = model.adapter.entropy(model.target, inputs, samples)
        features = model.adapter.features(model.target, inputs, samples)
    assert predicted.shape == (2, ) and torch.isfinite(predicted).all()
    assert features.shape == (2, 256)
    # DETR: softmax over the classes and background; the others: per-class
    # sigmoids, each binary entropy at most log 2.
    bound = (torch.log(torch.tensor(NUM_CLASSES + 1.0)) if name == 'detr' else
             NUM_CLASSES * torch.log(torch.tensor(2.0)))
    assert entropy.shape == (2, ) and ((entropy > 0) & (entropy <= bound)).all()


def test_dino_matching_terms_are_each_image_alone():
    """DINO's denoising queries are made for the batch (groups from its largest box
    count, random noise): only the matching and encoder terms can equal the image's
    alone. The self-attention mask keeps the matching queries from seeing the
    denoising ones, so those terms must."""
    from mmal.models.adapters.base import record_method
    from mmal.models.adapters.detection import detr_image_arguments
    detector = small_detr('dino')
    inputs, samples = demo_batch(detector, [1, 4])
    head = detector.bbox_head
    with torch.no_grad():
        with record_method(head, 'loss_by_feat') as calls:
            batch_losses = detector.loss(inputs, samples)
        adapter_losses, per_image = build_loss_adapter(detector).loss(
            detector, inputs, samples)
        for i in range(2):
            mine = head.loss_by_feat(**detr_image_arguments(calls[0][0], i, 2))
            alone = detector.loss(inputs[i:i + 1], samples[i:i + 1])
            matching = [key for key in alone if 'dn_' not in key]
            assert 'enc_loss_cls' in matching and 'd0.loss_cls' in matching
            for key in matching:
                assert mine[key].item() == pytest.approx(alone[key].item(),
                                                         rel=1e-4, abs=1e-6), key
            assert mine['dn_loss_cls'] > 0
    assert set(batch_losses) == set(adapter_losses)
    assert per_image.shape == (2, ) and torch.isfinite(per_image).all()
