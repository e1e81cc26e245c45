"""Per-image replays leave the model as its own loss left it, and each replay sees
the model and the ground truth as the batch's loss saw them: mmdet's own configs of
a head that keeps running statistics (DDOD: positives per level, which reweight its
classification loss) and of one that converts ground truth in place (RTMDet-Ins:
masks to a tensor), shrunk to 64x64 images and 5 classes."""
import copy

import pytest
import torch
from mmengine.hub import get_config

import mmal.models.adapters.detection  # noqa: F401  (registers the adapters)
from mmal.models import build_loss_adapter
from mmal.models.adapters import IsolatedReplays

NUM_CLASSES = 5


def small_ddod():
    model = get_config('mmdet::ddod/ddod_r50_fpn_1x_coco.py').model
    model['backbone'].update(depth=18, init_cfg=None)
    # Four levels, the coarsest 3x3 at 192x192: mmcv's deformable convolution
    # refuses maps smaller than its kernel.
    model['neck'].update(in_channels=[64, 128, 256, 512], num_outs=4)
    model['bbox_head'].update(num_classes=NUM_CLASSES, feat_channels=32,
                              stacked_convs=1)
    model['bbox_head']['anchor_generator']['strides'] = [8, 16, 32, 64]
    return model


def small_rtmdet_ins():
    model = get_config('mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py').model
    model['backbone'].update(init_cfg=None, widen_factor=0.125)
    model['neck'].update(in_channels=[32, 64, 128], out_channels=32)
    model['bbox_head'].update(num_classes=NUM_CLASSES, in_channels=32,
                              feat_channels=32, stacked_convs=1)
    return model


CONFIGS = {'ddod': small_ddod, 'rtmdet_ins': small_rtmdet_ins}
SIZES = {'ddod': 192, 'rtmdet_ins': 64}


def build(name):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    detector = MODELS.build(CONFIGS[name]())
    detector.init_weights()
    # Batch norm in eval mode: an image's outputs are the same in a batch and alone.
    detector.eval()
    detector.size = SIZES[name]
    return detector


def demo_batch(detector, num_items, seed=1):
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(seed)
    size = detector.size
    data = detector.data_preprocessor(
        demo_mm_inputs(batch_size=len(num_items), image_shapes=(3, size, size),
                       num_items=num_items, num_classes=NUM_CLASSES,
                       with_mask=True), True)
    return data['inputs'], data['data_samples']


def total(detector, losses):
    return detector.parse_losses(losses)[0]


@pytest.mark.parametrize('name', list(CONFIGS))
def test_replays_leave_the_model_as_its_own_loss_left_it(name):
    detector = build(name)
    plain = copy.deepcopy(detector)
    adapter = build_loss_adapter(detector)
    batches = [demo_batch(detector, [2, 3]), demo_batch(detector, [1, 2], seed=2)]
    for step, (inputs, samples) in enumerate(batches):
        before = copy.deepcopy(detector)
        with torch.no_grad():
            losses, per_image = adapter.loss(detector, inputs,
                                             copy.deepcopy(samples))
            expected = plain.loss(inputs, copy.deepcopy(samples))
            # Each image alone, on the model as the batch found it.
            alone = [total(copy.deepcopy(before),
                           copy.deepcopy(before).loss(inputs[i:i + 1],
                                                      copy.deepcopy(samples[i:i + 1])))
                     for i in range(2)]
        # The training losses are the plain model's, at every step: the replays
        # did not advance its state.
        for key, value in expected.items():
            torch.testing.assert_close(losses[key], value, msg=f'{key} step {step}')
        for i in range(2):
            assert per_image[i].item() == pytest.approx(alone[i].item(), rel=1e-5)
        assert per_image[0] != per_image[1]
    if name == 'ddod':
        # DDOD counts the positives of every loss call, per level.
        head, plain_head = detector.bbox_head, plain.bbox_head
        assert head.cls_num_pos_samples_per_level == \
            plain_head.cls_num_pos_samples_per_level
        assert sum(head.cls_num_pos_samples_per_level) > 0


def test_without_isolation_the_replays_would_change_the_model():
    """The check above can fail: replayed without isolation, DDOD's counts move
    on with every image."""
    from mmdet.models.utils import unpack_gt_instances

    from mmal.models.adapters.detection import dense_head_per_image
    detector = build('ddod')
    inputs, samples = demo_batch(detector, [2, 3])
    head = detector.bbox_head
    gts = unpack_gt_instances(samples)
    with torch.no_grad():
        outs = head(detector.extract_feat(inputs))
        with IsolatedReplays(detector) as replays:
            head.loss_by_feat(*outs, gts[0], gts[2], gts[1])  # the model's own
            counts = list(head.cls_num_pos_samples_per_level)
            dense_head_per_image(detector, head, outs, *gts, replays=replays)
        assert head.cls_num_pos_samples_per_level == counts
        dense_head_per_image(detector, head, outs, *gts)
    assert head.cls_num_pos_samples_per_level != counts


def test_ground_truth_converted_in_place_is_copied_for_every_replay():
    detector = build('rtmdet_ins')
    inputs, samples = demo_batch(detector, [2, 1])
    with torch.no_grad():
        # mmdet's own loss converts the masks of the samples it is given.
        detector.loss(inputs, samples)
        assert isinstance(samples[0].gt_instances.masks, torch.Tensor)
        inputs, samples = demo_batch(detector, [2, 1])
        losses, per_image = build_loss_adapter(detector).loss(detector, inputs,
                                                              samples)
    assert torch.isfinite(per_image).all() and (per_image > 0).all()
    assert 'loss_mask' in losses
