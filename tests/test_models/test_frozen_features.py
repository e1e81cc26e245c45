"""Frozen-feature loss prediction (``detach_epoch=0``): the target trains exactly as
the plain model of the random baseline does, so only the selection differs."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmal.testing.al_runs import REPO

# One short cycle on the digits: 48 labeled, 3 steps of 16 per epoch, 2 epochs.
ONE_CYCLE = dict(cycles=1, initial_size=48, query_size=8, subset_size=16,
                 max_epochs=2)


def train_one_cycle(tmp_path, config, name, **model):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', config))
    cfg.merge_from_dict({f'train_cfg.{k}': v for k, v in ONE_CYCLE.items()})
    cfg.merge_from_dict({f'model.{k}': v for k, v in model.items()})
    cfg.merge_from_dict({'train_dataloader.batch_size': 16, 'randomness.seed': 3})
    cfg.work_dir = str(tmp_path / name)
    cfg.experiment_name = f'frozen_{name}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    return (model.target if hasattr(model, 'target') else model).state_dict()


def changed(a, b):
    assert a.keys() == b.keys()
    return [key for key in a if not torch.equal(a[key], b[key])]


def test_detached_from_epoch_0_trains_the_target_as_the_plain_model(tmp_path):
    plain = train_one_cycle(tmp_path, 'resnet18_digits_random.py', 'plain')
    frozen = train_one_cycle(tmp_path, 'resnet18_digits_lloss.py', 'frozen',
                             detach_epoch=0)
    assert changed(plain, frozen) == []  # every weight and BatchNorm statistic
    # The check can fail: with the gradient flowing (the paper's recipe before
    # detach_epoch) the ranking loss moves the backbone.
    attached = train_one_cycle(tmp_path, 'resnet18_digits_lloss.py', 'attached',
                               detach_epoch=None)
    moved = changed(plain, attached)
    assert any(key.startswith('backbone.') and key.endswith('.weight')
               for key in moved)
