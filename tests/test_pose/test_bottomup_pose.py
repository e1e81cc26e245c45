"""Per-sample losses, entropy and features of mmpose's bottom-up DEKR and associative
embedding (AE), on images with 2 and 1 people run through DEKR's own training
pipeline (SPR targets for DEKR, AE's codec for AE, whose config has no training
pipeline)."""
import copy
import math

import numpy as np
import pytest
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.hub import get_config
from mmengine.registry import init_default_scope

import mmal.models.adapters.pose  # noqa: F401  (registers the pose adapters)
import mmal.datasets.pose_transforms  # noqa: F401  (registers PackKeypointIndices)
from mmal.engine.pool_scoring import entropy, predicted_loss
from mmal.models import LearningLossModel, build_loss_adapter
from mmal.models.adapters.pose import image_keypoint_weights
from mmal.strategies import EntropyStrategy, LearningLossStrategy
from mmal.strategies.base import Candidates

DEKR = 'mmpose::body_2d_keypoint/dekr/coco/dekr_hrnet-w32_8xb10-140e_coco-512x512.py'
AE = ('mmpose::body_2d_keypoint/associative_embedding/coco/'
      'ae_hrnet-w32_8xb24-300e_coco-512x512.py')
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


def shrink_hrnet(backbone: dict) -> None:
    extra = backbone['extra']
    for stage in range(1, 5):
        extra[f'stage{stage}'].update(num_modules=1, num_blocks=(1, ) * stage,
                                      num_channels=BRANCHES[:stage])
    extra['stage1']['num_channels'] = (16, )
    backbone['init_cfg'] = None


def dekr_model(cfg, **head):
    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    model = cfg.model.to_dict()
    shrink_hrnet(model['backbone'])
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


def training_pipeline(steps, codec, before_pack=()) -> Compose:
    """A config's training pipeline at the codec's input size, without the random
    flip (COCO's flip indices would need COCO's keypoint names)."""
    init_default_scope('mmpose')
    import mmpose.datasets  # noqa: F401  (registers the transforms)
    kept = []
    for step in steps:
        step = step.to_dict()
        if step['type'] == 'RandomFlip':
            continue
        # The config's steps hold copies of its codec, made when it was read.
        if step['type'] == 'BottomupRandomAffine':
            step['input_size'] = codec['input_size']
        if step['type'] == 'GenerateTarget':
            step['encoder'] = codec.to_dict()
        if step['type'] == 'PackPoseInputs':
            kept.extend(before_pack)
        kept.append(step)
    return Compose(kept)


def generated_batch(pipeline, people=PEOPLE) -> dict:
    rng = np.random.default_rng(0)
    return pseudo_collate([pipeline(person_info(i, n, rng))
                           for i, n in enumerate(people)])


@pytest.fixture(scope='module')
def dekr_batch(dekr_cfg):
    return generated_batch(
        training_pipeline(dekr_cfg.train_pipeline, dekr_cfg.codec))


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


def train_one_step(model, batch, target_losses):
    """A loss step of the wrapped model: the target's losses and ``loss_lpm``,
    whose gradient reaches the loss prediction module."""
    model.train()
    inputs, samples = preprocess(model, batch)
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == target_losses | {'loss_lpm'}
    assert torch.isfinite(losses['loss_lpm'])
    losses['loss_lpm'].backward()
    assert model.loss_predictor.fc.weight.grad.abs().sum() > 0


def test_learning_loss_model_on_dekr(dekr_cfg, dekr_batch):
    model = LearningLossModel(
        target=dekr_model(dekr_cfg),
        # HRNet's last stage: its four branches, as DEKR's neck receives them.
        taps=[f'backbone:{branch}' for branch in range(4)],
        head=dict(in_channels=list(BRANCHES), mid_channels=16),
        loss_weight=1e-2)
    train_one_step(model, dekr_batch, {'loss/heatmap', 'loss/displacement'})

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


