"""Per-sample heatmap losses of mmpose's TopdownPoseEstimator, on MPII-format data
generated here and read by mmpose's own MpiiDataset and pipeline."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

import math

from mmal.testing.mpii_format import write_mpii

import mmal.models.adapters.pose  # noqa: F401  (registers the pose adapter)
from mmal.models import LearningLossModel, build_loss_adapter

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NUM_TRAIN, INVISIBLE = 4, 1
CODEC = dict(type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16),
             sigma=1)
# The hourglass of the paper's config, shrunk: 2 stacks, 32 features, 64x64 input.
SMALL_BACKBONE = dict(num_stacks=2, channels=32, depth=2)


@pytest.fixture(scope='module')
def mpii_root(tmp_path_factory):
    return write_mpii(str(tmp_path_factory.mktemp('mpii')), NUM_TRAIN, 1,
                      invisible_train=[INVISIBLE])


def training_batch(root, codec):
    """A training batch as the runner feeds it, one person without visible joints."""
    init_default_scope('mmpose')
    from mmpose.datasets import MpiiDataset
    dataset = MpiiDataset(
        data_root=root, ann_file='annotations/mpii_train.json',
        data_prefix=dict(img='images/'),
        pipeline=[
            dict(type='LoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(type='TopdownAffine', input_size=codec['input_size']),
            dict(type='GenerateTarget', encoder=codec),
            dict(type='PackPoseInputs')
        ])
    return pseudo_collate([dataset[i] for i in range(NUM_TRAIN)])


@pytest.fixture(scope='module')
def mpii_batch(mpii_root):
    return training_batch(mpii_root, CODEC)


def paper_target() -> dict:
    """The pose model of configs/hourglass_mpii_lloss.py."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'hourglass_mpii_lloss.py'))
    return cfg.model.target.to_dict()


def small_model(head: str):
    from mmpose.registry import MODELS
    model = paper_target()
    model['backbone'].update(SMALL_BACKBONE)
    model['head'].update(num_stages=2, decoder=CODEC)
    if head == 'cpm_per_stage_losses':
        model['head']['loss'] = [
            dict(type='KeypointMSELoss', use_target_weight=True, loss_weight=w)
            for w in (1.0, 0.5)
        ]
    elif head == 'heatmap':
        model['backbone']['num_stacks'] = 1
        model['head'] = dict(
            type='HeatmapHead', in_channels=16, out_channels=16,
            deconv_out_channels=None, decoder=CODEC,
            loss=dict(type='KeypointMSELoss', use_target_weight=True))
    torch.manual_seed(0)
    return MODELS.build(model)


@pytest.mark.parametrize('head', ['cpm', 'cpm_per_stage_losses', 'heatmap'])
def test_per_sample_losses_average_to_the_batch_loss(mpii_batch, head):
    model = small_model(head)
    model.train()
    data = model.data_preprocessor(copy.deepcopy(mpii_batch), True)
    weights = torch.cat([s.gt_instance_labels.keypoint_weights
                         for s in data['data_samples']])
    assert weights[INVISIBLE].sum() == 0 and (weights.sum(dim=1) > 0).sum() == 3

    adapter = build_loss_adapter(model)
    losses, per_sample = adapter.loss(model, data['inputs'], data['data_samples'])

    assert per_sample.shape == (NUM_TRAIN, )
    assert torch.isfinite(per_sample).all()
    assert per_sample[INVISIBLE].item() == 0.0
    assert (per_sample[[i for i in range(NUM_TRAIN) if i != INVISIBLE]] > 0).all()
    assert per_sample.mean().item() == pytest.approx(losses['loss_kpt'].item(),
                                                     rel=1e-5)
    # mmpose's own loss stays the objective: gradients reach the backbone.
    losses['loss_kpt'].backward()
    assert model.backbone.stem[0].weight.grad.abs().sum() > 0


def test_learning_loss_model_on_the_hourglass(mpii_batch):
    model = LearningLossModel(
        target=small_model('cpm'),
        taps=['backbone.features.0', 'backbone.features.1'],
        head=dict(in_channels=[32, 32], mid_channels=16),
        loss_weight=1e-4)
    model.train()
    data = model.data_preprocessor(copy.deepcopy(mpii_batch), True)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert set(losses) >= {'loss_kpt', 'loss_lpm', 'acc_pose'}
    assert torch.isfinite(losses['loss_lpm'])
    losses['loss_lpm'].backward()
    assert model.loss_predictor.fc.weight.grad.abs().sum() > 0

    model.eval()
    predicted = model.predict_loss(data['inputs'], data['data_samples'])
    assert predicted.shape == (NUM_TRAIN, ) and torch.isfinite(predicted).all()
    features = model.adapter.features(model.target, data['inputs'],
                                      data['data_samples'])
    assert features.shape == (NUM_TRAIN, 32)


# mmpose's SimCC and RLE configs (COCO, ResNet-50) shrunk: ResNet-18, MPII joints,
# 64x64 input, no pretrained weights.
SIMCC_CODEC = dict(type='SimCCLabel', input_size=(64, 64), sigma=2.0,
                   simcc_split_ratio=2.0)
RLE_CODEC = dict(type='RegressionLabel', input_size=(64, 64))
DSNT_CODEC = dict(type='IntegralRegressionLabel', input_size=(64, 64),
                  heatmap_size=(16, 16), sigma=1.0, normalize=True)
