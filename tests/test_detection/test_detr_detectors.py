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
# DINO draws its denoising queries for the batch: tested given them (below).
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


class ReplayedDenoising(torch.nn.Module):
    """DINO's real ``CdnQueryGenerator``, its first output recorded and then
    replayed: the whole of it, or while ``image`` is set that image's slice of
    the denoising queries, with the batch's attention mask and ``dn_meta``."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator
        # DINO's decoder reads it (to keep it in the graph).
        self.label_embedding = generator.label_embedding
        self.recorded, self.image = None, None

    def forward(self, samples):
        if self.recorded is None:
            self.recorded = self.generator(samples)
        if self.image is None:
            return self.recorded
        label, bbox, mask, meta = self.recorded
        return label[self.image:self.image + 1], bbox[self.image:self.image + 1], \
            mask, meta


def dino_with_replay(num_items):
    """DINO, a batch, the adapter's losses on it, and each image's loss alone
    given the batch's denoising queries (its slice), as loss dicts."""
    from mmal.models.adapters.base import record_method
    from mmal.models.adapters.detection import detr_image_arguments
    detector = small_detr('dino')
    replay = detector.dn_query_generator = ReplayedDenoising(
        detector.dn_query_generator)
    inputs, samples = demo_batch(detector, num_items)
    head = detector.bbox_head
    with torch.no_grad():
        losses, per_image = build_loss_adapter(detector).loss(
            detector, inputs, samples)
        # The adapter's own recording cannot be nested: record the batch again,
        # with the same dn queries, for the per-image terms.
        with record_method(head, 'loss_by_feat') as calls:
            detector.loss(inputs, samples)
        mine = [head.loss_by_feat(**detr_image_arguments(calls[0][0], i, 2))
                for i in range(2)]
        alone = []
        for i in range(2):
            replay.image = i
            alone.append(detector.loss(inputs[i:i + 1], samples[i:i + 1]))
    return detector, samples, replay.recorded, losses, per_image, mine, alone


def assert_each_image_alone(detector, losses, per_image, mine, alone):
    assert set(losses) == set(alone[0])
    assert {'enc_loss_cls', 'd0.loss_cls', 'dn_loss_cls', 'd0.dn_loss_iou'
            } <= set(losses)
    for i in range(2):
        for key in alone[i]:
            assert mine[i][key].item() == pytest.approx(
                alone[i][key].item(), rel=1e-4, abs=1e-6), (i, key)
        assert per_image[i].item() == pytest.approx(
            detector.parse_losses(alone[i])[0].item(), rel=1e-4)


def test_dino_per_image_losses_are_each_image_alone_given_its_dn_queries():
    """DINO draws its denoising (dn) queries for the batch (random noise), so the
    claim is: given the same dn queries, an image's per-image loss, every term,
    is its loss alone. Same box count: the image alone has the batch's group
    layout, no padding."""
    detector, samples, (_, _, _, dn_meta), losses, per_image, mine, alone = \
        dino_with_replay([3, 3])
    assert_each_image_alone(detector, losses, per_image, mine, alone)
    # The batch's group count is the one mmdet would use for the image alone.
    assert dn_meta['num_denoising_groups'] == \
        detector.dn_query_generator.generator.get_num_groups(3)


def test_dino_different_box_counts_image_keeps_its_padded_dn_queries():
    """Box counts 1 and 4: the batch has groups of 2 x 4 dn queries, image 0's
    are 1 real positive, 1 real negative and 3 + 3 zero-padded ones. Its per-image
    loss is still its loss alone given that slice, padding included; drawn alone
    it would get 100 // 1 groups and no padding instead."""
    detector, samples, (labels, _, _, dn_meta), losses, per_image, mine, alone = \
        dino_with_replay([1, 4])
    assert_each_image_alone(detector, losses, per_image, mine, alone)
    groups = dn_meta['num_denoising_groups']
    assert groups == 100 // 4 and dn_meta['num_denoising_queries'] == groups * 8
    padded = labels[0].abs().sum(dim=1) == 0
    assert padded.sum() == groups * 6 and not labels[1].abs().sum(dim=1).eq(0).any()
    # mmdet's dn targets for the padded queries: background, label weight 1, no
    # box weight; so they count in the image's dn_loss_cls only, as in the batch.
    # (They also attend to its real dn queries: the mask only separates groups.)
    head = detector.bbox_head
    targets, weights, _, box_weights, pos, _ = head.get_dn_targets(
        [samples[0].gt_instances], [samples[0].metainfo], dn_meta)
    assert pos == groups
    assert (targets[0][padded] == NUM_CLASSES).all() and weights[0][padded].eq(1).all()
    assert box_weights[0][padded].eq(0).all()
