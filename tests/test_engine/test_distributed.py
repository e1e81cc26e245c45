"""Distributed active learning on CPU (gloo) through the toolbox-style launcher."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest

from mmal.testing.al_runs import REPO, al_train, read_state

DEMO = osp.join(REPO, 'configs', 'demo', 'resnet18_digits_lloss.py')
SHORT = ['train_cfg.cycles=2', 'train_cfg.initial_size=40',
         'train_cfg.query_size=20', 'train_cfg.subset_size=100',
         'train_cfg.max_epochs=1', 'train_dataloader.batch_size=16']


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def dist_al_train(config, work_dir, *args, gpus=2):
    """``tools/dist_al_train.sh CONFIG 2 ...`` as a user runs it."""
    env = dict(os.environ, PORT=str(free_port()), PYTHON=sys.executable,
               OMP_NUM_THREADS='1',
               PYTHONPATH=REPO)
    result = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'dist_al_train.sh'), config, str(gpus),
         '--work-dir', work_dir, *args],
        capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        raise AssertionError(f'dist_al_train.sh failed:\n{result.stdout[-3000:]}'
                             f'\n{result.stderr[-5000:]}')
    return result


@pytest.fixture(scope='module')
def two_process_run(tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('dist') / 'work')
    dist_al_train(DEMO, work_dir, '--cfg-options', *SHORT)
    return work_dir


def test_two_process_demo(two_process_run):
    work_dir = two_process_run
    states = [f for f in os.listdir(work_dir) if f.endswith('.json')]
    assert states == ['al_state.json']
    state = read_state(work_dir)
    assert [r['num_labeled'] for r in state['history']] == [40, 60]
    keys = [item['key'] for item in state['labeled']]
    assert len(keys) == 60 and len(set(keys)) == 60
    assert 'accuracy/top1' in state['history'][1]['metrics']


@pytest.mark.parametrize('strategy', ['LearningLossStrategy', 'RandomStrategy',
                                      'CoreSetStrategy'])
def test_selection_does_not_depend_on_world_size(two_process_run, tmp_path,
                                                 strategy):
    # Score and select from a fixed checkpoint (no training): 1 vs 2 processes.
    options = ['--cfg-options', *SHORT, 'train_cfg.max_epochs=0',
               f'train_cfg.strategy.type={strategy}',
               f'load_from={osp.join(two_process_run, "cycle_1.pth")}']
    one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
    al_train(DEMO, one, *options)
    dist_al_train(DEMO, two, *options)
    first, second = read_state(one), read_state(two)
    queried = [[q['key'] for q in s['history'][0]['queried']]
               for s in (first, second)]
    assert len(queried[0]) == 20
    assert queried[0] == queried[1]
    assert first['labeled'] == second['labeled']
