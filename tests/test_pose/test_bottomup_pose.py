"""Per-sample losses, entropy and features of mmpose's bottom-up DEKR, on images run
through DEKR's own training pipeline (SPR targets) with 2 and 1 people."""
import copy
import math

import numpy as np
import pytest
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.hub import get_config
from mmengine.registry import init_default_scope

import mmal.models.adapters.pose  # noqa: F401  (registers the pose adapters)
from mmal.models import LearningLossModel, build_loss_adapter

DEKR = 'mmpose::body_2d_keypoint/dekr/coco/dekr_hrnet-w32_8xb10-140e_coco-512x512.py'
PEOPLE = (2, 1)
NUM_KEYPOINTS, HEATMAP = 17, 32
# HRNet's four stages with one block each and narrow branches.
BRANCHES = (8, 16, 32, 64)


@pytest.fixture(scope='module')
def dekr_cfg():
    cfg = get_config(DEKR)
    # The config's codec at 128x128; a smaller minimal diagonal so that the small
    # generated people keep their keypoints.
    cfg.codec.update(input_size=(128, 128), heatmap_size=(HEATMAP, HEATMAP),
                     minimal_diagonal_length=2)
    return cfg


def dekr_model(cfg, **head):
    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    model = cfg.model.to_dict()
    extra = model['backbone']['extra']
    for stage in range(1, 5):
        extra[f'stage{stage}'].update(num_modules=1, num_blocks=(1, ) * stage,
                                      num_channels=BRANCHES[:stage])
    extra['stage1']['num_channels'] = (16, )
    model['backbone']['init_cfg'] = None
    # No rescore net: its weights are COCO's pretrained ones (the config says to
    # drop it for other data); the loss does not use it.
    model['head'].update(in_channels=sum(BRANCHES), decoder=cfg.codec,
                         rescore_cfg=None, num_heatmap_filters=8,
                         num_displacement_filters_per_keypoint=2, **head)
    torch.manual_seed(0)
    return MODELS.build(model)


def person_info(index: int, num_people: int, rng) -> dict:
    """A COCO-style bottom-up data info (as CocoDataset gives in bottom-up mode)
    for a random 160x160 image; two keypoints of each person are not labeled."""
    img = rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)
    keypoints = rng.uniform(20, 140, (num_people, NUM_KEYPOINTS, 2)).astype(
        np.float32)
    visible = np.ones((num_people, NUM_KEYPOINTS), np.float32)
    visible[:, 3:5] = 0
    bbox = np.concatenate([keypoints.min(1), keypoints.max(1)], axis=1)
    return dict(
        img=img, img_path=f'generated_{index}.jpg', img_id=index,
        img_shape=img.shape[:2], ori_shape=img.shape[:2], keypoints=keypoints,
        keypoints_visible=visible, bbox=bbox,
        bbox_score=np.ones(num_people, np.float32),
        num_keypoints=np.full(num_people, NUM_KEYPOINTS - 2),
        area=np.prod(bbox[:, 2:] - bbox[:, :2], axis=1),
        iscrowd=np.zeros(num_people), invalid_segs=[],
        id=list(range(num_people)), category_id=np.ones(num_people),
        flip_indices=list(range(NUM_KEYPOINTS)), dataset_name='coco')


@pytest.fixture(scope='module')
def dekr_batch(dekr_cfg):
    init_default_scope('mmpose')
    import mmpose.datasets  # noqa: F401  (registers the transforms)
    # The config's training pipeline at 128x128, without the random flip (COCO's
    # flip indices would need COCO's keypoint names).
    steps = []
    for step in dekr_cfg.train_pipeline:
        step = step.to_dict()
        if step['type'] == 'RandomFlip':
            continue
        # The config's steps hold copies of its codec, made when it was read.
        if step['type'] == 'BottomupRandomAffine':
            step['input_size'] = dekr_cfg.codec['input_size']
        if step['type'] == 'GenerateTarget':
            step['encoder'] = dekr_cfg.codec.to_dict()
        steps.append(step)
    pipeline = Compose(steps)
    rng = np.random.default_rng(0)
    return pseudo_collate([pipeline(person_info(i, n, rng))
                           for i, n in enumerate(PEOPLE)])


