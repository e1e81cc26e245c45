"""Per-image target losses, entropy and features of mmdet's two-stage detectors
(the TwoStageDetector adapter), from mmdet's own configs, on generated VOC images
(64x64) through mmdet's VOCDataset and pipeline."""
import copy
import math

import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.hub import get_config

import mmal.models.adapters.detection  # noqa: F401  (registers the adapters)
from mmal.models import LearningLossModel, build_loss_adapter
from mmal.testing.voc_format import DIFFICULT_ONLY, voc_dataset

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='PackDetInputs')
]
# Every anchor and proposal kept: mmdet's random sampling then picks the same
# anchors and RoIs for an image alone as in its batch.
TAKE_ALL = dict(num=100000)
CONFIGS = {
    'faster_rcnn': 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    'cascade_rcnn': 'cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py',
    'mask_rcnn': 'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    # A bbox head without regression and a grid head with its own loss.
    'grid_rcnn': 'grid_rcnn/grid-rcnn_r50_fpn_gn-head_2x_coco.py',
}


def small_detector(name):
    from mmdet.registry import MODELS
    model = get_config('mmdet::' + CONFIGS[name]).model  # ConfigDict: mmdet reads cfg.rpn
    model['backbone']['init_cfg'] = None
    heads = model['roi_head']['bbox_head']
    for head in heads if isinstance(heads, list) else [heads]:
        head['num_classes'] = 20  # VOC
    if 'mask_head' in model['roi_head']:
        model['roi_head']['mask_head']['num_classes'] = 20
    train_cfg = model['train_cfg']
    train_cfg['rpn']['sampler'].update(TAKE_ALL)
    train_cfg['rpn_proposal'].update(nms_pre=200, max_per_img=20)
    rcnn = train_cfg['rcnn']
    for stage in rcnn if isinstance(rcnn, list) else [rcnn]:
        stage['sampler'].update(TAKE_ALL)
    model['test_cfg']['rpn'].update(nms_pre=200, max_per_img=20)
    torch.manual_seed(0)
    return MODELS.build(model)


@pytest.fixture(scope='module')
def trainval07(voc):
    from mmdet.utils import register_all_modules
    register_all_modules()
    return voc_dataset(voc['devkit'], 'VOC2007', 'trainval', PIPELINE)


def batch(model, dataset, indices, training=True):
    data = model.data_preprocessor(
        pseudo_collate([dataset[i] for i in indices]), training)
    return data['inputs'], data['data_samples']


@pytest.mark.parametrize('name', ['faster_rcnn', 'cascade_rcnn'])
def test_per_image_losses_are_each_image_alone(name, trainval07):
    detector = small_detector(name).train()
    indices = [0, DIFFICULT_ONLY[1], 2]
    inputs, samples = batch(detector, trainval07, indices)
    adapter = build_loss_adapter(detector)
    losses, per_image = adapter.loss(detector, inputs, samples)
    assert 'loss_rpn_cls' in losses and per_image.shape == (3, )
    assert not per_image.requires_grad and torch.isfinite(per_image).all()
    # mmdet's own loss stays the objective.
    detector.parse_losses(losses)[0].backward()
    assert detector.backbone.conv1.weight.grad is None  # frozen stem, as mmdet's
    assert detector.neck.fpn_convs[0].conv.weight.grad.abs().sum() > 0
    with torch.no_grad():
        for i in range(3):
            alone = detector.parse_losses(
                detector.loss(inputs[i:i + 1], samples[i:i + 1]))[0]
            assert per_image[i].item() == pytest.approx(alone.item(), rel=1e-4)
    assert per_image[0] != per_image[2]


def test_learning_loss_model_entropy_and_features(trainval07):
    model = LearningLossModel(
        target=small_detector('faster_rcnn'),
        taps=[f'neck:{level}' for level in range(5)],
        head=dict(in_channels=[256] * 5, mid_channels=16))
    model.train()
    inputs, samples = batch(model, trainval07, [0, 2])
    losses = model(inputs, samples, mode='loss')
    assert {'loss_rpn_cls', 'loss_cls', 'loss_bbox', 'loss_lpm'} <= set(losses)
    losses['loss_lpm'].backward()
    assert model.loss_predictor.fc.weight.grad.abs().sum() > 0

    model.eval()
    inputs, samples = batch(model, trainval07, [0, 2], training=False)
    with torch.no_grad():
        # The neck taps need no data samples (the RPN would).
        predicted = model.predict_loss(inputs)
        entropy = model.adapter.entropy(model.target, inputs, samples)
        features = model.adapter.features(model.target, inputs, samples)
    assert predicted.shape == (2, ) and torch.isfinite(predicted).all()
    # Softmax over 20 classes and background.
    assert entropy.shape == (2, ) and ((entropy > 0) & (entropy <= math.log(21))).all()
    assert features.shape == (2, 2048)


