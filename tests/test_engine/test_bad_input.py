"""Bad active learning input fails clearly before training, and loses nothing."""
import json
import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmal.testing.al_runs import al_train, read_state, write_config
from mmal.testing.cifar_format import write_cifar10
from test_active_learning_loop import SMALL


@pytest.fixture(scope='module')
def cifar_root(tmp_path_factory):
    return write_cifar10(str(tmp_path_factory.mktemp('cifar')), 40, 10)


def build_runner(tmp_path, root, base='resnet18_cifar10_lloss.py', options=None,
                 work_dir=None):
    path = write_config(str(tmp_path / 'cfg.py'), base,
                        SMALL.format(root=root, cycles=2))
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(options or {})
    cfg.work_dir = work_dir or str(tmp_path / 'work')
    return Runner.from_cfg(cfg)


@pytest.mark.parametrize('options, message', [
    ({'train_cfg.initial_size': 41}, 'initial_size=41 is larger than the pool '
     r'\(40 samples\)'),
    ({'train_cfg.query_size': 50, 'train_cfg.subset_size': 50},
     r'query_size=50 is larger than the pool \(40 samples\)'),
    ({'train_cfg.subset_size': 4}, 'subset_size=4 is smaller than query_size=8'),
    ({'train_cfg.cycles': 5}, r'5 cycles label .* = 48 samples, more than the pool'),
])
def test_bad_budgets(tmp_path, cifar_root, options, message):
    runner = build_runner(tmp_path, cifar_root, options=options)
    with pytest.raises(ValueError, match=message):
        runner.train()
    # Failed before training: nothing trained, nothing saved.
    assert not [f for f in os.listdir(runner.work_dir) if f.endswith(('.pth',
                                                                      '.json'))]


def test_learning_loss_strategy_on_a_plain_model(tmp_path, cifar_root):
    runner = build_runner(
        tmp_path, cifar_root, base='resnet18_cifar10_random.py',
        options={'train_cfg.strategy': dict(type='LearningLossStrategy')})
    with pytest.raises(TypeError, match='needs a loss prediction module'):
        runner.train()


def test_missing_data_root_names_the_fix(tmp_path, cifar_root):
    config = write_config(str(tmp_path / 'cfg.py'), 'resnet18_cifar10_lloss.py',
                          SMALL.format(root=str(tmp_path / 'nowhere'), cycles=2))
    result = al_train(config, str(tmp_path / 'work'), check=False)
    assert result.returncode != 0
    assert 'Dataset folders not found' in result.stderr
    assert 'nowhere' in result.stderr and '--cfg-options' in result.stderr


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory, cifar_root):
    """A finished one-cycle run whose state the tests below try to misuse."""
    tmp = tmp_path_factory.mktemp('finished')
    config = write_config(str(tmp / 'cfg.py'), 'resnet18_cifar10_random.py',
                          SMALL.format(root=cifar_root, cycles=1))
    work_dir = str(tmp / 'work')
    al_train(config, work_dir)
    return config, work_dir


def test_existing_state_needs_resume(finished_run, tmp_path):
    config, work_dir = finished_run
    before = read_state(work_dir)
    result = al_train(config, work_dir, check=False)
    assert result.returncode != 0 and 'pass --resume' in result.stderr
    assert read_state(work_dir) == before


def test_state_from_another_dataset(finished_run, tmp_path):
    _, work_dir = finished_run
    before = read_state(work_dir)
    other_root = write_cifar10(str(tmp_path / 'other'), 44, 10, seed=1)
    other = write_config(str(tmp_path / 'other.py'), 'resnet18_cifar10_random.py',
                         SMALL.format(root=other_root, cycles=2))
    result = al_train(other, work_dir, '--resume', check=False)
    assert result.returncode != 0
    assert 'belongs to another dataset' in result.stderr
    assert read_state(work_dir) == before


def test_corrupted_state(finished_run, tmp_path):
    config, work_dir = finished_run
    path = osp.join(work_dir, 'al_state.json')
    copy_dir = str(tmp_path / 'work')
    os.makedirs(copy_dir)
    with open(path) as f:
        truncated = f.read()[:200]
    with open(osp.join(copy_dir, 'al_state.json'), 'w') as f:
        f.write(truncated)
    result = al_train(config, copy_dir, '--resume', check=False)
    assert result.returncode != 0 and 'is corrupted' in result.stderr
    with open(osp.join(copy_dir, 'al_state.json')) as f:
        assert f.read() == truncated
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated)