TOOLBOX_HEADS = {
    # Integral regression: a MultipleLossWrapper of coordinate and heatmap terms.
    'dsnt': ('body_2d_keypoint/integral_regression/coco/'
             'ipr_res50_dsnt-8xb64-210e_coco-256x256.py',
             dict(in_channels=512, in_featuremap_size=(2, 2), num_joints=16,
                  decoder=DSNT_CODEC), DSNT_CODEC),
    'simcc': ('body_2d_keypoint/simcc/coco/simcc_res50_8xb64-210e_coco-256x192.py',
              dict(in_channels=512, out_channels=16, input_size=(64, 64),
                   in_featuremap_size=(2, 2), decoder=SIMCC_CODEC), SIMCC_CODEC),
    'rle': ('body_2d_keypoint/topdown_regression/coco/'
            'td-reg_res50_rle-8xb64-210e_coco-256x192.py',
            dict(in_channels=512, num_joints=16, decoder=RLE_CODEC), RLE_CODEC),
}


def pose_model_and_batch(kind, mpii_root, mpii_batch):
    """A small pose model of each head kind and a training batch for its codec."""
    from mmengine.hub import get_config
    from mmpose.registry import MODELS
    if kind in TOOLBOX_HEADS:
        config, head, codec = TOOLBOX_HEADS[kind]
        model = get_config('mmpose::' + config).model.to_dict()
        model['backbone'].update(depth=18, init_cfg=None)
        model['head'].update(head)
        torch.manual_seed(0)
        return MODELS.build(model), training_batch(mpii_root, codec)
    return small_model(kind), mpii_batch


def total(model, losses):
    return model.parse_losses(losses)[0]


@pytest.mark.parametrize('kind', ['cpm', 'simcc', 'rle', 'dsnt'])
def test_per_sample_losses_are_each_sample_alone(kind, mpii_root, mpii_batch):
    model, batch = pose_model_and_batch(kind, mpii_root, mpii_batch)
    # Eval mode: batch norm uses running statistics, so a sample's forward does
    # not depend on its batch mates.
    model.eval()
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    inputs, samples = data['inputs'], data['data_samples']
    with torch.no_grad():
        losses, per_sample = build_loss_adapter(model).loss(model, inputs, samples)
        alone = torch.stack([total(model, model.loss(inputs[i:i + 1],
                                                     samples[i:i + 1]))
                             for i in range(NUM_TRAIN)])
    torch.testing.assert_close(per_sample, alone, rtol=1e-5, atol=1e-6)
    assert per_sample[INVISIBLE] == 0 and per_sample.std() > 0
    assert 'loss_kpt' in losses


@pytest.mark.parametrize('kind, zero_layers, uniform', [
    # The last stage's heatmaps all equal: softmax over 16x16 pixels.
    ('cpm', ['backbone.heatmap_convs.1'], math.log(16 * 16)),
    ('heatmap', ['head.final_layer'], math.log(16 * 16)),
    # x and y vectors of 64 * 2 bins each.
    ('simcc', ['head.mlp_head_x', 'head.mlp_head_y'], 2 * math.log(128)),
    # sigma = sigmoid(0) = 1/2: Laplace entropy 1 + log(2 sigma) = 1 for x and y.
    ('rle', ['head.fc'], 2.0),
    # DSNT's heatmaps are a softmax already: uniform over 16x16 pixels.
    ('dsnt', ['head.simplebaseline_head.final_layer'], math.log(16 * 16)),
])
def test_entropy(kind, zero_layers, uniform, mpii_root, mpii_batch):
    model, batch = pose_model_and_batch(kind, mpii_root, mpii_batch)
    model.eval()
    data = model.data_preprocessor(copy.deepcopy(batch), False)
    adapter = build_loss_adapter(model)
    with torch.no_grad():
        entropy = adapter.entropy(model, data['inputs'], data['data_samples'])
        assert entropy.shape == (NUM_TRAIN, ) and torch.isfinite(entropy).all()
        for name in zero_layers:
            for param in dict(model.named_modules())[name].parameters():
                param.zero_()
        flat = adapter.entropy(model, data['inputs'], data['data_samples'])
    torch.testing.assert_close(flat, torch.full((NUM_TRAIN, ), uniform))
    if kind not in ('rle', 'dsnt'):  # DSNT: below
        # A uniform distribution has the highest entropy.
        assert (entropy < uniform).all()


def test_integral_regression_entropy_of_its_normalised_heatmaps(mpii_root,
                                                                 mpii_batch):
    model, batch = pose_model_and_batch('dsnt', mpii_root, mpii_batch)
    model.eval()
    data = model.data_preprocessor(copy.deepcopy(batch), False)
    with torch.no_grad():
        # A sharper spatial softmax than the untrained head's nearly flat one.
        model.head.beta = 1e4
        entropy = build_loss_adapter(model).entropy(model, data['inputs'],
                                                    data['data_samples'])
        _, heatmaps = model.head(model.extract_feat(data['inputs']))
    # DSNT's heatmaps sum to 1 over their pixels; a second softmax of such
    # values would be nearly uniform (close to log(16 * 16) for every image).
    torch.testing.assert_close(heatmaps.sum(dim=(2, 3)),
                               torch.ones(heatmaps.shape[:2]))
    assert (entropy < math.log(16 * 16) - 1).all()
    assert entropy.std() > 0


def test_plain_regression_has_no_entropy(mpii_root, mpii_batch):
    from mmpose.registry import MODELS
    model, batch = pose_model_and_batch('rle', mpii_root, mpii_batch)
    model.head = MODELS.build(dict(type='RegressionHead', in_channels=512,
                                   num_joints=16, decoder=RLE_CODEC))
    data = model.data_preprocessor(copy.deepcopy(batch), False)
    with pytest.raises(NotImplementedError, match='RegressionHead'):
        build_loss_adapter(model).entropy(model, data['inputs'],
                                          data['data_samples'])
