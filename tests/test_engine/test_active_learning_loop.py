"""The active learning loop end to end through tools/al_train.py, on CIFAR-10
batch files generated here and read by mmpretrain's CIFAR10."""
import os.path as osp
import pickle

import pytest

from mmal.testing.al_runs import al_train, read_state, write_config
from mmal.testing.cifar_format import write_cifar10

NUM_TRAIN, NUM_TEST = 48, 16
SMALL = """
custom_imports = dict(imports=['mmal', 'mmal.testing.cifar_format'], allow_failed_imports=False)
train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False,
                        dataset=dict(type='UncheckedCIFAR10', data_root='{root}'))
val_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False,
                      dataset=dict(type='UncheckedCIFAR10', data_root='{root}'))
test_dataloader = val_dataloader
train_cfg = dict(cycles={cycles}, initial_size=16, query_size=8, subset_size=20,
                 max_epochs=1)
randomness = dict(seed=7)
"""


@pytest.fixture(scope='module')
def cifar_root(tmp_path_factory):
    return write_cifar10(str(tmp_path_factory.mktemp('cifar')), NUM_TRAIN, NUM_TEST)


def small_config(tmp_path, root, base, cycles=2, extra=''):
    return write_config(str(tmp_path / f'{osp.splitext(base)[0]}_small.py'), base,
                        SMALL.format(root=root, cycles=cycles) + extra)


def train_keys(root):
    """sample_idx keys of the training batches, read independently of mmal."""
    folder = osp.join(root, 'cifar-10-batches-py')
    count = 0
    for part in range(1, 6):
        with open(osp.join(folder, f'data_batch_{part}'), 'rb') as f:
            count += len(pickle.load(f)['labels'])
    return {str(i) for i in range(count)}


@pytest.mark.parametrize('base', [
    'resnet18_cifar10_lloss.py', 'resnet18_cifar10_random.py',
    'resnet18_cifar10_entropy.py', 'resnet18_cifar10_coreset.py'
])
def test_two_cycles_per_strategy(tmp_path, cifar_root, base):
    work_dir = str(tmp_path / 'work')
    al_train(small_config(tmp_path, cifar_root, base), work_dir)
    state = read_state(work_dir)
    history = state['history']
    assert [r['num_labeled'] for r in history] == [16, 24]
    # The last cycle's model has not queried: a longer run would do it first.
    assert len(history[0]['queried']) == 8 and history[1]['queried'] is None
    keys = [item['key'] for item in state['labeled']]
    assert len(keys) == 24 and len(set(keys)) == 24
    assert set(keys) <= train_keys(cifar_root)
    queried = [q['key'] for q in history[0]['queried']]
    assert keys[16:] == queried and not set(queried) & set(keys[:16])
    for record in history:
        assert 0 <= record['metrics']['accuracy/top1'] <= 100
        assert osp.isfile(osp.join(work_dir, record['checkpoint']))
    if 'random' not in base:
        assert all(q['score'] is not None for q in history[0]['queried'])
    assert osp.getsize(osp.join(work_dir, 'al_curve.png')) > 1000


INTERRUPT = """
custom_imports = dict(imports=['mmal', 'mmal.testing.cifar_format', 'mmal.testing.interrupt_hook'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='LossPredictionDetachHook'),
                dict(type='InterruptAtCycleHook', cycle=1)]
"""


def test_resume_after_a_kill_gives_the_uninterrupted_labels(tmp_path, cifar_root):
    uninterrupted = str(tmp_path / 'uninterrupted')
    config = small_config(tmp_path, cifar_root, 'resnet18_cifar10_lloss.py',
                          cycles=2)
    al_train(config, uninterrupted)

    interrupted = str(tmp_path / 'interrupted')
    killing = write_config(str(tmp_path / 'killing.py'), config, INTERRUPT)
    result = al_train(killing, interrupted, check=False)
    assert result.returncode != 0 and 'simulated kill' in result.stderr
    assert len(read_state(interrupted)['history']) == 1

    al_train(config, interrupted, '--resume')
    expected, resumed = read_state(uninterrupted), read_state(interrupted)
    # Cycle 1 ran after the resume: same query, same training.
    assert len(resumed['history']) == 2
    assert resumed['labeled'] == expected['labeled']
    assert resumed['history'] == expected['history']