@pytest.fixture(scope='module')
def ae_cfg():
    cfg = get_config(AE)
    cfg.codec.update(input_size=(128, 128), heatmap_size=(HEATMAP, HEATMAP))
    return cfg


def ae_model(cfg):
    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    model = cfg.model.to_dict()
    shrink_hrnet(model['backbone'])
    # AE's head reads HRNet's highest-resolution branch only.
    model['head'].update(in_channels=BRANCHES[0], decoder=dict(
        cfg.codec, heatmap_size=cfg.codec['input_size']))
    torch.manual_seed(0)
    return MODELS.build(model)


def ae_batch(dekr_cfg, ae_cfg, people=PEOPLE):
    return generated_batch(
        training_pipeline(dekr_cfg.train_pipeline, ae_cfg.codec,
                          before_pack=[dict(type='PackKeypointIndices')]), people)


def loss_terms(model, inputs, samples):
    """Per-image heatmap terms and tag (pull + push) terms, each alone."""
    adapter = build_loss_adapter(model)
    loss_module = model.head.loss_module
    terms = []
    for silenced in (loss_module.tag_loss, loss_module.keypoint_loss):
        weight, silenced.loss_weight = silenced.loss_weight, 0.0
        terms.append(adapter.loss(model, inputs, samples)[1])
        silenced.loss_weight = weight
    return terms


def test_image_keypoint_weights_are_largest_over_people():
    people = torch.tensor([[1., 0., 0.], [0., 1., 0.]])
    torch.testing.assert_close(image_keypoint_weights(people, 3),
                               torch.tensor([1., 1., 0.]))
    torch.testing.assert_close(image_keypoint_weights(people[:0], 3),
                               torch.zeros(3))