def preprocess(model, batch, training=True):
    data = model.data_preprocessor(copy.deepcopy(batch), training)
    return data['inputs'], data['data_samples']


def test_per_sample_losses_are_each_sample_alone(dekr_cfg, dekr_batch):
    model = dekr_model(dekr_cfg)
    # Eval mode: batch norm uses running statistics, so a sample's forward does
    # not depend on its batch mates.
    model.eval()
    inputs, samples = preprocess(model, dekr_batch)
    with torch.no_grad():
        losses, per_sample = build_loss_adapter(model).loss(model, inputs, samples)
        alone = torch.stack([
            model.parse_losses(model.loss(inputs[i:i + 1], samples[i:i + 1]))[0]
            for i in range(len(PEOPLE))])
    assert set(losses) == {'loss/heatmap', 'loss/displacement'}
    torch.testing.assert_close(per_sample, alone, rtol=1e-5, atol=1e-7)
    assert (per_sample > 0).all() and per_sample.std() > 0


def test_displacement_loss_is_normalised_per_sample(dekr_cfg, dekr_batch):
    # Heatmap loss weighted 0: the per-sample losses are displacement terms only.
    model = dekr_model(dekr_cfg, heatmap_loss=dict(
        type='KeypointMSELoss', use_target_weight=True, loss_weight=0.0))
    model.eval()
    inputs, samples = preprocess(model, dekr_batch)
    counts = torch.stack([(s.gt_fields.displacement_weights > 0).sum()
                          for s in samples]).float()
    assert counts[0] > counts[1] > 0
    with torch.no_grad():
        losses, per_sample = build_loss_adapter(model).loss(model, inputs, samples)
    assert (per_sample > 0).all()
    # mmpose divides by the batch's count: the batch term is the count-weighted
    # mean of the per-sample terms, not their plain mean.
    weighted = (counts * per_sample).sum() / counts.sum()
    torch.testing.assert_close(losses['loss/displacement'], weighted)
    assert not torch.isclose(per_sample.mean(), weighted)


def test_learning_loss_model_on_dekr(dekr_cfg, dekr_batch):
    model = LearningLossModel(
        target=dekr_model(dekr_cfg),
        # HRNet's last stage: its four branches, as DEKR's neck receives them.
        taps=[f'backbone:{branch}' for branch in range(4)],
        head=dict(in_channels=list(BRANCHES), mid_channels=16),
        loss_weight=1e-2)
    model.train()
    inputs, samples = preprocess(model, dekr_batch)
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss/heatmap', 'loss/displacement', 'loss_lpm'}
    assert torch.isfinite(losses['loss_lpm'])
    losses['loss_lpm'].backward()
    assert model.loss_predictor.fc.weight.grad.abs().sum() > 0

    model.eval()
    inputs, samples = preprocess(model, dekr_batch, training=False)
    adapter = model.adapter
    with torch.no_grad():
        predicted = model.predict_loss(inputs, samples)
        features = adapter.features(model.target, inputs, samples)
        entropy = adapter.entropy(model.target, inputs, samples)
        # Zeroed last heatmap layer: every keypoint heatmap is flat.
        for param in model.target.head.heatmap_conv_layers[-1].parameters():
            param.zero_()
        flat = adapter.entropy(model.target, inputs, samples)
    assert predicted.shape == (len(PEOPLE), ) and torch.isfinite(predicted).all()
    # The neck concatenates the four branches.
    assert features.shape == (len(PEOPLE), sum(BRANCHES))
    assert entropy.shape == (len(PEOPLE), ) and torch.isfinite(entropy).all()
    uniform = math.log(HEATMAP * HEATMAP)
    assert (entropy < uniform).all()
    torch.testing.assert_close(flat, torch.full((len(PEOPLE), ), uniform))
