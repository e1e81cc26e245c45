"""Bad active learning input fails clearly before training, and loses nothing."""
import json
import os
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmal.testing.al_runs import al_train, read_state, run_tool, write_config
from mmal.testing.human_labels import hash_tree
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
    # --cfg-options train_cfg.query_size=2.5 or =abc: a float or a string.
    ({'train_cfg.query_size': 2.5}, r'query_size=2.5 must be whole numbers, e.g. '
     '--cfg-options train_cfg.query_size=10'),
    ({'train_cfg.query_size': 'abc'}, "query_size='abc' must be whole numbers"),
    ({'train_cfg.cycles': '2', 'train_cfg.max_epochs': 1.0,
      'train_cfg.initial_size': None}, "cycles='2', max_epochs=1.0 must be whole"),
    ({'train_cfg.val_interval': True}, 'val_interval=True must be whole numbers'),
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


class CreatesFile:
    """Unpickling it creates ``path``: the payload of a malicious checkpoint."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, 'w')


def payload_checkpoint(path, marker):
    torch.save(dict(state_dict={}, meta={}, payload=CreatesFile(str(marker))),
               str(path))
    return str(path)


def check_refused(result, marker, checkpoint):
    assert result.returncode == 1, result.stderr[-3000:]
    assert not osp.exists(marker), 'the checkpoint ran its payload'
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f'error: {checkpoint} is not a checkpoint this run '
                            'wrote'), result.stderr[-3000:]
    assert f'--trust-checkpoint {checkpoint}' in error
    assert 'Traceback' not in result.stderr


def test_load_from_runs_no_code(finished_run, tmp_path):
    config, _ = finished_run
    marker = tmp_path / 'payload_ran'
    evil = payload_checkpoint(tmp_path / 'evil.pth', marker)
    result = al_train(config, str(tmp_path / 'work'), '--cfg-options',
                      f'load_from={evil}', check=False)
    check_refused(result, marker, evil)
    # Marked trusted, it is loaded as it is (and runs its code).
    al_train(config, str(tmp_path / 'trusted'), '--cfg-options', f'load_from={evil}',
             'train_cfg.max_epochs=0', '--trust-checkpoint', evil)
    assert osp.exists(marker)


def test_url_checkpoint_runs_no_code(finished_run, tmp_path):
    """A URL's file in torch.hub's cache (as after its download)."""
    config, _ = finished_run
    marker = tmp_path / 'payload_ran'
    os.makedirs(tmp_path / 'torch' / 'hub' / 'checkpoints')
    payload_checkpoint(tmp_path / 'torch' / 'hub' / 'checkpoints' / 'evil.pth',
                       marker)
    url = 'https://download.invalid/evil.pth'
    result = al_train(config, str(tmp_path / 'work'), '--cfg-options',
                      f'load_from={url}', check=False,
                      env=dict(TORCH_HOME=str(tmp_path / 'torch'), MMAL_OFFLINE='1'))
    check_refused(result, marker, url)


def copy_of_run(finished_run, tmp_path):
    work_dir = str(tmp_path / 'work')
    shutil.copytree(finished_run[1], work_dir)
    return work_dir


@pytest.mark.parametrize('where', ['named by the state', 'linked'])
def test_resume_trusts_only_the_runs_own_checkpoint(finished_run, tmp_path,
                                                    where):
    """The state names a checkpoint outside the work dir, or the run's
    cycle_0.pth is a link to one: it loads with weights_only=True."""
    config, _ = finished_run
    work_dir = copy_of_run(finished_run, tmp_path)
    marker = tmp_path / 'payload_ran'
    evil = payload_checkpoint(tmp_path / 'evil.pth', marker)
    if where == 'linked':
        os.remove(osp.join(work_dir, 'cycle_0.pth'))
        os.symlink(evil, osp.join(work_dir, 'cycle_0.pth'))
        named = osp.join(work_dir, 'cycle_0.pth')
    else:
        state = read_state(work_dir)
        state['history'][-1]['checkpoint'] = named = evil
        with open(osp.join(work_dir, 'al_state.json'), 'w') as f:
            json.dump(state, f)
    before = read_state(work_dir)
    result = al_train(config, work_dir, '--resume', '--cfg-options',
                      'train_cfg.cycles=2', check=False)
    check_refused(result, marker, named)
    assert read_state(work_dir) == before


def test_resume_needs_the_models_weights(finished_run, tmp_path):
    """A cycle checkpoint without this model's keys stops the run (it would
    go on from untrained weights)."""
    config, _ = finished_run
    work_dir = copy_of_run(finished_run, tmp_path)
    checkpoint = osp.join(work_dir, 'cycle_0.pth')
    torch.save(dict(state_dict={'unrelated.weight': torch.zeros(2)}), checkpoint)
    before = read_state(work_dir)
    result = al_train(config, work_dir, '--resume', '--cfg-options',
                      'train_cfg.cycles=2', check=False)
    assert result.returncode == 1, result.stderr[-3000:]
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f'error: {checkpoint} does not hold the weights of '
                            'this model'), result.stderr[-3000:]
    assert 'keys missing: backbone.' in error
    assert '1 key unexpected: unrelated.weight' in error
    assert read_state(work_dir) == before


def test_a_refused_run_keeps_the_config_copy(finished_run, tmp_path):
    """The work dir's copy of the config records the run that made the state."""
    config, _ = finished_run
    work_dir = copy_of_run(finished_run, tmp_path)
    copy = osp.join(work_dir, osp.basename(config))
    with open(copy) as f:
        made_the_state = f.read()
    result = al_train(config, work_dir, '--cfg-options', 'train_cfg.query_size=3',
                      check=False)
    assert result.returncode == 1 and 'pass --resume' in result.stderr
    with open(copy) as f:
        assert f.read() == made_the_state
    # An accepted run records its own options.
    al_train(config, work_dir, '--resume', '--cfg-options', 'train_cfg.cycles=2')
    with open(copy) as f:
        assert 'cycles=2' in f.read()


