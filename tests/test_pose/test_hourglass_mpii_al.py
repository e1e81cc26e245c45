"""The MPII hourglass configs end to end through tools/al_train.py, on an MPII-format
dataset generated here and read by mmpose's MpiiDataset and MpiiPCKAccuracy."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmal.testing.al_runs import (REPO, SMALL_HOURGLASS, al_train, read_state,
                                  write_config)
from mmal.testing.mpii_format import head_sizes, write_mpii

NUM_TRAIN, NUM_VAL = 12, 4
# The paper's configs shrunk for CPU: 2 stacks, 64x64 input, tiny pools, 1 epoch.
SMALL = SMALL_HOURGLASS + """
data_root = '{root}/'
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=val_pipeline,
                 headbox_file=data_root + 'annotations/mpii_gt_val.mat'))
test_dataloader = val_dataloader
train_cfg = dict(cycles=2, initial_size=4, query_size=4, subset_size=6,
                 max_epochs=1)
randomness = dict(seed=3)
"""
LLOSS = """
model = dict(target=small_target,
             taps=['backbone.features.0', 'backbone.features.1'],
             head=dict(in_channels=[32, 32], mid_channels=16))
"""
PLAIN = """
model = small_target
"""


@pytest.mark.parametrize('variant, strategy', [
    ('lloss', 'LearningLossStrategy'), ('random', 'RandomStrategy'),
    ('coreset', 'CoreSetStrategy')
])
def test_configs_hold_the_paper_settings(variant, strategy):
    cfg = Config.fromfile(osp.join(REPO, 'configs', f'hourglass_mpii_{variant}.py'))
    loop = cfg.train_cfg
    assert loop.type == 'ActiveLearningLoop' and loop.strategy.type == strategy
    assert (loop.cycles, loop.initial_size, loop.query_size, loop.subset_size,
            loop.max_epochs, loop.key_field) == (10, 1000, 1000, 5000, 125, 'id')
    assert cfg.train_dataloader.batch_size == 6
    assert cfg.optim_wrapper.optimizer.lr == 2.5e-4
    assert [(s.type, s.milestones, s.gamma) for s in cfg.param_scheduler] == [
        ('MultiStepLR', [100], 0.1)]
    assert cfg.val_evaluator.type == 'MpiiPCKAccuracy'
    assert cfg.val_dataloader.dataset.headbox_file.endswith('mpii_gt_val.mat')
    target = cfg.model.target if variant == 'lloss' else cfg.model
    assert target.type == 'TopdownPoseEstimator'
    assert target.backbone.type == 'NewellHourglassNet'
    assert target.backbone.num_stacks == target.head.num_stages == 8
    assert target.head.decoder.input_size == (256, 256)
    if variant == 'lloss':
        assert (cfg.model.margin, cfg.model.loss_weight) == (1.0, 1e-4)
        assert len(cfg.model.taps) == len(cfg.model.head.in_channels) == 8


@pytest.fixture(scope='module')
def mpii_root(tmp_path_factory):
    return write_mpii(str(tmp_path_factory.mktemp('mpii')), NUM_TRAIN, NUM_VAL,
                      invisible_train=[5])


def test_generated_files_read_as_mpii(mpii_root):
    """mmpose reads the generated head boxes in val order, and PCKh@0.5 separates
    predictions within and beyond half a head size."""
    from mmengine.registry import init_default_scope
    from mmpose.datasets import MpiiDataset
    from mmpose.evaluation import MpiiPCKAccuracy
    init_default_scope('mmpose')
    val = MpiiDataset(data_root=mpii_root, ann_file='annotations/mpii_val.json',
                      data_prefix=dict(img='images/'), test_mode=True,
                      headbox_file=osp.join(mpii_root, 'annotations',
                                            'mpii_gt_val.mat'))
    train = MpiiDataset(data_root=mpii_root, ann_file='annotations/mpii_train.json',
                        data_prefix=dict(img='images/'))
    assert len(val) == NUM_VAL and len(train) == NUM_TRAIN
    assert [train.get_data_info(i)['id'] for i in range(NUM_TRAIN)] == list(
        range(NUM_TRAIN))
    assert train.get_data_info(5)['keypoints_visible'].sum() == 0
    sizes = np.array([val.get_data_info(i)['head_size'].item()
                      for i in range(NUM_VAL)])
    np.testing.assert_allclose(sizes, head_sizes(mpii_root), rtol=1e-5)

    def pckh(shift_in_head_sizes):
        metric = MpiiPCKAccuracy()
        samples = []
        for i in range(NUM_VAL):
            info = val.get_data_info(i)
            pred = info['keypoints'].copy()
            pred[..., 0] += shift_in_head_sizes * sizes[i]
            samples.append(dict(
                gt_instances=dict(keypoints=info['keypoints'],
                                  keypoints_visible=info['keypoints_visible'],
                                  head_size=info['head_size']),
                pred_instances=dict(keypoints=pred)))
        metric.process([], samples)
        return metric.evaluate(NUM_VAL)['PCK']

    # MpiiPCKAccuracy adds 1 pixel to predictions (0- to 1-based): well inside
    # the margins used here.
    assert pckh(0.3) == pytest.approx(100.0)
    assert pckh(0.7) == pytest.approx(0.0)


@pytest.mark.parametrize('variant', ['lloss', 'coreset'])
def test_two_cycles_on_mpii(tmp_path, mpii_root, variant, monkeypatch):
    # One thread: on shared cores torch's second thread waits more than it helps.
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    config = write_config(str(tmp_path / f'hourglass_mpii_{variant}_small.py'),
                          f'hourglass_mpii_{variant}.py',
                          SMALL.format(root=mpii_root) +
                          (LLOSS if variant == 'lloss' else PLAIN))
    work_dir = str(tmp_path / 'work')
    al_train(config, work_dir)

    state = read_state(work_dir)
    history = state['history']
    assert [r['num_labeled'] for r in history] == [4, 8]
    assert len(history[0]['queried']) == 4 and history[1]['queried'] is None
    keys = [item['key'] for item in state['labeled']]
    assert len(set(keys)) == 8 and set(keys) <= {str(i) for i in range(NUM_TRAIN)}
    queried = [q['key'] for q in history[0]['queried']]
    assert keys[4:] == queried and not set(queried) & set(keys[:4])
    assert all(isinstance(q['score'], float) and math.isfinite(q['score'])
               for q in history[0]['queried'])
    for record in history:
        # PCKh@0.5 of every cycle, from MpiiPCKAccuracy with the headbox file.
        metrics = record['metrics']
        assert {'PCK', 'PCK@0.1', 'Head PCK'} <= set(metrics)
        assert 0.0 <= metrics['PCK'] <= 100.0
    state_dict = torch.load(osp.join(work_dir, history[-1]['checkpoint']),
                            map_location='cpu', weights_only=False)['state_dict']
    prefix = 'target.' if variant == 'lloss' else ''
    assert f'{prefix}backbone.features.1.1.weight' in state_dict
    assert f'{prefix}backbone.heatmap_convs.1.weight' in state_dict
    assert ('loss_predictor.fc.weight' in state_dict) == (variant == 'lloss')
    assert osp.getsize(osp.join(work_dir, 'al_curve.png')) > 1000
