"""Margin, least confidence, BADGE and BALD through the real loop: the digits demo
configs, shrunk (80 pool digits, 2 cycles of one epoch), in-process."""
import json
import os.path as osp

import pytest
from mmengine.config import Config

from mmal.testing.tiny_runs import run

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def shrunk(name, work_dir):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo',
                                   f'resnet18_digits_{name}.py'))
    cfg.merge_from_dict({
        'work_dir': work_dir,
        'log_level': 'WARNING',
        'train_dataloader.batch_size': 10,
        'train_dataloader.dataset.indices': 80,
        'val_dataloader.dataset.indices': 40,
        'test_dataloader.dataset.indices': 40,
        'train_cfg.cycles': 2,
        'train_cfg.initial_size': 20,
        'train_cfg.query_size': 10,
        'train_cfg.subset_size': 30,
        'train_cfg.max_epochs': 1,
        'param_scheduler.milestones': [1],
    })
    return cfg


@pytest.mark.parametrize('name, strategy', [
    ('margin', 'MarginStrategy'), ('least_confidence', 'LeastConfidenceStrategy'),
    ('badge', 'BADGEStrategy'), ('bald', 'BALDStrategy')])
def test_two_cycles(tmp_path, name, strategy):
    cfg = shrunk(name, str(tmp_path))
    assert cfg.train_cfg.strategy.type == strategy
    run(cfg)
    with open(tmp_path / 'al_state.json') as f:
        state = json.load(f)
    assert state['strategy'] == strategy
    history = state['history']
    assert [record['num_labeled'] for record in history] == [20, 30]
    queried = history[0]['queried']
    keys = [item['key'] for item in state['labeled']]
    assert keys[20:] == [item['key'] for item in queried]
    assert len(set(keys)) == 30
    scores = [item['score'] for item in queried]
    assert all(score is not None and score >= 0 for score in scores)
    if name != 'badge':  # ranked by the score, highest first
        assert scores == sorted(scores, reverse=True)
    if name in ('margin', 'least_confidence'):
        assert max(scores) <= 1
    if name == 'bald':  # the digits ResNet has no dropout: head-input dropout
        assert max(scores) > 0