def test_ae_per_sample_losses_are_each_image_alone(dekr_cfg, ae_cfg):
    model = ae_model(ae_cfg)
    model.eval()  # running batch-norm statistics: images do not mix
    inputs, samples = preprocess(model, ae_batch(dekr_cfg, ae_cfg))
    adapter = build_loss_adapter(model)
    with torch.no_grad():
        losses, per_sample = adapter.loss(model, inputs, samples)
        alone = torch.stack([
            model.parse_losses(
                adapter.loss(model, inputs[i:i + 1], samples[i:i + 1])[0])[0]
            for i in range(len(PEOPLE))])
        one_person = PEOPLE.index(1)
        mmpose_alone = model.parse_losses(model.loss(
            inputs[one_person:one_person + 1],
            samples[one_person:one_person + 1]))[0]
        # mmpose's own loss concatenates the people's keypoint weights where it
        # needs one row per image: it fails on this batch.
        with pytest.raises(AssertionError, match='mismatched shapes'):
            model.loss(inputs, samples)
    assert set(losses) == {'loss_kpt', 'loss_pull', 'loss_push'}
    torch.testing.assert_close(per_sample, alone, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(per_sample[one_person], mmpose_alone)
    assert (per_sample > 0).all() and per_sample.std() > 0


def test_ae_loss_dict_is_mmposes_with_one_person_per_image(dekr_cfg, ae_cfg):
    model = ae_model(ae_cfg)
    model.eval()
    inputs, samples = preprocess(model, ae_batch(dekr_cfg, ae_cfg, people=(1, 1)))
    with torch.no_grad():
        losses, _ = build_loss_adapter(model).loss(model, inputs, samples)
        mmpose_losses = model.loss(inputs, samples)
    assert set(losses) == set(mmpose_losses)
    for key, value in mmpose_losses.items():
        torch.testing.assert_close(losses[key], value)


def test_ae_batch_loss_is_mean_heatmap_plus_summed_tag_terms(dekr_cfg, ae_cfg):
    model = ae_model(ae_cfg)
    model.eval()
    inputs, samples = preprocess(model, ae_batch(dekr_cfg, ae_cfg))
    with torch.no_grad():
        losses, per_sample = build_loss_adapter(model).loss(model, inputs, samples)
        heatmap, tag = loss_terms(model, inputs, samples)
    assert (heatmap > 0).all() and (tag > 0).all()
    torch.testing.assert_close(per_sample, heatmap + tag)
    # KeypointMSELoss averages the images; AssociativeEmbeddingLoss sums them.
    torch.testing.assert_close(losses['loss_kpt'], heatmap.mean())
    torch.testing.assert_close(losses['loss_pull'] + losses['loss_push'], tag.sum())


def test_learning_loss_model_on_ae(dekr_cfg, ae_cfg):
    model = LearningLossModel(
        target=ae_model(ae_cfg),
        taps=['backbone.layer1', 'backbone:0'],
        # layer1: HRNet's stem bottleneck (16 x 4 channels); then the head's input.
        head=dict(in_channels=[64, BRANCHES[0]], mid_channels=16),
        loss_weight=1e-2)
    batch = ae_batch(dekr_cfg, ae_cfg)
    train_one_step(model, batch, {'loss_kpt', 'loss_pull', 'loss_push'})

    model.eval()
    inputs, samples = preprocess(model, batch, training=False)
    adapter = model.adapter
    with torch.no_grad():
        scores = dict(predicted_loss=predicted_loss(model, inputs, samples),
                      entropy=entropy(model, inputs, samples))
        features = adapter.features(model.target, inputs, samples)
        # Zeroed last layer: every keypoint heatmap is flat.
        for param in model.target.head.final_layer.parameters():
            param.zero_()
        flat = adapter.entropy(model.target, inputs, samples)
    for score in scores.values():
        assert score.shape == (len(PEOPLE), ) and torch.isfinite(score).all()
    # The head's input, HRNet's highest-resolution branch.
    assert features.shape == (len(PEOPLE), BRANCHES[0])
    uniform = math.log(HEATMAP * HEATMAP)
    assert (scores['entropy'] < uniform).all()
    torch.testing.assert_close(flat, torch.full((len(PEOPLE), ), uniform))

    keys = [f'image_{i}' for i in range(len(PEOPLE))]
    candidates = Candidates.from_arrays(
        keys, **{name: score.numpy() for name, score in scores.items()})
    LearningLossStrategy().check_model(model)
    rng = np.random.default_rng(0)
    for strategy, name in ((EntropyStrategy(), 'entropy'),
                           (LearningLossStrategy(), 'predicted_loss')):
        chosen, chosen_scores = strategy.select(candidates, 1, rng)
        assert chosen == [keys[int(scores[name].argmax())]]
        assert chosen_scores == pytest.approx([float(scores[name].max())])


CID = 'mmpose::body_2d_keypoint/cid/coco/cid_hrnet-w32_8xb20-140e_coco-512x512.py'


@pytest.fixture(scope='module')
def cid_cfg():
    cfg = get_config(CID)
    cfg.codec.update(input_size=(128, 128), heatmap_size=(HEATMAP, HEATMAP))
    return cfg


def cid_model(cfg):
    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    model = cfg.model.to_dict()
    shrink_hrnet(model['backbone'])
    model['init_cfg'] = None
    model['head'].update(in_channels=sum(BRANCHES), gfd_channels=8,
                         decoder=cfg.codec)
    torch.manual_seed(0)
    return MODELS.build(model)


def test_cid_per_sample_losses_are_each_image_alone(cid_cfg):
    """CID's decoupled and contrastive terms have a row per person: with 3 + 1
    people, each image's share of them is its own."""
    model = cid_model(cid_cfg)
    model.eval()
    batch = generated_batch(
        training_pipeline(cid_cfg.train_pipeline, cid_cfg.codec), people=(3, 1))
    inputs, samples = preprocess(model, batch)
    with torch.no_grad():
        losses, per_sample = build_loss_adapter(model).loss(model, inputs,
                                                            copy.deepcopy(samples))
        alone = torch.stack([
            model.parse_losses(model.loss(inputs[i:i + 1], samples[i:i + 1]))[0]
            for i in range(2)])
    assert {'loss/heatmap_coupled', 'loss/heatmap_decoupled',
            'loss/contrastive'} == set(losses)
    torch.testing.assert_close(per_sample, alone, rtol=1e-5, atol=1e-6)
    assert per_sample[0] != per_sample[1]
    # Said once when the wrapper is built: where it stops being exact.
    assert 'max_train_instances=200' in build_loss_adapter(model).relation(model)

    model = LearningLossModel(
        target=model, taps=[f'backbone:{branch}' for branch in range(4)],
        head=dict(in_channels=list(BRANCHES), mid_channels=16), loss_weight=1e-2)
    train_one_step(model, batch, set(losses))
    model.eval()
    inputs, samples = preprocess(model, batch, training=False)
    with torch.no_grad():
        scores = entropy(model, inputs, samples)
        predicted = predicted_loss(model, inputs, samples)
        features = model.adapter.features(model.target, inputs, samples)
    # Each keypoint's heatmap normalised over its 32 x 32 pixels.
    assert ((scores > 0) & (scores <= math.log(HEATMAP * HEATMAP))).all()
    assert predicted.shape == (2, ) and features.shape == (2, sum(BRANCHES))


YOLOX_POSE = ('mmpose::body_2d_keypoint/yoloxpose/coco/'
              'yoloxpose_tiny_4xb64-300e_coco-416.py')


def yolox_pose_model_and_batch(people=(2, 1)):
    """mmpose's YOLOX-Pose-tiny at 128x128 (no pretrained weights, no random
    resize) and a batch through its stage-2 pipeline without augmentation."""
    from mmpose.registry import MODELS
    cfg = get_config(YOLOX_POSE)
    init_default_scope('mmpose')
    model = cfg.model.to_dict()
    model['backbone']['init_cfg'] = None
    model['data_preprocessor'].pop('batch_augments')
    torch.manual_seed(0)
    estimator = MODELS.build(model)
    estimator.init_weights()
    codec = dict(type='YOLOXPoseAnnotationProcessor', input_size=(128, 128))
    import mmpose.datasets  # noqa: F401  (registers the transforms)
    pipeline = Compose([
        dict(type='BottomupRandomAffine', input_size=(128, 128), shift_prob=0,
             rotate_prob=0, scale_prob=0, scale_type='long',
             pad_val=(114, 114, 114), bbox_keep_corner=False, clip_border=True),
        dict(type='FilterAnnotations', by_kpt=True, by_box=True,
             keep_empty=False),
        dict(type='GenerateTarget', encoder=codec),
        dict(type='PackPoseInputs')])
    return estimator, generated_batch(pipeline, people)


def test_yolox_pose_per_sample_losses_are_each_image_alone():
    model, batch = yolox_pose_model_and_batch()
    model.eval()  # batch norm: images do not mix
    inputs, samples = preprocess(model, batch)
    with torch.no_grad():
        losses, per_sample = build_loss_adapter(model).loss(model, inputs,
                                                            copy.deepcopy(samples))
        alone = torch.stack([
            model.parse_losses(model.loss(inputs[i:i + 1], samples[i:i + 1]))[0]
            for i in range(2)])
    # Several terms, all in each image's value.
    assert {'loss_obj', 'loss_bbox', 'loss_kpt', 'loss_vis', 'loss_cls'} <= set(
        losses)
    torch.testing.assert_close(per_sample, alone, rtol=1e-5, atol=1e-6)
    assert per_sample[0] != per_sample[1]

    model = LearningLossModel(
        target=model, taps=[f'neck:{level}' for level in range(3)],
        head=dict(in_channels=[96] * 3, mid_channels=16), loss_weight=1e-2)
    train_one_step(model, batch, set(losses))
    model.eval()
    inputs, samples = preprocess(model, batch, training=False)
    with torch.no_grad():
        scores = entropy(model, inputs, samples)
        features = model.adapter.features(model.target, inputs, samples)
    # Person and objectness sigmoids: at most 2 log 2 per prior.
    assert ((scores > 0) & (scores <= 2 * math.log(2) + 1e-6)).all()
    assert features.shape == (2, 96)  # the neck's last level, pooled