def _edit_state(edit):
    def make(work_dir, config, tmp_path):
        path = osp.join(work_dir, 'al_state.json')
        with open(path, 'rb') as f:
            content = f.read()
        with open(path, 'wb') as f:
            f.write(edit(content))
        return ['al_train.py', config, '--work-dir', work_dir, '--resume']
    return make


def _key_twice(content):
    state = json.loads(content)
    state['labeled'].append(state['labeled'][0])
    return json.dumps(state).encode()


def _checkpoint_a_number(content):
    state = json.loads(content)
    state['history'][0]['checkpoint'] = 5
    return json.dumps(state).encode()


def _work_dir_a_file(work_dir, config, tmp_path):
    path = tmp_path / 'a_file'
    path.write_text('not a folder')
    return ['al_train.py', config, '--work-dir', str(path)]


def _syntax_error(work_dir, config, tmp_path):
    path = tmp_path / 'broken.py'
    path.write_text(open(config).read() + '\nx = (\n')
    return ['al_train.py', str(path), '--work-dir', work_dir]


def _plot(edit):
    def make(work_dir, config, tmp_path):
        _edit_state(edit)(work_dir, config, tmp_path)
        return ['plot_al_curve.py', work_dir, '--out', str(tmp_path / 'c.png')]
    return make


# Bad input to al_train.py and plot_al_curve.py: (make(work_dir, config,
# tmp_path) -> the tool and its arguments, what the error must say). The
# al_import.py cases are test_label_import.py's WRONG_SHAPES.
CLEAR_ERRORS = {
    'binary garbage state': (_edit_state(lambda c: bytes(range(256)) * 4),
                             'al_state.json is corrupted ('),
    'a key listed twice': (_edit_state(_key_twice),
                           'al_state.json lists samples as labeled twice'),
    'a checkpoint name that is a number': (
        _edit_state(_checkpoint_a_number), 'al_state.json is corrupted (TypeError'),
    'work dir a regular file': (_work_dir_a_file, 'a_file is a file, not a folder'),
    'config syntax error': (_syntax_error, "broken.py, line "),
    'plot a truncated state': (_plot(lambda c: c[:100]),
                               'al_state.json is not a complete al_state.json'),
    'plot binary garbage': (_plot(lambda c: b'\xff\xfe' * 64),
                            'al_state.json is not a complete al_state.json'),
}


@pytest.mark.parametrize('case', sorted(CLEAR_ERRORS))
def test_clear_error_changes_nothing(case, finished_run, tmp_path):
    config, _ = finished_run
    work_dir = copy_of_run(finished_run, tmp_path)
    make, message = CLEAR_ERRORS[case]
    tool, *args = make(work_dir, config, tmp_path)
    kept = [osp.join(work_dir, name)
            for name in ('al_state.json', 'cycle_0.pth', osp.basename(config))]
    before = hash_tree(*kept)
    result = run_tool(tool, *args, check=False)
    assert result.returncode != 0
    assert 'Traceback' not in result.stderr, result.stderr[-3000:]
    error = result.stderr.strip().splitlines()[-1]
    assert 'error: ' in error and message in error, result.stderr[-3000:]
    if 'state' in case or 'key' in case or 'checkpoint' in case:
        assert 'move ' in error and ' away' in error  # the fix
    assert hash_tree(*kept) == before