def test_mask_rcnn_per_image_losses_are_each_image_alone():
    """VOC has no masks: mmdet's own test inputs, with random masks."""
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    register_all_modules()
    detector = small_detector('mask_rcnn').train()
    torch.manual_seed(1)
    data = detector.data_preprocessor(
        demo_mm_inputs(batch_size=2, image_shapes=(3, 64, 64), num_items=[2, 3],
                       num_classes=20, with_mask=True), True)
    inputs, samples = data['inputs'], data['data_samples']
    losses, per_image = build_loss_adapter(detector).loss(detector, inputs, samples)
    assert 'loss_mask' in losses and per_image.shape == (2, )
    with torch.no_grad():
        alone = [detector.parse_losses(detector.loss(inputs[i:i + 1],
                                                     samples[i:i + 1]))[0]
                 for i in range(2)]
        # Without the mask terms the per-image values would be off.
        no_mask = [detector.parse_losses(
            {k: v for k, v in detector.loss(inputs[i:i + 1], samples[i:i + 1]).items()
             if k != 'loss_mask'})[0] for i in range(2)]
    for i in range(2):
        assert per_image[i].item() == pytest.approx(alone[i].item(), rel=1e-4)
        assert per_image[i].item() != pytest.approx(no_mask[i].item(), rel=1e-4)


def test_grid_rcnn_per_image_losses_are_each_image_alone_and_hold_the_grid_term(
        trainval07):
    detector = small_detector('grid_rcnn').train()
    assert not detector.roi_head.bbox_head.with_reg
    inputs, samples = batch(detector, trainval07, [0, 2])
    adapter = build_loss_adapter(detector)
    loss_grid = detector.roi_head.grid_head.loss_grid
    with torch.no_grad():
        losses, per_image = adapter.loss(detector, inputs, samples)
        # mmdet jitters the positives for the grid head at random: without the
        # grid term everything else is the image's own loss alone.
        loss_grid.loss_weight, weight = 0.0, loss_grid.loss_weight
        _, without_grid = adapter.loss(detector, inputs, samples)
        alone = [detector.parse_losses(detector.loss(inputs[i:i + 1],
                                                     samples[i:i + 1]))[0]
                 for i in range(2)]
        loss_grid.loss_weight = weight
    assert {'loss_cls', 'loss_grid'} <= set(losses) and 'loss_bbox' not in losses
    for i in range(2):
        assert without_grid[i].item() == pytest.approx(alone[i].item(), rel=1e-4)
    # Both images have positives: each gets its own grid term.
    assert (per_image - without_grid > 0).all()
    assert torch.isfinite(per_image).all()


def small_sparse_rcnn():
    """mmdet's Sparse R-CNN config: ResNet-18, 2 of its 6 stages, 10 learned
    proposals, 20 classes."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    model = get_config('mmdet::sparse_rcnn/sparse-rcnn_r50_fpn_1x_coco.py').model
    model['backbone'].update(depth=18, init_cfg=None)
    model['neck']['in_channels'] = [64, 128, 256, 512]
    model['rpn_head']['num_proposals'] = 10
    roi_head = model['roi_head']
    roi_head.update(num_stages=2, stage_loss_weights=[1.0, 0.5])
    roi_head['bbox_head'] = roi_head['bbox_head'][:2]
    for head in roi_head['bbox_head']:
        head['num_classes'] = 20
    model['train_cfg']['rcnn'] = model['train_cfg']['rcnn'][:2]
    model['test_cfg']['rcnn']['max_per_img'] = 10
    torch.manual_seed(0)
    detector = MODELS.build(model)
    detector.init_weights()
    return detector


def test_sparse_rcnn_per_image_losses_are_each_image_alone():
    from mmdet.testing import demo_mm_inputs
    detector = small_sparse_rcnn().eval()  # no dropout, frozen batch norm
    torch.manual_seed(1)
    data = detector.data_preprocessor(
        demo_mm_inputs(batch_size=2, image_shapes=(3, 64, 64), num_items=[1, 3],
                       num_classes=20), True)
    inputs, samples = data['inputs'], data['data_samples']
    adapter = build_loss_adapter(detector)
    with torch.no_grad():
        losses, per_image = adapter.loss(detector, inputs, copy.deepcopy(samples))
        alone = [detector.parse_losses(detector.loss(
            inputs[i:i + 1], copy.deepcopy(samples[i:i + 1])))[0] for i in range(2)]
        entropy = adapter.entropy(detector, inputs, samples)
        features = adapter.features(detector, inputs, samples)
    # Both stages' terms (the second weighted 0.5) are in mmdet's loss.
    assert {'s0.loss_cls', 's1.loss_iou'} <= set(losses)
    for i in range(2):
        assert per_image[i].item() == pytest.approx(alone[i].item(), rel=1e-4)
    assert per_image[0] != per_image[1]
    # Per-class sigmoids (focal loss): at most log 2 per class.
    assert ((entropy > 0) & (entropy <= 20 * math.log(2))).all()
    assert features.shape == (2, 512)
