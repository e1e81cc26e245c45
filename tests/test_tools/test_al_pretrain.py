"""tools/al_pretrain.py: SimCLR trained ahead is the model the run would have
trained itself, and the run reuses it; a feature source that trains nothing
is refused with the fix."""
import json
import os
import os.path as osp

from mmal.testing.al_runs import read_state, run_tool
from mmal.testing.tiny_runs import run, tiny_config

SSL = dict(type='SelfSupervisedFeatures', epochs=1, batch_size=32)


def cold_config(work_dir, **train_cfg):
    return tiny_config(work_dir, cycles=1, initial_features=dict(SSL),
                       initial_strategy=dict(type='TypiClustStrategy'), **train_cfg)


def initial_keys(work_dir):
    return [q['key'] for q in read_state(work_dir)['initial_query']['queried']]


def test_pretrained_ahead_is_what_the_run_trains(tmp_path):
    ahead = cold_config(str(tmp_path / 'ahead'))
    config = str(tmp_path / 'cold.py')
    ahead.dump(config)
    result = run_tool('al_pretrain.py', config, '--work-dir', ahead.work_dir)
    checkpoint = osp.join(ahead.work_dir, 'self_supervised', 'simclr.pth')
    assert f'{checkpoint} ready' in result.stdout
    with open(osp.join(ahead.work_dir, 'self_supervised', 'simclr.json')) as f:
        record = json.load(f)
    assert record['settings']['seed'] == 3
    assert not osp.exists(osp.join(ahead.work_dir, 'al_state.json'))
    written = os.stat(checkpoint).st_mtime_ns
    run(ahead)
    # The run read the cache instead of training again ...
    assert os.stat(checkpoint).st_mtime_ns == written
    # ... and chose the set of a run that trained SimCLR itself.
    itself = cold_config(str(tmp_path / 'itself'))
    run(itself)
    assert initial_keys(ahead.work_dir) == initial_keys(itself.work_dir)
    assert len(initial_keys(itself.work_dir)) == 20


def test_a_source_that_trains_nothing_is_refused(tmp_path):
    cfg = tiny_config(str(tmp_path / 'work'), cycles=1,
                      initial_features=dict(type='TargetBackboneFeatures'))
    config = str(tmp_path / 'backbone.py')
    cfg.dump(config)
    result = run_tool('al_pretrain.py', config, '--work-dir', cfg.work_dir,
                      check=False)
    assert result.returncode == 1
    assert "initial_features=dict(type='SelfSupervisedFeatures')" in result.stderr
    assert 'Traceback' not in result.stderr
